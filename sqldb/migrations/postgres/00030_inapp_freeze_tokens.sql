-- +goose Up
-- In-app notices written before 2026-11-27 carried the one-click freeze
-- link with its token in plain text (only its hash belongs in the
-- database). Point them at the signed-in freeze page, as new notices do.
UPDATE inapp_notifications SET body = regexp_replace(body, '/freeze/[A-Za-z0-9_-]*', '/account/freeze', 'g')
WHERE body LIKE '%/freeze/%';

-- +goose Down
-- The tokens are gone for good (and had to be).
SELECT 1;
