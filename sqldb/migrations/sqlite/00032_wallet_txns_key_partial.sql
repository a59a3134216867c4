-- +goose Up
-- Only the transactions a customer starts under an Idempotency-Key carry
-- one; the other half of a transfer or a remittance (the payee's) has
-- none. The unique index on (user, key) now holds the keyed rows alone:
-- every P2P transfer wrote an entry for its key-less incoming half into
-- it, at a random place (the user), which cost its batch a page. It is
-- still what recognises a retried transfer for good (wallet/transfer.go).
-- SQLite cannot drop a table's UNIQUE constraint: the table is rebuilt
-- (nothing refers to it), with its indexes.
CREATE TABLE wallet_txns_new (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('deposit','transfer_out','transfer_in','exchange','remittance','withdrawal')),
    status          TEXT NOT NULL CHECK (status IN ('draft','awaiting_auth','authorized','pending_review','approved','executing','completed','failed','rejected','reversed')),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    fee             INTEGER NOT NULL DEFAULT 0 CHECK (fee >= 0),
    fee_rule        TEXT NOT NULL DEFAULT '',
    other_currency  TEXT NOT NULL DEFAULT '',
    other_amount    INTEGER NOT NULL DEFAULT 0,
    rate            TEXT NOT NULL DEFAULT '',
    counterparty_id INTEGER NOT NULL DEFAULT 0,
    counterparty    TEXT NOT NULL DEFAULT '',
    related_id      INTEGER NOT NULL DEFAULT 0,
    method_id       INTEGER NOT NULL DEFAULT 0,
    note            TEXT NOT NULL DEFAULT '',
    idem_key        TEXT,
    entry_id        INTEGER NOT NULL DEFAULT 0,
    settle_entry_id INTEGER NOT NULL DEFAULT 0,
    provider_ref    TEXT NOT NULL DEFAULT '',
    action_url      TEXT NOT NULL DEFAULT '',
    auth_method     TEXT NOT NULL DEFAULT '',
    auth_attempts   INTEGER NOT NULL DEFAULT 0,
    codes_sent      INTEGER NOT NULL DEFAULT 0,
    new_payee       INTEGER NOT NULL DEFAULT 0,
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_reason  TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO wallet_txns_new SELECT * FROM wallet_txns;
DROP TABLE wallet_txns;
ALTER TABLE wallet_txns_new RENAME TO wallet_txns;
CREATE UNIQUE INDEX wallet_txns_key ON wallet_txns(user_id, idem_key) WHERE idem_key IS NOT NULL;
-- History, newest first (keyset pagination on id).
CREATE INDEX wallet_txns_user ON wallet_txns(user_id, id);
-- Transfers waiting for their code, for the sweeper.
CREATE INDEX wallet_txns_awaiting ON wallet_txns(expires_at) WHERE status = 'awaiting_auth';

-- +goose Down
CREATE TABLE wallet_txns_old (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('deposit','transfer_out','transfer_in','exchange','remittance','withdrawal')),
    status          TEXT NOT NULL CHECK (status IN ('draft','awaiting_auth','authorized','pending_review','approved','executing','completed','failed','rejected','reversed')),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    fee             INTEGER NOT NULL DEFAULT 0 CHECK (fee >= 0),
    fee_rule        TEXT NOT NULL DEFAULT '',
    other_currency  TEXT NOT NULL DEFAULT '',
    other_amount    INTEGER NOT NULL DEFAULT 0,
    rate            TEXT NOT NULL DEFAULT '',
    counterparty_id INTEGER NOT NULL DEFAULT 0,
    counterparty    TEXT NOT NULL DEFAULT '',
    related_id      INTEGER NOT NULL DEFAULT 0,
    method_id       INTEGER NOT NULL DEFAULT 0,
    note            TEXT NOT NULL DEFAULT '',
    idem_key        TEXT,
    entry_id        INTEGER NOT NULL DEFAULT 0,
    settle_entry_id INTEGER NOT NULL DEFAULT 0,
    provider_ref    TEXT NOT NULL DEFAULT '',
    action_url      TEXT NOT NULL DEFAULT '',
    auth_method     TEXT NOT NULL DEFAULT '',
    auth_attempts   INTEGER NOT NULL DEFAULT 0,
    codes_sent      INTEGER NOT NULL DEFAULT 0,
    new_payee       INTEGER NOT NULL DEFAULT 0,
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_reason  TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, idem_key)
);
INSERT INTO wallet_txns_old SELECT * FROM wallet_txns;
DROP TABLE wallet_txns;
ALTER TABLE wallet_txns_old RENAME TO wallet_txns;
CREATE INDEX wallet_txns_user ON wallet_txns(user_id, id);
CREATE INDEX wallet_txns_awaiting ON wallet_txns(expires_at) WHERE status = 'awaiting_auth';
