-- +goose Up
-- Customer satisfaction (package desk, csat.go): one rating per
-- resolution of a conversation. resolved_at is the resolution rated (the
-- conversation's resolved_at when it was rated): a conversation reopened
-- and resolved again may be rated again; the same resolution only once.
-- Timestamps are Unix microseconds (UTC).
CREATE TABLE desk_csat (
    conversation_id INTEGER NOT NULL REFERENCES desk_conversations(id),
    resolved_at     INTEGER NOT NULL,
    rating          INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment         TEXT NOT NULL DEFAULT '',
    rater_kind      TEXT NOT NULL CHECK (rater_kind IN ('customer','visitor')),
    rater_id        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, resolved_at)
);
CREATE INDEX desk_csat_created ON desk_csat(created_at);

-- Offline email of unread replies (offline.go): how far the customer was
-- emailed about a conversation, in the public numbering, so the same
-- replies are never emailed twice.
CREATE TABLE desk_offline_mail (
    conversation_id INTEGER PRIMARY KEY REFERENCES desk_conversations(id),
    last_public_seq INTEGER NOT NULL,
    sent_at         INTEGER NOT NULL
);

-- Fixed-window counters of the visitors' and customers' chat limits
-- (ratelimit.go); swept by Service.SweepLimits.
CREATE TABLE desk_rate_counters (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- +goose Down
DROP TABLE desk_rate_counters;
DROP TABLE desk_offline_mail;
DROP TABLE desk_csat;
