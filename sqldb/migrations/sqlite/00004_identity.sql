-- +goose Up
-- Customer identity: accounts, sessions, second factors, one-time codes,
-- recovery flows, throttling counters and freeze links. Timestamps are Unix
-- microseconds (UTC); 0 means "never" where a column is NOT NULL. Secrets are
-- never stored in clear: passwords and recovery codes as argon2id, session
-- and link tokens as SHA-256, one-time codes as keyed HMACs, the TOTP secret
-- sealed with AES-GCM.
CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    phone             TEXT NOT NULL UNIQUE,
    email_verified_at INTEGER NOT NULL DEFAULT 0,
    phone_verified_at INTEGER NOT NULL DEFAULT 0,
    password_hash     TEXT NOT NULL,
    lang              TEXT NOT NULL DEFAULT 'en',
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','frozen')),
    frozen_at         INTEGER NOT NULL DEFAULT 0,
    frozen_reason     TEXT NOT NULL DEFAULT '',
    hold_until        INTEGER NOT NULL DEFAULT 0,
    hold_reason       TEXT NOT NULL DEFAULT '',
    compromised       INTEGER NOT NULL DEFAULT 0,
    failed_count      INTEGER NOT NULL DEFAULT 0,
    failed_since      INTEGER NOT NULL DEFAULT 0,
    locked_until      INTEGER NOT NULL DEFAULT 0,
    lock_count        INTEGER NOT NULL DEFAULT 0,
    last_locked_at    INTEGER NOT NULL DEFAULT 0,
    totp_secret       BLOB,
    totp_pending      BLOB,
    totp_last_step    INTEGER NOT NULL DEFAULT 0,
    totp_enabled_at   INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    aal           INTEGER NOT NULL,
    device_id     TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    mfa_at        INTEGER NOT NULL DEFAULT 0,
    mfa_failed    INTEGER NOT NULL DEFAULT 0,
    revoked_at    INTEGER NOT NULL DEFAULT 0,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id, id);

-- Sign-up and password-reset flows, addressed by a bearer token the
-- client keeps (stored hashed). user_id 0 is a decoy flow that can never
-- complete (registration with an identifier that is taken, LOG-10).
CREATE TABLE auth_flows (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('signup','reset')),
    user_id      INTEGER NOT NULL DEFAULT 0,
    channel      TEXT NOT NULL DEFAULT '',
    code_ok_at   INTEGER NOT NULL DEFAULT 0,
    factor_ok_at INTEGER NOT NULL DEFAULT 0,
    ip           TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    done_at      INTEGER NOT NULL DEFAULT 0
);

-- One-time codes sent by SMS or email, bound to their owner (a session or
-- a flow) and purpose; mac = HMAC(key, owner ‖ code).
CREATE TABLE otp_codes (
    id          INTEGER PRIMARY KEY,
    owner       TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    purpose     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    ip          TEXT NOT NULL DEFAULT '',
    mac         BLOB NOT NULL,
    key_id      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX otp_codes_owner ON otp_codes(owner, purpose, id);
CREATE INDEX otp_codes_user ON otp_codes(user_id, created_at);
CREATE INDEX otp_codes_destination ON otp_codes(destination, created_at);
CREATE INDEX otp_codes_ip ON otp_codes(ip, created_at);

CREATE TABLE recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    idx        TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, idx)
);

CREATE TABLE devices (
    user_id       INTEGER NOT NULL REFERENCES users(id),
    device_id     TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    user_agent    TEXT NOT NULL DEFAULT '',
    reverify      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id)
);

-- Fixed-window counters for rate limits (per IP, per identifier...).
CREATE TABLE rate_counters (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

CREATE TABLE freeze_links (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE freeze_links;
DROP TABLE rate_counters;
DROP TABLE devices;
DROP TABLE recovery_codes;
DROP TABLE otp_codes;
DROP TABLE auth_flows;
DROP TABLE sessions;
DROP TABLE users;
