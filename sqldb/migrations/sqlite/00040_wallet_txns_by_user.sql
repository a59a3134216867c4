-- +goose Up
-- A customer's transactions in order without a b-tree insert at a random
-- place per transaction (sqldb/queued.go, as migration 39 for in-app
-- notices): a wallet transfer writes two transactions in the ledger's
-- batch, and the index on (user_id, id) dirtied a leaf for each. A trigger
-- queues new transactions; okpay serve moves the queue into
-- wallet_txns_by_user, sorted, every second. The history reads both.
-- PostgreSQL keeps its index (no migration).
CREATE TABLE wallet_txns_by_user (
    user_id INTEGER NOT NULL,
    id      INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
CREATE TABLE wallet_txns_unindexed (
    seq     INTEGER PRIMARY KEY,
    id      INTEGER NOT NULL,
    user_id INTEGER NOT NULL
);
INSERT INTO wallet_txns_by_user (user_id, id) SELECT user_id, id FROM wallet_txns ORDER BY user_id, id;
DROP INDEX wallet_txns_user;
-- +goose StatementBegin
CREATE TRIGGER wallet_txns_queue AFTER INSERT ON wallet_txns
BEGIN
    INSERT INTO wallet_txns_unindexed (id, user_id) VALUES (NEW.id, NEW.user_id);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER wallet_txns_queue;
CREATE INDEX wallet_txns_user ON wallet_txns(user_id, id);
DROP TABLE wallet_txns_unindexed;
DROP TABLE wallet_txns_by_user;
