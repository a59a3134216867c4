-- +goose Up
-- Self-service in the chat widget (issue 7): the help articles that
-- ended a chat attempt ("This solved it") and the chat assistant's
-- exchanges. Timestamps are Unix microseconds (UTC).

-- One row per visitor (a hash of the visitor's address), article and UTC
-- day on which the visitor said the article solved the question: the
-- deflections of an article on a day are its rows of that day.
CREATE TABLE help_deflections (
    article_id INTEGER NOT NULL REFERENCES help_articles(id),
    day        TEXT NOT NULL,
    visitor    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (article_id, day, visitor)
);
CREATE INDEX help_deflections_day ON help_deflections(day);

-- The assistant's exchange with one customer ("usr_…") or visitor
-- ("vis_…"): what they asked (author 'customer') and what it answered
-- ('assistant'), with the recognised intent. A handover copies the
-- turns not yet handed over into a desk conversation (conversation_id)
-- so the agent sees them.
CREATE TABLE assistant_turns (
    id              INTEGER PRIMARY KEY,
    owner           TEXT NOT NULL,
    author          TEXT NOT NULL CHECK (author IN ('customer', 'assistant')),
    body            TEXT NOT NULL,
    intent          TEXT NOT NULL DEFAULT '',
    confidence      REAL NOT NULL DEFAULT 0,
    conversation_id INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX assistant_turns_owner ON assistant_turns(owner, conversation_id, id);

-- +goose Down
DROP TABLE assistant_turns;
DROP TABLE help_deflections;
