-- +goose Up
-- Only the transactions a customer starts under an Idempotency-Key carry
-- one; the other half of a transfer or a remittance (the payee's) has
-- none. The unique index on (user, key) now holds the keyed rows alone:
-- every P2P transfer wrote an entry for its key-less incoming half into
-- it, at a random place (the user). It is still what recognises a retried
-- transfer for good (wallet/transfer.go). Built in the migration's
-- transaction, not CONCURRENTLY: writes to wallet_txns wait while it is
-- built (seconds for millions of rows), but a failed build leaves the
-- constraint in place rather than an invalid index beside a dropped one.
CREATE UNIQUE INDEX wallet_txns_key ON wallet_txns(user_id, idem_key) WHERE idem_key IS NOT NULL;
ALTER TABLE wallet_txns DROP CONSTRAINT wallet_txns_user_id_idem_key_key;

-- +goose Down
ALTER TABLE wallet_txns ADD CONSTRAINT wallet_txns_user_id_idem_key_key UNIQUE (user_id, idem_key);
DROP INDEX wallet_txns_key;
