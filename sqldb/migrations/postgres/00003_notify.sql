-- +goose Up
-- Notification outbox (NOT-02, REL-11). Rows are written in the same
-- transaction as the event they announce and delivered at least once by
-- the dispatcher. The rendered content (destination, subject, body) is
-- sealed: it may carry one-time codes, which never rest in clear.
-- Timestamps are Unix microseconds (UTC).
CREATE TABLE notification_outbox (
    id              BIGINT PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    user_id         BIGINT NOT NULL DEFAULT 0,
    channel         TEXT NOT NULL CHECK (channel IN ('email','sms','inapp')),
    kind            TEXT NOT NULL,
    sealed          BYTEA NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT,
    locked_by       TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
-- The dispatcher's claim scan.
CREATE INDEX notification_outbox_due ON notification_outbox(status, next_attempt_at, id);
-- Per-user order: is an older message of this user and channel unsent?
-- Partial, so a user with a long history costs no scan of sent rows.
CREATE INDEX notification_outbox_user ON notification_outbox(user_id, channel, id) WHERE status = 'pending';

-- Notifications shown to the logged-in user. They never hold codes.
CREATE TABLE inapp_notifications (
    id         BIGINT PRIMARY KEY,
    dedupe_key TEXT NOT NULL,
    user_id    BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at    BIGINT
);
-- A redelivered outbox message adds no second row.
CREATE UNIQUE INDEX inapp_notifications_dedupe ON inapp_notifications(dedupe_key);
CREATE INDEX inapp_notifications_user ON inapp_notifications(user_id, id);

-- +goose Down
DROP TABLE inapp_notifications;
DROP TABLE notification_outbox;
