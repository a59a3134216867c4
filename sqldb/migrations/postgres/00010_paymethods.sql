-- +goose Up
-- Payout and funding methods of customers: bank cards, bank accounts and
-- external e-wallets (package paymethod; SECURITY.md CRD-01..10, RSK-02).
-- Timestamps are Unix microseconds (UTC); 0 means "never".
--
-- OKPay never holds a card number, CVC or magnetic-stripe data: a card is
-- the provider's token and the card's public facts (CRD-02; a schema test
-- rejects any column named like a PAN, CVV/CVC, card number or track). A
-- bank account's IBAN and an e-wallet's account id are needed in full for
-- payouts only: they are sealed (AES-GCM, bound to the row) and cleared
-- when the method is deleted; everything shown is masked.
--
-- Each method carries its one verification: the provider's zero-amount
-- authorisation for a card (with an optional statement code, kept only as
-- a keyed HMAC), micro-deposits for a bank account, a confirmation code for
-- an e-wallet. The status only moves forward:
--   pending -> requires_action -> awaiting_code -> verified | failed | disabled
CREATE TABLE payment_methods (
    id              BIGINT PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id),
    kind            TEXT NOT NULL CHECK (kind IN ('card','bank_account','ewallet')),
    status          TEXT NOT NULL CHECK (status IN ('pending','requires_action','awaiting_code','verified','failed','disabled')),
    failure_code    TEXT NOT NULL DEFAULT '',
    -- fingerprint identifies the instrument whatever the account: the
    -- provider's card fingerprint, or a keyed HMAC of the IBAN or e-wallet
    -- account (duplicates, CRD-07; the mule rule, RSK-04).
    fingerprint     TEXT NOT NULL,
    -- shared is set when the fingerprint is also on another account.
    shared          INTEGER NOT NULL DEFAULT 0,
    is_default      INTEGER NOT NULL DEFAULT 0,
    label           TEXT NOT NULL,
    psp             TEXT NOT NULL,
    verify_kind     TEXT NOT NULL CHECK (verify_kind IN ('authorization','micro_deposits','ewallet_code')),
    reference       TEXT NOT NULL UNIQUE,
    psp_object_id   TEXT NOT NULL DEFAULT '',
    action_url      TEXT NOT NULL DEFAULT '',
    code_mac        BYTEA,
    code_key_id     TEXT NOT NULL DEFAULT '',
    code_attempts   INTEGER NOT NULL DEFAULT 0,
    event_at        BIGINT NOT NULL DEFAULT 0,
    verify_expires_at BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    verified_at     BIGINT NOT NULL DEFAULT 0,
    failed_at       BIGINT NOT NULL DEFAULT 0,
    hold_until      BIGINT NOT NULL,
    deleted_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX payment_methods_user ON payment_methods(user_id, created_at);
CREATE INDEX payment_methods_fingerprint ON payment_methods(fingerprint, user_id);
CREATE INDEX payment_methods_expiring ON payment_methods(verify_expires_at) WHERE status IN ('pending','requires_action','awaiting_code') AND verify_expires_at > 0;
-- One live method per instrument and account; a failed one may be added again.
CREATE UNIQUE INDEX payment_methods_live ON payment_methods(user_id, fingerprint) WHERE deleted_at = 0 AND status <> 'failed';
CREATE UNIQUE INDEX payment_methods_default ON payment_methods(user_id) WHERE is_default = 1;

-- A card: only the token and public facts (CRD-02).
CREATE TABLE payment_cards (
    method_id      BIGINT PRIMARY KEY REFERENCES payment_methods(id),
    psp_token      TEXT NOT NULL,
    brand          TEXT NOT NULL,
    last4          TEXT NOT NULL CHECK (length(last4) = 4),
    exp_month      INTEGER NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year       INTEGER NOT NULL,
    funding        TEXT NOT NULL DEFAULT '',
    issuer_country TEXT NOT NULL DEFAULT ''
);

CREATE TABLE payment_bank_accounts (
    method_id   BIGINT PRIMARY KEY REFERENCES payment_methods(id),
    country     TEXT NOT NULL,
    last4       TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    currency    TEXT NOT NULL,
    iban_sealed BYTEA
);

CREATE TABLE payment_ewallets (
    method_id      BIGINT PRIMARY KEY REFERENCES payment_methods(id),
    provider       TEXT NOT NULL,
    account_masked TEXT NOT NULL,
    account_sealed BYTEA
);

-- Provider webhook events already applied (CRD-09: idempotent by event id).
CREATE TABLE payment_method_events (
    event_id    TEXT PRIMARY KEY,
    reference   TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE payment_method_events;
DROP TABLE payment_ewallets;
DROP TABLE payment_bank_accounts;
DROP TABLE payment_cards;
DROP TABLE payment_methods;
