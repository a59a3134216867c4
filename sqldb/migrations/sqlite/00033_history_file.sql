-- +goose Up
-- The per-account history index leaves this file for one of its own
-- (okpay-history.db beside okpay.db; ledger/history.go), which its own
-- goroutine writes beside the ledger's commits instead of between them:
-- the ledger's writer spent a fifth of its time copying postings into it.
-- It is derived data, rebuilt from the postings; ledger_instance names
-- this database, so that a history file left from another one (a restored
-- copy, a new database in the same folder) is recognised and rebuilt.
DROP TABLE account_history;
DROP TABLE history_watermark;
CREATE TABLE ledger_instance (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token TEXT NOT NULL
);
INSERT INTO ledger_instance(id, token) VALUES (1, lower(hex(randomblob(16))));

-- +goose Down
DROP TABLE ledger_instance;
CREATE TABLE account_history (
    account_id INTEGER NOT NULL,
    entry_id   INTEGER NOT NULL,
    PRIMARY KEY (account_id, entry_id)
) WITHOUT ROWID;
CREATE TABLE history_watermark (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    entry_id INTEGER NOT NULL
);
INSERT INTO history_watermark(id, entry_id) VALUES (1, 0);
