-- +goose Up
-- Account actions of the support desk that need a second agent's approval
-- (package support; SECURITY.md SUP-02, RSK-06, REC-08). Timestamps are
-- Unix microseconds (UTC); 0 means "not yet".
--
-- A request is made by one agent (the maker) for one customer on one case
-- (the conversation, case_id "cnv_…"); another agent with approval:approve
-- (the checker) approves or rejects it. An approval runs the action in the
-- same transaction. A request nobody decided expires at expires_at.
-- payload is JSON: what the maker stated (the re-verification evidence,
-- the review of devices and payout methods).
CREATE TABLE support_requests (
    id             BIGINT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('unfreeze','reset_factors','lift_hold')),
    status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','approved','rejected','expired')),
    customer_id    BIGINT NOT NULL REFERENCES users(id),
    case_id        TEXT NOT NULL,
    maker_id       BIGINT NOT NULL REFERENCES agents(id),
    maker_role     TEXT NOT NULL,
    reason         TEXT NOT NULL,
    payload        TEXT NOT NULL DEFAULT '{}',
    checker_id     BIGINT NOT NULL DEFAULT 0,
    checker_role   TEXT NOT NULL DEFAULT '',
    checker_reason TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    decided_at     BIGINT NOT NULL DEFAULT 0,
    CHECK (checker_id = 0 OR checker_id <> maker_id)
);
CREATE INDEX support_requests_status ON support_requests(status, created_at);
CREATE INDEX support_requests_customer ON support_requests(customer_id, created_at);
-- At most one pending request of a kind per customer.
CREATE UNIQUE INDEX support_requests_one_pending ON support_requests(customer_id, kind) WHERE status = 'pending';

-- +goose Down
DROP TABLE support_requests;
