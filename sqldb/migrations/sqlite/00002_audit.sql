-- +goose Up
-- The security audit log (AUD-01, AUD-04): one row per event, hash-chained
-- in seq order. seq is assigned by the writer as last+1 (no AUTOINCREMENT:
-- a gap means a deleted row). hash = SHA-256(prev_hash || canonical row);
-- the first row's prev_hash is 32 zero bytes. at is Unix microseconds
-- (UTC); details is a JSON object of strings. Values are scrubbed of
-- secrets and control characters before they are written.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY CHECK (seq > 0),
    at         INTEGER NOT NULL,
    event      TEXT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    device_id  TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    outcome    TEXT NOT NULL CHECK (outcome IN ('success','failure')),
    case_id    TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    details    TEXT NOT NULL DEFAULT '{}',
    prev_hash  BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash       BLOB NOT NULL CHECK (length(hash) = 32)
);
-- A user's own history, newest first.
CREATE INDEX audit_log_subject ON audit_log(subject, seq);

-- The audit log is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- +goose Down
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP INDEX audit_log_subject;
DROP TABLE audit_log;
