-- +goose Up
-- A customer's in-app notices in order, without a b-tree insert at a random
-- place per notice (notify/inapp.go). The index on (user_id, id) put each
-- new notice on its user's leaf: a wallet transfer writes two notices in
-- the ledger's batch, and their two leaves were two of the few pages per
-- transfer that the one writer dirties, logs and has checkpointed. Now a
-- trigger queues each new notice (an append at the end of a small table),
-- and the notices' indexer moves the queue into inapp_by_user, sorted, in
-- one transaction every second: each user's leaf is written once per run
-- instead of once per batch. A notice is found by inapp_by_user or, until
-- the next run, by the queue. PostgreSQL keeps its index (no migration).
CREATE TABLE inapp_by_user (
    user_id INTEGER NOT NULL,
    id      INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
CREATE TABLE inapp_unindexed (
    seq     INTEGER PRIMARY KEY,
    id      INTEGER NOT NULL,
    user_id INTEGER NOT NULL
);
INSERT INTO inapp_by_user (user_id, id) SELECT user_id, id FROM inapp_notifications ORDER BY user_id, id;
DROP INDEX inapp_notifications_user;
-- +goose StatementBegin
CREATE TRIGGER inapp_notifications_queue AFTER INSERT ON inapp_notifications
BEGIN
    INSERT INTO inapp_unindexed (id, user_id) VALUES (NEW.id, NEW.user_id);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER inapp_notifications_queue;
CREATE INDEX inapp_notifications_user ON inapp_notifications(user_id, id);
DROP TABLE inapp_unindexed;
DROP TABLE inapp_by_user;
