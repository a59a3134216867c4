-- +goose Up
-- The help center (package help, issue 7). Timestamps are Unix
-- microseconds (UTC); 0 means "never".

-- One article per (slug, locale): the same slug names the zh-CN and the en
-- version of one subject. body, title and keywords are those of the
-- current revision (revision_id), copied here for reads. status is
-- 'draft' or 'published'; only published articles are on the public
-- pages and in the search index.
CREATE TABLE help_articles (
    id           BIGINT PRIMARY KEY,
    slug         TEXT NOT NULL,
    locale       TEXT NOT NULL,
    category     TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    revision_id  BIGINT NOT NULL DEFAULT 0,
    title        TEXT NOT NULL,
    keywords     TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    helpful_yes  INTEGER NOT NULL DEFAULT 0,
    helpful_no   INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    published_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX help_articles_slug ON help_articles(slug, locale);
CREATE INDEX help_articles_category ON help_articles(locale, category, status);

-- Every save is a new revision; the article points at its current one.
-- author is an agent id (0: the articles OKPay ships).
CREATE TABLE help_revisions (
    id         BIGINT PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES help_articles(id),
    number     INTEGER NOT NULL,
    title      TEXT NOT NULL,
    keywords   TEXT NOT NULL DEFAULT '',
    category   TEXT NOT NULL,
    body       TEXT NOT NULL,
    author     BIGINT NOT NULL DEFAULT 0,
    note       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (article_id, number)
);

-- The search index of published articles: doc is a tsvector of the
-- help tokenizer's terms (Chinese bigrams and characters, English stems)
-- in an ASCII form, built with the 'simple' configuration so PostgreSQL
-- only splits on spaces; every term starts with its locale's letter (z,
-- e); title terms weigh A, keywords B, body C.
CREATE TABLE help_search (
    article_id BIGINT PRIMARY KEY REFERENCES help_articles(id),
    locale     TEXT NOT NULL,
    doc        tsvector NOT NULL
);
CREATE INDEX help_search_doc ON help_search USING GIN (doc);

-- "Was this helpful?": one vote per visitor (a hash of the visitor
-- cookie or address) and article; a later vote replaces it.
CREATE TABLE help_feedback (
    article_id BIGINT NOT NULL REFERENCES help_articles(id),
    visitor    TEXT NOT NULL,
    helpful    INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (article_id, visitor)
);
CREATE INDEX help_feedback_visitor ON help_feedback(visitor, created_at);

-- Searches that found nothing, by normalised query and locale.
CREATE TABLE help_search_misses (
    locale   TEXT NOT NULL,
    query    TEXT NOT NULL,
    count    INTEGER NOT NULL,
    first_at BIGINT NOT NULL,
    last_at  BIGINT NOT NULL,
    PRIMARY KEY (locale, query)
);
CREATE INDEX help_search_misses_count ON help_search_misses(count DESC, last_at DESC);

-- +goose Down
DROP TABLE help_search_misses;
DROP TABLE help_feedback;
DROP TABLE help_search;
DROP TABLE help_revisions;
DROP TABLE help_articles;
