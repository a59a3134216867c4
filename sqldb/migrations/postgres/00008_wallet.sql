-- +goose Up
-- The wallet (package wallet): customers' wallets (one ledger account per
-- user and currency), their transactions as they see them, limit and
-- velocity counters, known payees and the provider events applied.
-- Timestamps are Unix microseconds (UTC); 0 means "never". Amounts are
-- integer minor units of their currency (ISO 4217 exponent).

-- A wallet is a user_wallet account of the ledger; its id is the account's.
-- A hidden wallet is left off the home page while it holds nothing (see
-- Wallet.Shown).
CREATE TABLE wallets (
    account_id BIGINT PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    hidden     BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_id, currency)
);

-- One row per transaction per customer: a transfer makes two (transfer_out
-- for the payer, transfer_in for the payee, linked by related_id). status
-- follows the state machine of wallet.CanTransition (TXN-03). idem_key is
-- the client's idempotency key (NULL on rows made on someone else's
-- request); the same key twice is the same transaction. entry_id is the
-- ledger entry that moved the money (for a withdrawal, its pending hold)
-- and settle_entry_id the one that posted or voided a hold. failure_code
-- is a stable code, translated when shown; failure_reason the English text.
CREATE TABLE wallet_txns (
    id              BIGINT PRIMARY KEY,
    user_id         BIGINT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('deposit','transfer_out','transfer_in','exchange','remittance','withdrawal')),
    status          TEXT NOT NULL CHECK (status IN ('draft','awaiting_auth','authorized','pending_review','approved','executing','completed','failed','rejected','reversed')),
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    fee             BIGINT NOT NULL DEFAULT 0 CHECK (fee >= 0),
    fee_rule        TEXT NOT NULL DEFAULT '',
    other_currency  TEXT NOT NULL DEFAULT '',
    other_amount    BIGINT NOT NULL DEFAULT 0,
    rate            TEXT NOT NULL DEFAULT '',
    counterparty_id BIGINT NOT NULL DEFAULT 0,
    counterparty    TEXT NOT NULL DEFAULT '',
    related_id      BIGINT NOT NULL DEFAULT 0,
    method_id       BIGINT NOT NULL DEFAULT 0,
    note            TEXT NOT NULL DEFAULT '',
    idem_key        TEXT,
    entry_id        BIGINT NOT NULL DEFAULT 0,
    settle_entry_id BIGINT NOT NULL DEFAULT 0,
    provider_ref    TEXT NOT NULL DEFAULT '',
    action_url      TEXT NOT NULL DEFAULT '',
    auth_method     TEXT NOT NULL DEFAULT '',
    auth_attempts   BIGINT NOT NULL DEFAULT 0,
    codes_sent      BIGINT NOT NULL DEFAULT 0,
    new_payee       BIGINT NOT NULL DEFAULT 0,
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_reason  TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL DEFAULT 0,
    UNIQUE (user_id, idem_key)
);
-- History, newest first (keyset pagination on id).
CREATE INDEX wallet_txns_user ON wallet_txns(user_id, id);
-- Transfers waiting for their code, for the sweeper.
CREATE INDEX wallet_txns_awaiting ON wallet_txns(expires_at) WHERE status = 'awaiting_auth';

-- Per-user verification level and velocity counters (RSK-03), in fixed
-- windows: the counts belong to the window that starts at *_start.
CREATE TABLE wallet_limits (
    user_id         BIGINT PRIMARY KEY,
    level           BIGINT NOT NULL DEFAULT 0,
    hour_start      BIGINT NOT NULL DEFAULT 0,
    hour_count      BIGINT NOT NULL DEFAULT 0,
    day_start       BIGINT NOT NULL DEFAULT 0,
    day_count       BIGINT NOT NULL DEFAULT 0,
    day_new_payees  BIGINT NOT NULL DEFAULT 0,
    day_withdrawals BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL DEFAULT 0
);

-- Money sent out per user and currency, in the current day and month.
CREATE TABLE wallet_spend (
    user_id      BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    day_start    BIGINT NOT NULL,
    day_amount   BIGINT NOT NULL,
    month_start  BIGINT NOT NULL,
    month_amount BIGINT NOT NULL,
    PRIMARY KEY (user_id, currency)
);

-- Payees a user has paid at least once (a first payment to anyone else
-- needs a transaction code, TXN-01).
CREATE TABLE wallet_payees (
    user_id       BIGINT NOT NULL,
    payee_id      BIGINT NOT NULL,
    first_paid_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, payee_id)
);

-- Provider webhook events already handled, by id: a replay is ignored.
CREATE TABLE wallet_provider_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    reference   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- +goose Down
DROP TABLE wallet_provider_events;
DROP TABLE wallet_payees;
DROP TABLE wallet_spend;
DROP TABLE wallet_limits;
DROP TABLE wallet_txns;
DROP TABLE wallets;
