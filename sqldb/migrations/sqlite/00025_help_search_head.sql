-- +goose Up
-- The help search's head index (issue 7): the title and keywords of each
-- published article again, apart from the bodies, in the same form as
-- help_fts (the help tokenizer's terms; rowid is the article's id). A
-- search ranks the articles whose head matches first: far fewer than
-- those whose body does, and FTS5's bm25 costs a row read per ranked
-- article. text is the article's plain text (its Markdown rendered),
-- kept for the snippets so a search does not render each hit again.
CREATE VIRTUAL TABLE help_fts_head USING fts5(title, keywords, text UNINDEXED, tokenize = 'unicode61');
INSERT INTO help_fts_head (rowid, title, keywords, text) SELECT rowid, title, keywords, '' FROM help_fts;

-- +goose Down
DROP TABLE help_fts_head;
