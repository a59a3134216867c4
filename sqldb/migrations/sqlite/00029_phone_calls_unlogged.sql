-- +goose Up
-- Ended calls still waiting for their call-log entry (phone.LogPending).
CREATE INDEX phone_calls_unlogged ON phone_calls(id) WHERE logged = 0 AND customer_id != 0 AND ended_at > 0;

-- +goose Down
DROP INDEX phone_calls_unlogged;
