-- +goose Up
-- SQLite's migration 40 replaces the index of wallet transactions by user
-- with a table filled in sorted runs (sqldb/queued.go). PostgreSQL keeps
-- its index. Nothing to do; the number keeps both dialects in step.
SELECT 1;

-- +goose Down
SELECT 1;
