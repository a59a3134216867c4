-- +goose Up
-- Withdrawals (package wallet, withdraw*.go): the payout side of a
-- withdrawal transaction of wallet_txns (same id), its review decisions
-- and the jobs that carry it through payout. Timestamps are Unix
-- microseconds (UTC); 0 means "never". Amounts are integer minor units.

-- One row per withdrawal whose funds are held (a pending ledger entry,
-- hold_entry_id). txn_id is the wallet transaction's id, and its txn_…
-- form is the payout's reference at the provider (one payout per
-- withdrawal, ever). stage is where the payout is:
--   review      held, waiting for a reviewer
--   approved    approved (by the rules or a reviewer), not yet sent
--   submitting  the final gate passed and the payout is being requested:
--               its outcome at the provider is unknown until recorded
--   sent        the provider accepted the payout
--   completed   paid; the hold was posted
--   voiding     a freeze asked for the hold to be voided (the job does it)
--   voided      the hold was voided: the money went back
-- void_code/void_reason say why a withdrawal was voided (or is voiding).
CREATE TABLE withdrawals (
    txn_id          INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    method_id       INTEGER NOT NULL,
    method_kind     TEXT NOT NULL,
    method_label    TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    fee             INTEGER NOT NULL CHECK (fee >= 0),
    stage           TEXT NOT NULL CHECK (stage IN ('review','approved','submitting','sent','completed','voiding','voided')),
    decision        TEXT NOT NULL CHECK (decision IN ('auto_approve','review')),
    hold_entry_id   INTEGER NOT NULL,
    hold_expires_at INTEGER NOT NULL,
    eta_earliest    INTEGER NOT NULL,
    eta_latest      INTEGER NOT NULL,
    payout_id       TEXT NOT NULL DEFAULT '',
    payout_status   TEXT NOT NULL DEFAULT '',
    submitted_at    INTEGER NOT NULL DEFAULT 0,
    reviewed_by     TEXT NOT NULL DEFAULT '',
    reviewed_at     INTEGER NOT NULL DEFAULT 0,
    void_code       TEXT NOT NULL DEFAULT '',
    void_reason     TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The reviewers' queue, oldest first.
CREATE INDEX withdrawals_queue ON withdrawals(stage, created_at, txn_id);
-- A customer's withdrawals (review rules, the reviewer's context, freeze).
CREATE INDEX withdrawals_user ON withdrawals(user_id, created_at);
-- Withdrawals on their way to a payout method (it cannot be deleted).
CREATE INDEX withdrawals_method ON withdrawals(method_id, stage);

-- Every review decision (RSK-07): the rules' (actor 'rules', with the
-- rules matched, their versions and the inputs they saw) and each
-- reviewer's (actor agt_…, with the reason). Append-only.
CREATE TABLE withdrawal_decisions (
    id         INTEGER PRIMARY KEY,
    txn_id     INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('auto_approve','review','approve','reject')),
    rules      TEXT NOT NULL DEFAULT '',
    inputs     TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    note       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX withdrawal_decisions_txn ON withdrawal_decisions(txn_id, id);

-- The withdrawals' jobs, which survive restarts: payout (submit to the
-- provider), poll (ask the provider about a payout no webhook settled),
-- timeout (void a hold nobody acted on), void (a freeze's void) and
-- settle (move a paid withdrawal from clearing to the provider's account).
-- At most one job of a kind per withdrawal. A runner claims due jobs by
-- setting lease_until (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite has one
-- writer); a runner that dies loses its lease and another runs the job
-- again (every job is idempotent). done_at is set when a job is finished.
CREATE TABLE withdrawal_jobs (
    id          INTEGER PRIMARY KEY,
    txn_id      INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('payout','poll','timeout','void','settle')),
    run_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER NOT NULL DEFAULT 0,
    leased_by   TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT '',
    done_at     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    UNIQUE (txn_id, kind)
);
CREATE INDEX withdrawal_jobs_due ON withdrawal_jobs(run_at, id) WHERE done_at = 0;

-- +goose Down
DROP TABLE withdrawal_jobs;
DROP TABLE withdrawal_decisions;
DROP TABLE withdrawals;
