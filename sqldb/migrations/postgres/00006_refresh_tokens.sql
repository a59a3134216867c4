-- +goose Up
-- Refresh tokens of mobile clients (SECURITY.md SES-03). Timestamps are Unix
-- microseconds; 0 means "never". Only the SHA-256 of a token is stored.
--
-- A refresh token is bound to one session (session_id) and the device it
-- was issued to (device_id). Using it once ends that session and starts a
-- new one with the same absolute expiry, and a new token of the same family;
-- the used token keeps its row (used_at), so presenting it again is seen as
-- reuse: every session and token of the family is revoked and the owner is
-- alerted (authn_token_reuse). A family dies with its session's absolute
-- timeout (expires_at).
CREATE TABLE refresh_tokens (
    id            BIGINT PRIMARY KEY,
    token_hash    BYTEA NOT NULL UNIQUE,
    family_id     BIGINT NOT NULL,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    session_id    BIGINT NOT NULL REFERENCES sessions(id),
    device_id     TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT NOT NULL DEFAULT 0,
    revoked_at    BIGINT NOT NULL DEFAULT 0,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id, revoked_at);
CREATE INDEX refresh_tokens_expires ON refresh_tokens(expires_at);

-- +goose Down
DROP TABLE refresh_tokens;
