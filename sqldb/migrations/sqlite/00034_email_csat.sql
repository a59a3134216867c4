-- +goose Up
-- A rating request by email (maildesk.QueueSurveys): once an email
-- conversation has stayed resolved a while, its sender gets a mail with a
-- signed link to rate that resolution. kind 'csat' joins the outbox's
-- kinds; resolution is the resolved_at (Unix µs) the request asks about,
-- unique per conversation, so each resolution is asked about once (several
-- nodes scanning at once queue it once). SQLite cannot change a CHECK in
-- place: the table is rebuilt (nothing references it).
CREATE TABLE email_outbox_new (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('ack', 'reply', 'csat')),
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    desk_message_id INTEGER NOT NULL DEFAULT 0,
    message_id      TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    in_reply_to     TEXT NOT NULL DEFAULT '',
    refs            TEXT NOT NULL DEFAULT '',
    reply_to        TEXT NOT NULL DEFAULT '',
    lang            TEXT NOT NULL DEFAULT 'en',
    state           TEXT NOT NULL CHECK (state IN ('queued', 'retrying', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER NOT NULL DEFAULT 0,
    resolution      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO email_outbox_new (id, kind, conversation_id, desk_message_id, message_id, to_addr, subject, body_text, body_html,
    in_reply_to, refs, reply_to, lang, state, attempts, next_at, last_error, created_at, updated_at, sent_at)
SELECT id, kind, conversation_id, desk_message_id, message_id, to_addr, subject, body_text, body_html,
    in_reply_to, refs, reply_to, lang, state, attempts, next_at, last_error, created_at, updated_at, sent_at FROM email_outbox;
DROP TABLE email_outbox;
ALTER TABLE email_outbox_new RENAME TO email_outbox;
CREATE UNIQUE INDEX email_outbox_message ON email_outbox(desk_message_id) WHERE desk_message_id <> 0;
CREATE INDEX email_outbox_due ON email_outbox(state, next_at);
CREATE UNIQUE INDEX email_outbox_survey ON email_outbox(conversation_id, resolution) WHERE kind = 'csat';

-- +goose Down
DELETE FROM email_outbox WHERE kind = 'csat';
CREATE TABLE email_outbox_old (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('ack', 'reply')),
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    desk_message_id INTEGER NOT NULL DEFAULT 0,
    message_id      TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    in_reply_to     TEXT NOT NULL DEFAULT '',
    refs            TEXT NOT NULL DEFAULT '',
    reply_to        TEXT NOT NULL DEFAULT '',
    lang            TEXT NOT NULL DEFAULT 'en',
    state           TEXT NOT NULL CHECK (state IN ('queued', 'retrying', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO email_outbox_old SELECT id, kind, conversation_id, desk_message_id, message_id, to_addr, subject, body_text, body_html,
    in_reply_to, refs, reply_to, lang, state, attempts, next_at, last_error, created_at, updated_at, sent_at FROM email_outbox;
DROP TABLE email_outbox;
ALTER TABLE email_outbox_old RENAME TO email_outbox;
CREATE UNIQUE INDEX email_outbox_message ON email_outbox(desk_message_id) WHERE desk_message_id <> 0;
CREATE INDEX email_outbox_due ON email_outbox(state, next_at);
