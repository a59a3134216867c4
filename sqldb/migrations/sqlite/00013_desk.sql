-- +goose Up
-- The support desk's conversations (package desk). Timestamps are Unix
-- microseconds (UTC); 0 means "never". Agents are referenced by their id
-- (package agent), customers by their user id (package identity); a
-- visitor's conversation has customer_id 0 and the visitor's opaque id
-- until the visitor signs in and the customer claims it.
CREATE TABLE desk_conversations (
    id                INTEGER PRIMARY KEY,
    channel           TEXT NOT NULL CHECK (channel IN ('chat','email','phone','web_form')),
    category          TEXT NOT NULL CHECK (category IN ('account','transaction','security_privacy','technical')),
    priority          TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low','normal','high','urgent')),
    status            TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','pending','snoozed','resolved','closed')),
    snoozed_until     INTEGER NOT NULL DEFAULT 0,
    subject           TEXT NOT NULL DEFAULT '',
    lang              TEXT NOT NULL DEFAULT 'en',
    customer_id       INTEGER NOT NULL DEFAULT 0,
    visitor_id        TEXT NOT NULL DEFAULT '',
    -- the client's idempotency key of the start (retries find it)
    start_key         TEXT NOT NULL DEFAULT '',
    assignee_id       INTEGER NOT NULL DEFAULT 0,
    team              TEXT NOT NULL,
    -- sequence counters: every message (staff numbering) and the
    -- messages customers see (public numbering); see desk.go
    last_seq          INTEGER NOT NULL DEFAULT 0,
    last_public_seq   INTEGER NOT NULL DEFAULT 0,
    first_response_at INTEGER NOT NULL DEFAULT 0,
    first_response_by INTEGER NOT NULL DEFAULT 0,
    last_message_at   INTEGER NOT NULL DEFAULT 0,
    claimed_at        INTEGER NOT NULL DEFAULT 0,
    resolved_at       INTEGER NOT NULL DEFAULT 0,
    closed_at         INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- owned by exactly one: a customer or a visitor
    CHECK ((customer_id = 0) <> (visitor_id = ''))
);
CREATE INDEX desk_conversations_customer ON desk_conversations(customer_id, id);
CREATE INDEX desk_conversations_visitor ON desk_conversations(visitor_id, id) WHERE visitor_id <> '';
CREATE UNIQUE INDEX desk_conversations_start ON desk_conversations(customer_id, visitor_id, start_key) WHERE start_key <> '';
-- the queue: open, unassigned conversations of a team, oldest first
CREATE INDEX desk_conversations_queue ON desk_conversations(team, status, assignee_id, created_at, id);
CREATE INDEX desk_conversations_assignee ON desk_conversations(assignee_id, status);
CREATE INDEX desk_conversations_first_response ON desk_conversations(team, first_response_at) WHERE first_response_at > 0;
CREATE INDEX desk_conversations_snoozed ON desk_conversations(status, snoozed_until);

-- What is specific to a channel (an email thread's reply token, a call's
-- provider id, the page a chat started on): name/value pairs, so a new
-- channel needs no new columns.
CREATE TABLE desk_channel_meta (
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    channel         TEXT NOT NULL,
    name            TEXT NOT NULL,
    value           TEXT NOT NULL,
    PRIMARY KEY (conversation_id, name)
);
CREATE INDEX desk_channel_meta_lookup ON desk_channel_meta(channel, name, value);

CREATE TABLE desk_tags (
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    tag             TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX desk_tags_tag ON desk_tags(tag, conversation_id);

-- Links from a conversation to a wallet transaction, a security event...
-- (kind + the other side's public reference).
CREATE TABLE desk_links (
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    kind            TEXT NOT NULL,
    ref             TEXT NOT NULL,
    created_by_kind TEXT NOT NULL,
    created_by      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, kind, ref)
);
CREATE INDEX desk_links_ref ON desk_links(kind, ref);

-- Messages. seq numbers every message of a conversation, public_seq the
-- ones customers see (0 for internal notes); both are gapless, assigned
-- under the conversation's row lock. idem_key is the client's idempotency
-- key; request_hash what was sent with it (a replay must match).
CREATE TABLE desk_messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    seq             INTEGER NOT NULL,
    public_seq      INTEGER NOT NULL DEFAULT 0,
    author_kind     TEXT NOT NULL CHECK (author_kind IN ('customer','visitor','agent','system')),
    author_id       INTEGER NOT NULL DEFAULT 0,
    internal        INTEGER NOT NULL DEFAULT 0 CHECK (internal IN (0, 1)),
    body            TEXT NOT NULL,
    idem_key        TEXT NOT NULL DEFAULT '',
    request_hash    BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    CHECK ((internal = 1 AND public_seq = 0) OR (internal = 0 AND public_seq > 0))
);
CREATE UNIQUE INDEX desk_messages_seq ON desk_messages(conversation_id, seq);
CREATE UNIQUE INDEX desk_messages_public_seq ON desk_messages(conversation_id, public_seq) WHERE public_seq > 0;
CREATE UNIQUE INDEX desk_messages_idem ON desk_messages(conversation_id, idem_key) WHERE idem_key <> '';

-- Attachments live in the database (see desk.go): small, committed with
-- their message, seen by every node, included in backups.
CREATE TABLE desk_attachments (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    message_id      INTEGER NOT NULL REFERENCES desk_messages(id),
    name            TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          BLOB NOT NULL,
    data            BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX desk_attachments_message ON desk_attachments(message_id);

-- Read receipts: how far each participant has read, in their own
-- numbering (public_seq for customers and visitors, seq for agents).
CREATE TABLE desk_reads (
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    reader_kind     TEXT NOT NULL CHECK (reader_kind IN ('customer','visitor','agent')),
    reader_id       INTEGER NOT NULL DEFAULT 0,
    last_seq        INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, reader_kind, reader_id)
);

-- A conversation's history: status changes, assignments, tags, links.
CREATE TABLE desk_activity (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    actor_kind      TEXT NOT NULL,
    actor_id        INTEGER NOT NULL DEFAULT 0,
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);
CREATE INDEX desk_activity_conversation ON desk_activity(conversation_id, id);

-- +goose Down
DROP TABLE desk_activity;
DROP TABLE desk_reads;
DROP TABLE desk_attachments;
DROP TABLE desk_messages;
DROP TABLE desk_links;
DROP TABLE desk_tags;
DROP TABLE desk_channel_meta;
DROP TABLE desk_conversations;
