-- +goose Up
-- The help search's head index (issue 7): the title (A) and keywords (B)
-- lexemes of doc in a column of their own with its own GIN index. A search
-- ranks the articles whose head matches first: far fewer than those whose
-- body does, and ts_rank reads each ranked row. text is the article's
-- plain text (its Markdown rendered), kept for the snippets so a search
-- does not render each hit again.
ALTER TABLE help_search ADD COLUMN head tsvector NOT NULL DEFAULT ''::tsvector;
ALTER TABLE help_search ADD COLUMN text TEXT NOT NULL DEFAULT '';
UPDATE help_search SET head = ts_filter(doc, '{a,b}');
CREATE INDEX help_search_head ON help_search USING GIN (head);

-- +goose Down
DROP INDEX help_search_head;
ALTER TABLE help_search DROP COLUMN text;
ALTER TABLE help_search DROP COLUMN head;
