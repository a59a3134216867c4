-- +goose Up
-- Issue 4 gaps (SECURITY.md CRD-04, CRD-10). Timestamps are Unix
-- microseconds (UTC); 0 means "not yet".

-- CRD-04 fallback: when the issuer does not support a zero-amount
-- authorisation, the card is verified by a 1-unit authorisation that is
-- voided at once. The sandbox marks such authorisation-only charges and
-- when they were voided (never captured).
ALTER TABLE psp_sandbox_charges ADD COLUMN auth_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE psp_sandbox_charges ADD COLUMN voided_at BIGINT NOT NULL DEFAULT 0;
-- OKPay's side: the reference of the fallback authorisation ('' when the
-- zero-amount authorisation was used) and when it was voided.
ALTER TABLE payment_methods ADD COLUMN auth_fallback TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_methods ADD COLUMN auth_voided_at BIGINT NOT NULL DEFAULT 0;

-- CRD-10 payee-name check of a bank account when it was added: the
-- rail's answer ('' not asked, 'match', 'close_match', 'no_match',
-- 'unavailable'), the name the bank holds (close match only) and whether
-- the customer confirmed a mismatch.
ALTER TABLE payment_bank_accounts ADD COLUMN name_check TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_bank_accounts ADD COLUMN name_check_held TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_bank_accounts ADD COLUMN name_check_ack INTEGER NOT NULL DEFAULT 0;

-- The sandbox's payout rails reported down (switched on its page): a
-- destination kind and currency ('*' for every currency).
CREATE TABLE psp_sandbox_rails_down (
    kind       TEXT NOT NULL,
    currency   TEXT NOT NULL,
    since      BIGINT NOT NULL,
    PRIMARY KEY (kind, currency)
);

-- CRD-10 e-wallet payout accounts linked by the provider's OAuth
-- (authorisation code with state and PKCE). OKPay's side: one row per
-- link started; state_hash is SHA-256 of the state, binding_hash of the
-- session it is bound to; the PKCE verifier is sealed. Used once.
CREATE TABLE payment_method_links (
    state_hash      TEXT PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id),
    binding_hash    TEXT NOT NULL,
    provider        TEXT NOT NULL,
    verifier_sealed BYTEA NOT NULL,
    redirect_uri    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX payment_method_links_user ON payment_method_links(user_id, created_at);
-- How an e-wallet was linked: 'code' (a code its provider showed) or
-- 'oauth' (the provider's authorisation page).
ALTER TABLE payment_ewallets ADD COLUMN linked_by TEXT NOT NULL DEFAULT 'code';

-- The sandbox as an e-wallet provider's authorisation server: its
-- authorisation codes (single use, 5 minutes), bound to the PKCE
-- challenge and the redirect URI.
CREATE TABLE psp_sandbox_oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    account        TEXT NOT NULL,
    challenge      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE psp_sandbox_oauth_codes;
ALTER TABLE payment_ewallets DROP COLUMN linked_by;
DROP TABLE payment_method_links;
DROP TABLE psp_sandbox_rails_down;
ALTER TABLE payment_bank_accounts DROP COLUMN name_check_ack;
ALTER TABLE payment_bank_accounts DROP COLUMN name_check_held;
ALTER TABLE payment_bank_accounts DROP COLUMN name_check;
ALTER TABLE payment_methods DROP COLUMN auth_voided_at;
ALTER TABLE payment_methods DROP COLUMN auth_fallback;
ALTER TABLE psp_sandbox_charges DROP COLUMN voided_at;
ALTER TABLE psp_sandbox_charges DROP COLUMN auth_only;
