-- +goose Up
-- The desk's email channel (package maildesk, issue 6). Timestamps are
-- Unix microseconds (UTC); 0 means "never".

-- Every mail received, kept as it came (raw) so an agent can read the
-- original. (message_id, sender, content_hash) is unique: a redelivery is
-- recognised and makes no second message, while a different mail reusing
-- a Message-ID of the same sender (content_hash differs) is stored and
-- flagged; mail without a Message-ID gets one derived from its bytes.
-- status says what ingest did with it: attached (to an existing
-- conversation), started (a new one), auto_reply, own (from one of our
-- addresses), rate_limited; flagged is 1 when the mail was malformed or
-- suspicious (problems lists why). authenticated is 1 when DKIM (aligned
-- with From) or the trusted upstream's DMARC vouched for the sender; auth
-- says how ("dkim:<d>", "upstream:<domain>", "none") and auth_details what
-- was checked.
CREATE TABLE email_inbound (
    id              BIGINT PRIMARY KEY,
    message_id      TEXT NOT NULL,
    sender          TEXT NOT NULL,
    mail_from       TEXT NOT NULL DEFAULT '',
    rcpt_to         TEXT NOT NULL DEFAULT '',
    remote_addr     TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '',
    raw             BYTEA NOT NULL,
    status          TEXT NOT NULL,
    flagged         INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1)),
    problems        TEXT NOT NULL DEFAULT '',
    content_hash    TEXT NOT NULL DEFAULT '',
    authenticated   INTEGER NOT NULL DEFAULT 0 CHECK (authenticated IN (0, 1)),
    auth            TEXT NOT NULL DEFAULT '',
    auth_details    TEXT NOT NULL DEFAULT '',
    threaded_by     TEXT NOT NULL DEFAULT '',
    conversation_id BIGINT NOT NULL DEFAULT 0,
    desk_message_id BIGINT NOT NULL DEFAULT 0,
    received_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX email_inbound_dedupe ON email_inbound(message_id, sender, content_hash);
CREATE INDEX email_inbound_sender ON email_inbound(sender, received_at);
CREATE INDEX email_inbound_message ON email_inbound(desk_message_id) WHERE desk_message_id <> 0;

-- Every Message-ID of a conversation, inbound and outbound: In-Reply-To
-- and References of a reply are looked up here. An id may name only one
-- conversation (the first to store it).
CREATE TABLE email_threads (
    message_id      TEXT PRIMARY KEY CHECK (message_id <> ''),
    conversation_id BIGINT NOT NULL REFERENCES desk_conversations(id),
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    created_at      BIGINT NOT NULL
);
CREATE INDEX email_threads_conversation ON email_threads(conversation_id, created_at);

-- Mail to send: acknowledgements and agents' replies, rendered when queued.
-- desk_message_id is the agent's message a reply carries (unique: one mail
-- per message; 0 for acknowledgements). state: queued, retrying (a
-- temporary failure; next_at is the next try), sent, failed (permanent, or
-- out of attempts; last_error says why).
CREATE TABLE email_outbox (
    id              BIGINT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('ack', 'reply')),
    conversation_id BIGINT NOT NULL REFERENCES desk_conversations(id),
    desk_message_id BIGINT NOT NULL DEFAULT 0,
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
    next_at         BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX email_outbox_message ON email_outbox(desk_message_id) WHERE desk_message_id <> 0;
CREATE INDEX email_outbox_due ON email_outbox(state, next_at);
-- the dispatcher's scan for agents' replies in email conversations
CREATE INDEX desk_conversations_channel_recent ON desk_conversations(channel, last_message_at);

-- +goose Down
DROP INDEX desk_conversations_channel_recent;
DROP TABLE email_outbox;
DROP TABLE email_threads;
DROP TABLE email_inbound;
