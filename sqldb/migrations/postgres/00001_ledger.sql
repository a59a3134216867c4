-- +goose Up
-- Timestamps are Unix microseconds (UTC) in both dialects.
CREATE TABLE currencies (
    code     TEXT PRIMARY KEY CHECK (length(code) = 3),
    exponent INTEGER NOT NULL CHECK (exponent BETWEEN 0 AND 4)
);

CREATE TABLE accounts (
    id         BIGINT PRIMARY KEY,
    code       TEXT UNIQUE,
    owner      TEXT NOT NULL DEFAULT '',
    currency   TEXT NOT NULL REFERENCES currencies(code),
    kind       TEXT NOT NULL,
    flags      INTEGER NOT NULL DEFAULT 0,
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX accounts_owner ON accounts(owner, id);

CREATE TABLE balances (
    account_id      BIGINT PRIMARY KEY REFERENCES accounts(id),
    posted_debits   BIGINT NOT NULL DEFAULT 0,
    posted_credits  BIGINT NOT NULL DEFAULT 0,
    pending_debits  BIGINT NOT NULL DEFAULT 0,
    pending_credits BIGINT NOT NULL DEFAULT 0,
    version         BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE journal_entries (
    id           BIGINT PRIMARY KEY,
    reference    TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    phase        TEXT NOT NULL CHECK (phase IN ('posted','pending','post','void','expire')),
    pending_id   BIGINT REFERENCES journal_entries(id),
    reverses_id  BIGINT REFERENCES journal_entries(id),
    expires_at   BIGINT,
    content_hash BYTEA NOT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}',
    effective_at BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX journal_entries_resolution ON journal_entries(pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX journal_entries_reverses ON journal_entries(reverses_id) WHERE reverses_id IS NOT NULL;
CREATE INDEX journal_entries_expiring ON journal_entries(expires_at, id) WHERE phase = 'pending' AND expires_at IS NOT NULL;

CREATE TABLE postings (
    entry_id       BIGINT NOT NULL REFERENCES journal_entries(id),
    seq            INTEGER NOT NULL,
    debit_account  BIGINT NOT NULL REFERENCES accounts(id),
    credit_account BIGINT NOT NULL REFERENCES accounts(id),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    PRIMARY KEY (entry_id, seq)
);
CREATE INDEX postings_debit ON postings(debit_account, entry_id);
CREATE INDEX postings_credit ON postings(credit_account, entry_id);

-- +goose StatementBegin
CREATE FUNCTION okpay_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION okpay_append_only();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION okpay_append_only();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION okpay_append_only();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION okpay_append_only();

CREATE TABLE idempotency_keys (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status       INTEGER NOT NULL,
    response     BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (key, principal)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

CREATE TABLE api_keys (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE idempotency_keys;
DROP TABLE postings;
DROP TABLE journal_entries;
DROP FUNCTION okpay_append_only();
DROP TABLE balances;
DROP TABLE accounts;
DROP TABLE currencies;
