-- +goose Up
-- The phone channel (package phone). Timestamps are Unix microseconds
-- (UTC); 0 means "not yet".

-- Callback requests: a customer asks to be called (source 'customer', to
-- their verified phone), or a missed inbound call becomes one (source
-- 'missed_call'). state: queued → dialing (claimed by an agent) →
-- completed | failed, back to queued after an unanswered attempt;
-- cancelled by the customer while queued.
CREATE TABLE phone_callbacks (
    id              INTEGER PRIMARY KEY,
    customer_id     INTEGER NOT NULL DEFAULT 0,
    phone           TEXT NOT NULL,
    topic           TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    lang            TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    window_start    INTEGER NOT NULL,
    window_end      INTEGER NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('customer','missed_call')),
    call_id         TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('queued','dialing','completed','failed','cancelled')),
    outcome         TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_by      INTEGER NOT NULL DEFAULT 0,
    claimed_at      INTEGER NOT NULL DEFAULT 0,
    conversation_id INTEGER NOT NULL DEFAULT 0,
    request_key     TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX phone_callbacks_key ON phone_callbacks(customer_id, request_key) WHERE request_key <> '';
CREATE UNIQUE INDEX phone_callbacks_call ON phone_callbacks(call_id) WHERE call_id <> '';
CREATE INDEX phone_callbacks_queue ON phone_callbacks(state, window_start);
CREATE INDEX phone_callbacks_customer ON phone_callbacks(customer_id, id);

-- Calls reported by the telephony webhook, one row per provider call id,
-- built from newCall / answer / hangup events in whatever order they come.
CREATE TABLE phone_calls (
    id              INTEGER PRIMARY KEY,
    call_id         TEXT NOT NULL UNIQUE,
    direction       TEXT NOT NULL DEFAULT '',
    from_number     TEXT NOT NULL DEFAULT '',
    to_number       TEXT NOT NULL DEFAULT '',
    number_e164     TEXT NOT NULL DEFAULT '',
    queue           TEXT NOT NULL DEFAULT '',
    agent           TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('ringing','answered','missed','completed')),
    cause           TEXT NOT NULL DEFAULT '',
    started_at      INTEGER NOT NULL DEFAULT 0,
    answered_at     INTEGER NOT NULL DEFAULT 0,
    ended_at        INTEGER NOT NULL DEFAULT 0,
    wait_ms         INTEGER NOT NULL DEFAULT -1,
    talk_ms         INTEGER NOT NULL DEFAULT -1,
    customer_id     INTEGER NOT NULL DEFAULT 0,
    conversation_id INTEGER NOT NULL DEFAULT 0,
    callback_id     INTEGER NOT NULL DEFAULT 0,
    logged          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX phone_calls_started ON phone_calls(started_at);

-- Webhook events seen (replay protection): the event id, or
-- call id + event + timestamp when the PBX sends none.
CREATE TABLE phone_call_events (
    event_key   TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL,
    event       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);

-- Caller verification challenges (SUP-05): the code only as a salted
-- hash; 5 minutes, 5 tries.
CREATE TABLE phone_challenges (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL,
    customer_id     INTEGER NOT NULL,
    agent_id        INTEGER NOT NULL,
    method          TEXT NOT NULL CHECK (method IN ('app','sms')),
    salt            BLOB NOT NULL,
    code_hash       BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL CHECK (state IN ('pending','verified','failed','superseded','refused')),
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    verified_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX phone_challenges_conv ON phone_challenges(conversation_id, id);

-- +goose Down
DROP TABLE phone_challenges;
DROP TABLE phone_call_events;
DROP TABLE phone_calls;
DROP TABLE phone_callbacks;
