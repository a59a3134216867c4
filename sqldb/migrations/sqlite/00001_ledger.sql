-- +goose Up
-- Timestamps are Unix microseconds (UTC) in both dialects.
CREATE TABLE currencies (
    code     TEXT PRIMARY KEY CHECK (length(code) = 3),
    exponent INTEGER NOT NULL CHECK (exponent BETWEEN 0 AND 4)
) WITHOUT ROWID;

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    code       TEXT UNIQUE,
    owner      TEXT NOT NULL DEFAULT '',
    currency   TEXT NOT NULL REFERENCES currencies(code),
    kind       TEXT NOT NULL,
    flags      INTEGER NOT NULL DEFAULT 0,
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX accounts_owner ON accounts(owner, id);

CREATE TABLE balances (
    account_id      INTEGER PRIMARY KEY REFERENCES accounts(id),
    posted_debits   INTEGER NOT NULL DEFAULT 0,
    posted_credits  INTEGER NOT NULL DEFAULT 0,
    pending_debits  INTEGER NOT NULL DEFAULT 0,
    pending_credits INTEGER NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL DEFAULT 0
);

-- phase: posted | pending | post (resolves pending_id by posting it) |
-- void (resolves pending_id by releasing it) | expire (void by timeout).
CREATE TABLE journal_entries (
    id           INTEGER PRIMARY KEY,
    reference    TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    phase        TEXT NOT NULL CHECK (phase IN ('posted','pending','post','void','expire')),
    pending_id   INTEGER REFERENCES journal_entries(id),
    reverses_id  INTEGER REFERENCES journal_entries(id),
    expires_at   INTEGER,
    content_hash BLOB NOT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}',
    effective_at INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
-- A pending entry is resolved at most once.
CREATE UNIQUE INDEX journal_entries_resolution ON journal_entries(pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX journal_entries_reverses ON journal_entries(reverses_id) WHERE reverses_id IS NOT NULL;
CREATE INDEX journal_entries_expiring ON journal_entries(expires_at, id) WHERE phase = 'pending' AND expires_at IS NOT NULL;

CREATE TABLE postings (
    entry_id       INTEGER NOT NULL REFERENCES journal_entries(id),
    seq            INTEGER NOT NULL,
    debit_account  INTEGER NOT NULL REFERENCES accounts(id),
    credit_account INTEGER NOT NULL REFERENCES accounts(id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    PRIMARY KEY (entry_id, seq)
) WITHOUT ROWID;
-- Per-account history. Indexing every posting by account at commit time
-- costs two random b-tree inserts per transfer; instead the ledger writer
-- copies new postings here in large sorted batches (entry ids above the
-- watermark are found by scanning the postings tail).
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

-- The journal is append-only: corrections are new entries.
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only'); END;
CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only'); END;
CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'postings is append-only'); END;
CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'postings is append-only'); END;

-- HTTP Idempotency-Key records, written in the same transaction as the
-- effect they describe (indexed by key first: a batch looks keys up with
-- "key IN (...)" across principals). Pruned after the retention period.
CREATE TABLE idempotency_keys (
    id           INTEGER PRIMARY KEY,
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    response     BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
-- A rowid table: the large response rows are appended in order, and only
-- this small index takes random inserts.
CREATE UNIQUE INDEX idempotency_keys_key ON idempotency_keys(key, principal);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- API keys for programs; only the SHA-256 of the secret is stored.
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- +goose Down
DROP TABLE history_watermark;
DROP TABLE account_history;
DROP TABLE api_keys;
DROP TABLE idempotency_keys;
DROP TABLE postings;
DROP TABLE journal_entries;
DROP TABLE balances;
DROP TABLE accounts;
DROP TABLE currencies;
