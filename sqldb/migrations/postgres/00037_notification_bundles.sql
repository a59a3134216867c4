-- +goose Up
-- An event's outbox messages staged as one row (notify/bundle.go): a P2P
-- transfer's commit writes this one row, appended in id order, instead of
-- one outbox row per message with its four index entries. A dispatcher
-- leases bundles (locked_until, locked_by, as outbox rows), sends their
-- messages and then writes each to the outbox in its final state (sent, or
-- waiting for a retry) and deletes the bundle, in one transaction.
-- messages is how many the bundle holds (counted as pending).
CREATE TABLE notification_bundles (
    id           BIGINT PRIMARY KEY,
    messages     INTEGER NOT NULL,
    data         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    locked_by    TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE notification_bundles;
