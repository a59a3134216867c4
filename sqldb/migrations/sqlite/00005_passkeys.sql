-- +goose Up
-- WebAuthn passkeys (SECURITY.md MFA-08). Timestamps are Unix microseconds.
-- A passkey is removed by setting deleted_at; its credential id stays taken
-- so a removed credential cannot be registered again.
CREATE TABLE passkeys (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL,
    credential_id    BLOB NOT NULL UNIQUE,
    public_key       BLOB NOT NULL,
    aaguid           BLOB NOT NULL,
    sign_count       INTEGER NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports       TEXT NOT NULL DEFAULT '',
    backup_eligible  INTEGER NOT NULL DEFAULT 0 CHECK (backup_eligible IN (0, 1)),
    backup_state     INTEGER NOT NULL DEFAULT 0 CHECK (backup_state IN (0, 1)),
    user_verified    INTEGER NOT NULL DEFAULT 0 CHECK (user_verified IN (0, 1)),
    attestation_type TEXT NOT NULL DEFAULT '',
    label            TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER,
    deleted_at       INTEGER
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- One WebAuthn ceremony: the go-webauthn SessionData (challenge, RP ID,
-- allowed credentials...) between Begin and Finish. user_id is 0 for a
-- discoverable (passwordless) login. A flow is consumed once (used_at).
CREATE TABLE webauthn_flows (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    purpose      TEXT NOT NULL CHECK (purpose IN ('register', 'login')),
    session_data TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX webauthn_flows_expires ON webauthn_flows(expires_at);

-- +goose Down
DROP TABLE webauthn_flows;
DROP TABLE passkeys;
