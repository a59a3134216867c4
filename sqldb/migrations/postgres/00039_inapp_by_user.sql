-- +goose Up
-- SQLite's migration 39 replaces the index of in-app notices by user with
-- a table filled in sorted runs (notify/inapp.go). PostgreSQL keeps its
-- index: its writers are not one connection. Nothing to do; the number
-- keeps both dialects' migrations in step.
SELECT 1;

-- +goose Down
SELECT 1;
