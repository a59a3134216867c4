-- +goose Up
-- Postings no longer declare foreign keys to their entry and accounts.
-- PostgreSQL checks each with a trigger that runs a locking query per row
-- (SELECT ... FOR KEY SHARE): about a quarter of the CPU of a transfer.
-- okpay bench ledger in-process at c=256, alternating: 15,450-15,913
-- transfers/s without them against 10,611-13,100/s with them (71.7-74.9
-- against 84.5-107.3 µs of CPU a transfer). The ledger's writer is the
-- only code that inserts postings: it writes each entry with its postings
-- in one statement (qWritePostgres), between accounts it has read, and
-- whose balances rows it has locked, in the same transaction. Entries are
-- append-only (triggers), and no account can be deleted while its balances
-- row, which every account has, refers to it. okpay ledger verify reports
-- any posting whose entry or account is missing. SQLite keeps its foreign
-- keys: there they cost nothing measurable.
ALTER TABLE postings
    DROP CONSTRAINT postings_entry_id_fkey,
    DROP CONSTRAINT postings_debit_account_fkey,
    DROP CONSTRAINT postings_credit_account_fkey;

-- +goose Down
ALTER TABLE postings
    ADD CONSTRAINT postings_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES journal_entries(id),
    ADD CONSTRAINT postings_debit_account_fkey FOREIGN KEY (debit_account) REFERENCES accounts(id),
    ADD CONSTRAINT postings_credit_account_fkey FOREIGN KEY (credit_account) REFERENCES accounts(id);
