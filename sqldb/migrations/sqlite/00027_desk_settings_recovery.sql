-- +goose Up
-- Issue 5 leftovers.

-- SLA policies are added and removed from the desk's settings page: one
-- policy per (channel, category, priority) combination, so that the most
-- specific match of a conversation is never ambiguous.
CREATE UNIQUE INDEX desk_sla_policies_match ON desk_sla_policies(channel, category, priority);

-- REC-08: while an assisted recovery waits out its delay, every channel of
-- the account gets a one-click cancel link. cancel_hash is the SHA-256
-- (hex) of the link's token ('' for requests without a link).
ALTER TABLE support_requests ADD COLUMN cancel_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX support_requests_cancel ON support_requests(cancel_hash);

-- +goose Down
DROP INDEX support_requests_cancel;
ALTER TABLE support_requests DROP COLUMN cancel_hash;
DROP INDEX desk_sla_policies_match;
