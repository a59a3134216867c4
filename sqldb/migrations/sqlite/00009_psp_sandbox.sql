-- +goose Up
-- The built-in sandbox payment provider (package psp/sandbox). These are the
-- provider's own records, as a real provider would keep them on its side:
-- OKPay's domain tables never read them. Card numbers and CVCs are never
-- stored: a token row keeps only the card's public facts, a keyed
-- fingerprint and the test behaviour derived from the number. Timestamps are
-- Unix microseconds (UTC); 0 means "not yet".
CREATE TABLE psp_sandbox_tokens (
    id          INTEGER PRIMARY KEY,
    token       TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    brand       TEXT NOT NULL,
    last4       TEXT NOT NULL,
    exp_month   INTEGER NOT NULL,
    exp_year    INTEGER NOT NULL,
    behaviour   TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX psp_sandbox_tokens_created ON psp_sandbox_tokens(created_at);

-- Charges and zero-amount verifications. outcome is what the charge
-- becomes when it settles (at settle_at, once status is 'pending').
CREATE TABLE psp_sandbox_charges (
    id              INTEGER PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,
    token           TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending','requires_action','succeeded','failed')),
    outcome         TEXT NOT NULL CHECK (outcome IN ('succeeded','failed')),
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT '',
    statement_code  TEXT NOT NULL DEFAULT '',
    return_url      TEXT NOT NULL DEFAULT '',
    settle_at       INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX psp_sandbox_charges_due ON psp_sandbox_charges(status, settle_at);

CREATE TABLE psp_sandbox_payouts (
    id              INTEGER PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,
    dest_kind       TEXT NOT NULL CHECK (dest_kind IN ('card','bank_account','ewallet')),
    dest_token      TEXT NOT NULL DEFAULT '',
    dest_iban       TEXT NOT NULL DEFAULT '',
    dest_holder     TEXT NOT NULL DEFAULT '',
    dest_provider   TEXT NOT NULL DEFAULT '',
    dest_account    TEXT NOT NULL DEFAULT '',
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending','succeeded','failed')),
    outcome         TEXT NOT NULL CHECK (outcome IN ('succeeded','failed')),
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT '',
    settle_at       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX psp_sandbox_payouts_due ON psp_sandbox_payouts(status, settle_at);

-- The two small amounts "sent" to a bank account, as the customer would
-- read them on a bank statement (shown on the sandbox page).
CREATE TABLE psp_sandbox_micro_deposits (
    id         INTEGER PRIMARY KEY,
    reference  TEXT NOT NULL UNIQUE,
    iban       TEXT NOT NULL,
    holder     TEXT NOT NULL DEFAULT '',
    currency   TEXT NOT NULL,
    amount_a   INTEGER NOT NULL,
    amount_b   INTEGER NOT NULL,
    failed     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Confirmation codes an e-wallet app would show its owner.
CREATE TABLE psp_sandbox_ewallet_codes (
    id         INTEGER PRIMARY KEY,
    reference  TEXT NOT NULL UNIQUE,
    provider   TEXT NOT NULL,
    account    TEXT NOT NULL,
    code       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The webhook outbox: every event, delivered at least once to the
-- configured URL with retries and backoff. body is the signed JSON.
CREATE TABLE psp_sandbox_events (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL,
    reference       TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','delivered','failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    locked_by       TEXT NOT NULL DEFAULT '',
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX psp_sandbox_events_due ON psp_sandbox_events(status, next_attempt_at, id);

-- +goose Down
DROP TABLE psp_sandbox_events;
DROP TABLE psp_sandbox_ewallet_codes;
DROP TABLE psp_sandbox_micro_deposits;
DROP TABLE psp_sandbox_payouts;
DROP TABLE psp_sandbox_charges;
DROP TABLE psp_sandbox_tokens;
