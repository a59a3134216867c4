-- +goose Up
-- The withdrawals' sweep (wallet/withdraw_jobs.go) looks once a minute
-- for withdrawals left authorized without their hold; with no index for
-- that status it read the whole table each time. Only rows waiting in
-- that status are in this index.
CREATE INDEX wallet_txns_authorized ON wallet_txns(updated_at) WHERE status = 'authorized';

-- +goose Down
DROP INDEX wallet_txns_authorized;
