package wallet

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// The withdrawals' jobs. Every step that happens after the customer's
// request — submitting a payout, asking the provider about it, voiding a
// hold that timed out or whose account was frozen, settling a paid
// withdrawal — is a row of withdrawal_jobs, written in the same
// transaction as the state change that calls for it, so a crash never
// loses one. A runner claims due jobs with a lease (on PostgreSQL with
// FOR UPDATE SKIP LOCKED, so several nodes share the work; on SQLite the
// single writer serialises claims); a runner that dies loses its lease
// and the job runs again elsewhere. Every job is idempotent: it looks at
// the withdrawal's stage first, and whatever it books has a reference
// derived from the withdrawal's id.
//
// Why not River (riverqueue/river, which has a SQLite driver): its jobs
// would live in tables of its own with their own migrations for both
// engines, its workers poll on their own connections (on SQLite a second
// writer competing with the ledger's single one), its schedule follows
// the wall clock while the hold timeouts are tested with a manual one,
// and a job must be inserted inside the ledger's hook, on the ledger's
// transaction, which our own table allows with a plain INSERT. The whole
// queue is one table and two statements.
//
// Never paying twice (REL-04): the payout's reference at the provider is
// the withdrawal's id, and the stage moves to submitting, in its own
// committed transaction, before the provider is called. A withdrawal
// found in submitting after a crash has an unknown outcome: the job asks
// the provider (PayoutStatus) and submits again only when the provider
// has never heard of it — and the provider answers a second request with
// the same reference with the same payout.

// Job kinds.
const (
	jobPayout  = "payout"
	jobPoll    = "poll"
	jobTimeout = "timeout"
	jobVoid    = "void"
	jobSettle  = "settle"
)

// claimBatch is how many jobs a runner claims at once.
const claimBatch = 32

// enqueue adds job kind of withdrawal txnID, due at runAt, inside tx (a
// withdrawal has at most one job of each kind: enqueueing it again does
// nothing).
func (w *Withdrawals) enqueue(ctx context.Context, tx *sql.Tx, txnID int64, kind string, runAt, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO withdrawal_jobs (id, txn_id, kind, run_at, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (txn_id, kind) DO NOTHING`, w.s.ids.Next(), txnID, kind, micros(runAt), micros(now)); err != nil {
		return okpay.Internal(err, "queue withdrawal job")
	}
	return nil
}

// closeJobs ends, inside tx, the jobs of a withdrawal that has just ended
// (they would find nothing to do).
func (w *Withdrawals) closeJobs(ctx context.Context, tx *sql.Tx, txnID int64, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE withdrawal_jobs SET done_at = $1, lease_until = 0 WHERE txn_id = $2 AND done_at = 0
		AND kind IN ('payout','poll','timeout','void')`, micros(now), txnID); err != nil {
		return okpay.Internal(err, "close withdrawal jobs")
	}
	return nil
}

// job is a claimed job.
type job struct {
	id, txnID int64
	kind      string
	attempts  int
}

// retryAt asks for a job to run again at a time of its choosing.
type retryAt struct {
	at     time.Time
	reason string
}

func (r *retryAt) Error() string { return "retry at " + r.at.Format(time.RFC3339) + ": " + r.reason }

// Wake has the runner look for due jobs now.
func (w *Withdrawals) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Start runs the job runner until ctx ends or Close is called. Calling it
// again does nothing.
func (w *Withdrawals) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return
	}
	w.started = true
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.cfg.JobInterval)
		defer t.Stop()
		for {
			if _, err := w.RunJobs(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("wallet: withdrawal jobs", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			case <-t.C:
			}
		}
	}()
}

// Close stops the runner and waits for it. A job it was running keeps its
// lease and runs again once the lease ends.
func (w *Withdrawals) Close() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// RunJobs runs the jobs due now, until none is left, and returns how many
// ran. A failpoint's crash stops it at once (the job keeps its lease).
func (w *Withdrawals) RunJobs(ctx context.Context) (int, error) {
	n, err := w.sweep(ctx)
	if err != nil {
		return n, err
	}
	for {
		jobs, err := w.claim(ctx, claimBatch)
		if err != nil {
			return n, err
		}
		for _, j := range jobs {
			err := w.runJob(ctx, j)
			if IsCrash(err) {
				return n, err
			}
			if ferr := w.finishJob(ctx, j, err); ferr != nil {
				return n, ferr // the leases left end by themselves
			}
			n++
		}
		if len(jobs) < claimBatch {
			return n, nil
		}
	}
}

// sweep ends the withdrawals left behind before their hold: those whose
// code was never given fail when their authorization window closes, and
// those authorized whose hold was never made (the process died between
// the code and the hold, and the customer did not come back) get their
// hold now — once: its ledger reference is the withdrawal's. It returns
// how many it moved.
func (w *Withdrawals) sweep(ctx context.Context) (int, error) {
	s := w.s
	now := s.now()
	// At most once a minute (the window is 15 minutes).
	w.mu.Lock()
	if last := w.lastSweep; !last.IsZero() && !now.Before(last) && now.Sub(last) < time.Minute {
		w.mu.Unlock()
		return 0, nil
	}
	w.lastSweep = now
	w.mu.Unlock()
	var due bool
	if err := s.db.Read.QueryRowContext(ctx, qSweepDue, micros(now), micros(now.Add(-time.Minute))).Scan(&due); err != nil {
		return 0, okpay.Internal(err, "sweep withdrawals")
	}
	if !due {
		return 0, nil // the usual case: nothing to sweep, no write
	}
	n, err := affected(s.db.Write.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3
		WHERE status = 'awaiting_auth' AND type = 'withdrawal' AND expires_at > 0 AND expires_at <= $3`,
		EAuthExpired, "The withdrawal was not confirmed in time.", micros(now)))
	if err != nil {
		return 0, okpay.Internal(err, "sweep withdrawals")
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+txnCols+` FROM wallet_txns WHERE status = 'authorized' AND type = 'withdrawal' AND updated_at <= $1
		ORDER BY updated_at LIMIT 100`, micros(now.Add(-time.Minute)))
	if err != nil {
		return int(n), okpay.Internal(err, "sweep withdrawals")
	}
	var stuck []*Txn
	for rows.Next() {
		t, err := scanTxn(rows)
		if err != nil {
			rows.Close()
			return int(n), okpay.Internal(err, "sweep withdrawals")
		}
		stuck = append(stuck, t)
	}
	rows.Close()
	for _, t := range stuck {
		if _, err := w.hold(ctx, t, nil, identity.Meta{}); err != nil && !refusal(okpay.ErrorCode(err)) && !methodRefusal(okpay.ErrorCode(err)) {
			if IsCrash(err) {
				return int(n), err
			}
			w.log.Warn("wallet: hold a withdrawal left authorized", "txn", t.Ref(), "err", err)
			continue
		}
		n++
	}
	return int(n), nil
}

// qSweepDue says whether a withdrawal's authorization window has closed
// ($1: now) or one was left authorized without its hold ($2: a minute
// ago). Each test reads a partial index of the rows in its status
// (wallet_txns_awaiting, wallet_txns_authorized), not the table.
const qSweepDue = `SELECT EXISTS (SELECT 1 FROM wallet_txns WHERE status = 'awaiting_auth' AND expires_at > 0 AND expires_at <= $1 AND type = 'withdrawal')
	OR EXISTS (SELECT 1 FROM wallet_txns WHERE status = 'authorized' AND updated_at <= $2 AND type = 'withdrawal')`

// claim leases up to limit due jobs.
func (w *Withdrawals) claim(ctx context.Context, limit int) ([]job, error) {
	now := w.s.now()
	// A read first: most rounds find nothing, and need not take the
	// writer (SQLite's only one) for that.
	var one int
	err := w.s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM withdrawal_jobs WHERE done_at = 0 AND run_at <= $1 AND lease_until <= $1 LIMIT 1`, micros(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "look for withdrawal jobs")
	}
	lock := ""
	if w.s.db.Dialect == sqldb.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []job
	err = w.s.db.InTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE withdrawal_jobs SET lease_until = $1, leased_by = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM withdrawal_jobs WHERE done_at = 0 AND run_at <= $3 AND lease_until <= $3 ORDER BY run_at, id LIMIT $4`+lock+`)
			RETURNING id, txn_id, kind, attempts`, micros(now.Add(w.cfg.JobLease)), w.node, micros(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j job
			if err := rows.Scan(&j.id, &j.txnID, &j.kind, &j.attempts); err != nil {
				return err
			}
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, okpay.Internal(err, "claim withdrawal jobs")
	}
	return out, nil
}

// backoff is the pause before a failed job's next attempt: 10 s doubling
// up to 15 min.
func backoff(attempts int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempts && d < 15*time.Minute; i++ {
		d *= 2
	}
	return min(d, 15*time.Minute)
}

// finishJob records a job's outcome: done, due again later, or failed
// (retried with backoff). It changes nothing once the lease is lost.
func (w *Withdrawals) finishJob(ctx context.Context, j job, jobErr error) error {
	now := w.s.now()
	var err error
	var rt *retryAt
	switch {
	case jobErr == nil:
		_, err = w.s.db.Write.ExecContext(ctx, `UPDATE withdrawal_jobs SET done_at = $1, lease_until = 0, last_error = '' WHERE id = $2 AND leased_by = $3`,
			micros(now), j.id, w.node)
	case errors.As(jobErr, &rt):
		_, err = w.s.db.Write.ExecContext(ctx, `UPDATE withdrawal_jobs SET run_at = $1, lease_until = 0, last_error = $2 WHERE id = $3 AND leased_by = $4`,
			micros(rt.at), clip(rt.reason, 500), j.id, w.node)
	default:
		w.log.Warn("wallet: withdrawal job failed", "job", j.kind, "txn", txnRef(j.txnID), "attempt", j.attempts, "err", jobErr)
		_, err = w.s.db.Write.ExecContext(ctx, `UPDATE withdrawal_jobs SET run_at = $1, lease_until = 0, last_error = $2 WHERE id = $3 AND leased_by = $4`,
			micros(now.Add(backoff(j.attempts))), clip(jobErr.Error(), 500), j.id, w.node)
	}
	if err != nil {
		return okpay.Internal(err, "finish withdrawal job")
	}
	return nil
}

func txnRef(txnID int64) string { return (&Txn{ID: txnID}).Ref() }

func moneyOf(minor int64, c money.Currency) money.Amount { return money.New(minor, c) }

// runJob runs one job.
func (w *Withdrawals) runJob(ctx context.Context, j job) error {
	r, err := w.loadWD(ctx, w.s.db.Read, j.txnID)
	if err != nil {
		return err
	}
	if r == nil {
		return nil // nothing held: nothing to do
	}
	switch j.kind {
	case jobPayout:
		switch r.stage {
		case StageApproved:
			return w.submit(ctx, r)
		case StageSubmitting:
			return w.resolveUnknown(ctx, r)
		}
	case jobPoll:
		switch r.stage {
		case StageSubmitting:
			if err := w.resolveUnknown(ctx, r); err != nil {
				return err
			}
			if r, err = w.loadWD(ctx, w.s.db.Read, j.txnID); err != nil || r == nil || r.stage != StageSent {
				return err
			}
			return &retryAt{at: w.s.now().Add(w.cfg.PollEvery), reason: "the payout was sent"}
		case StageSent:
			p, err := w.s.psp.PayoutStatus(ctx, r.ref())
			if err != nil {
				return err
			}
			if !p.Status.Final() {
				return &retryAt{at: w.s.now().Add(w.cfg.PollEvery), reason: "the payout is still " + string(p.Status)}
			}
			return w.outcome(ctx, r, p.Status, p.ID, p.FailureCode, p.FailureMessage, nil)
		}
	case jobTimeout:
		if r.stage == StageReview || r.stage == StageApproved {
			if now := w.s.now(); now.Before(fromMicros(r.expires)) {
				return &retryAt{at: fromMicros(r.expires), reason: "not yet expired"}
			}
			return w.void(ctx, r, voidCause{code: FailExpired, reason: "The withdrawal was not processed in time; the money is back in your wallet.",
				from: []string{StageReview, StageApproved}})
		}
	case jobVoid:
		if r.stage == StageVoiding {
			return w.void(ctx, r, voidCause{code: r.voidCode, reason: r.voidReason, from: []string{StageVoiding}})
		}
	case jobSettle:
		if r.stage == StageCompleted {
			return w.settle(ctx, r)
		}
	}
	return nil
}

// staleOK turns "the withdrawal moved on meanwhile" into a finished job.
func staleOK(err error) error {
	if okpay.ErrorCode(err) == codeStale {
		return nil
	}
	return err
}

func (r *wdRow) ref() string { return txnRef(r.txnID) }

// submit is the payout job of an approved withdrawal: the payout method
// and the final gate are checked again, the withdrawal moves to
// submitting (committed), then the provider is asked to pay.
func (w *Withdrawals) submit(ctx context.Context, r *wdRow) error {
	s := w.s
	dest, _, err := w.methods.ForPayout(ctx, nil, r.userID, r.methodID)
	if err != nil {
		if methodRefusal(okpay.ErrorCode(err)) {
			return staleOK(w.void(ctx, r, voidCause{code: okpay.ErrorCode(err), reason: okpay.ErrorMessage(err), from: []string{StageApproved}}))
		}
		return err
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		// The final gate (TXN-03): read first, so a freeze committing
		// meanwhile either waits for this transaction or is seen by it.
		if err := s.money.CheckMoneyOut(ctx, tx, r.userID, true); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE withdrawals SET stage = 'submitting', submitted_at = $1, updated_at = $1 WHERE txn_id = $2 AND stage = 'approved'`,
			micros(now), r.txnID))
		if err != nil {
			return okpay.Internal(err, "submit withdrawal")
		}
		if n != 1 {
			return errStale
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'executing', updated_at = $1 WHERE id = $2 AND status = 'approved'`, micros(now), r.txnID); err != nil {
			return okpay.Internal(err, "submit withdrawal")
		}
		// Should the process die from here on, the poll finds out what
		// became of the payout.
		return w.enqueue(ctx, tx, r.txnID, jobPoll, now.Add(w.cfg.PollAfter), now)
	})
	switch code := okpay.ErrorCode(err); {
	case err == nil:
	case code == codeStale:
		return nil
	case refusal(code):
		return staleOK(w.void(ctx, r, voidCause{code: code, reason: okpay.ErrorMessage(err), from: []string{StageApproved}}))
	default:
		return err
	}
	r.stage = StageSubmitting
	if err := w.fail(FailpointAfterGate); err != nil {
		return err
	}
	return w.send(ctx, r, dest)
}

// send asks the provider to pay withdrawal r (in submitting) and records
// its answer.
func (w *Withdrawals) send(ctx context.Context, r *wdRow, dest psp.Destination) error {
	p, err := w.s.psp.Payout(ctx, psp.PayoutRequest{Reference: r.ref(), Destination: dest, Amount: moneyOf(r.amount, r.currency)})
	if err != nil {
		switch code := okpay.ErrorCode(err); code {
		case okpay.EInvalid, psp.ETokenNotFound, psp.EDeclined:
			// The provider refused the payout outright: nothing was paid.
			return staleOK(w.void(ctx, r, voidCause{code: "provider_" + strings.TrimPrefix(code, "psp_"), reason: okpay.ErrorMessage(err),
				from: []string{StageSubmitting}}))
		}
		return err // unknown: the withdrawal stays in submitting; the next attempt asks first
	}
	if err := w.fail(FailpointAfterSubmit); err != nil {
		return err
	}
	return w.recordPayout(ctx, r, p)
}

// resolveUnknown finds out what became of a withdrawal left in
// submitting: the provider is asked by reference, and the payout is
// submitted (again, under the same reference) only when the provider has
// none.
func (w *Withdrawals) resolveUnknown(ctx context.Context, r *wdRow) error {
	p, err := w.s.psp.PayoutStatus(ctx, r.ref())
	if okpay.ErrorCode(err) == okpay.ENotFound {
		dest, _, err := w.methods.ForPayout(ctx, nil, r.userID, r.methodID)
		if err != nil {
			if methodRefusal(okpay.ErrorCode(err)) {
				return staleOK(w.void(ctx, r, voidCause{code: okpay.ErrorCode(err), reason: okpay.ErrorMessage(err), from: []string{StageSubmitting}}))
			}
			return err
		}
		return w.send(ctx, r, dest)
	}
	if err != nil {
		return err
	}
	return w.recordPayout(ctx, r, p)
}

// recordPayout records the provider's answer to a payout request.
func (w *Withdrawals) recordPayout(ctx context.Context, r *wdRow, p psp.Payout) error {
	if p.Status.Final() {
		return w.outcome(ctx, r, p.Status, p.ID, p.FailureCode, p.FailureMessage, nil)
	}
	now := w.s.now()
	err := w.s.db.InTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `UPDATE withdrawals SET stage = 'sent', payout_id = $1, payout_status = $2, updated_at = $3
			WHERE txn_id = $4 AND stage = 'submitting'`, p.ID, string(p.Status), micros(now), r.txnID))
		if err != nil || n == 0 {
			return err // n == 0: an event settled it meanwhile
		}
		if _, err = tx.ExecContext(ctx, `UPDATE wallet_txns SET provider_ref = $1, updated_at = $2 WHERE id = $3`, p.ID, micros(now), r.txnID); err != nil {
			return err
		}
		// The poll must be there to find the outcome should no webhook
		// come: queued at the gate, revived here if it already ended.
		_, err = tx.ExecContext(ctx, `INSERT INTO withdrawal_jobs (id, txn_id, kind, run_at, created_at) VALUES ($1, $2, 'poll', $3, $4)
			ON CONFLICT (txn_id, kind) DO UPDATE SET run_at = excluded.run_at, done_at = 0, lease_until = 0 WHERE withdrawal_jobs.done_at <> 0`,
			w.s.ids.Next(), r.txnID, micros(now.Add(w.cfg.PollAfter)), micros(now))
		return err
	})
	if err != nil {
		return okpay.Internal(err, "record payout")
	}
	return nil
}

// outcome applies the provider's final answer about withdrawal r's
// payout: succeeded posts the hold, failed voids it. ev is the webhook
// event that said so (nil from a poll or the provider's answer).
func (w *Withdrawals) outcome(ctx context.Context, r *wdRow, st psp.Status, payoutID, failCode, failMsg string, ev *psp.Event) error {
	if err := w.fail(FailpointAfterResult); err != nil {
		return err
	}
	switch st {
	case psp.StatusSucceeded:
		return staleOK(w.post(ctx, r, payoutID, ev))
	case psp.StatusFailed:
		if failCode == "" {
			failCode = "payout_failed"
		}
		if failMsg == "" {
			failMsg = "The payout did not go through."
		}
		return staleOK(w.void(ctx, r, voidCause{code: "provider_" + strings.TrimPrefix(failCode, "psp_"), reason: failMsg,
			from: []string{StageSubmitting, StageSent}, ev: ev, payoutID: payoutID}))
	}
	return nil
}

// post completes withdrawal r: the hold is posted (one ledger resolution,
// whose hook moves the withdrawal to completed, queues the settlement and
// the confirmation notice).
func (w *Withdrawals) post(ctx context.Context, r *wdRow, payoutID string, ev *psp.Event) error {
	s := w.s
	owner, err := s.id.LoadParty(ctx, r.userID)
	if err != nil {
		return err
	}
	amount, fee := moneyOf(r.amount, r.currency), moneyOf(r.fee, r.currency)
	notice, err := s.id.PrepareNotice(owner, identity.MoneyNotice{Kind: NoticeWithdrawalCompleted, Event: r.ref(), Channels: w.cfg.Channels[NoticeWithdrawalCompleted],
		FreezeLink: true, Data: map[string]any{"Amount": amount, "Fee": fee, "Method": paymethod.Label(r.label)}})
	if err != nil {
		return err
	}
	now := s.now()
	hook := func(ctx context.Context, tx *sql.Tx, entryID int64) error {
		if ev != nil {
			if err := w.markEvent(ctx, tx, ev, now); err != nil {
				return err
			}
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE withdrawals SET stage = 'completed', payout_id = CASE WHEN $1 = '' THEN payout_id ELSE $1 END,
			payout_status = 'succeeded', updated_at = $2 WHERE txn_id = $3 AND stage IN ('submitting','sent')`, payoutID, micros(now), r.txnID))
		if err != nil {
			return okpay.Internal(err, "complete withdrawal")
		}
		if n != 1 {
			return errStale
		}
		n, err = affected(tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'completed', settle_entry_id = $1,
			provider_ref = CASE WHEN $2 = '' THEN provider_ref ELSE $2 END, updated_at = $3 WHERE id = $4 AND status = 'executing'`,
			entryID, payoutID, micros(now), r.txnID))
		if err != nil {
			return okpay.Internal(err, "complete withdrawal")
		}
		if n != 1 {
			return errStale
		}
		if err := w.closeJobs(ctx, tx, r.txnID, now); err != nil {
			return err
		}
		if err := w.enqueue(ctx, tx, r.txnID, jobSettle, now, now); err != nil {
			return err
		}
		return s.money.WriteNotices(ctx, tx, notice)
	}
	res, err := s.ledger.Submit(ctx, ledger.Op{Resolve: withdrawalPost(r.txnID, r.holdEntry), Hook: hook}, nil)
	switch code := okpay.ErrorCode(err); {
	case err == nil && res.Existing:
		return w.ignoreEvent(ctx, ev)
	case err == nil:
		s.id.WakeNotices()
		w.Wake()
		return nil
	case code == codeSeen:
		return nil
	case code == codeStale || code == ledger.EPendingAlreadyResolved:
		if ev != nil {
			w.log.Warn("wallet: provider reports a payout succeeded for a withdrawal already settled", "txn", r.ref(), "event", ev.ID)
		}
		if err := w.ignoreEvent(ctx, ev); err != nil {
			return err
		}
		return errStale
	}
	return err
}

// voidCause says why and from which stages a withdrawal's hold is voided.
type voidCause struct {
	code, reason string
	from         []string
	// status is the transaction's new status (StatusFailed by default;
	// StatusRejected for a reviewer's rejection).
	status   Status
	ev       *psp.Event
	payoutID string
	// extra runs in the void's transaction (a reviewer's decision and
	// audit record).
	extra func(ctx context.Context, tx *sql.Tx, now time.Time) error
}

// void voids withdrawal r's hold: the money goes back to the wallet, the
// withdrawal ends (failed, or rejected), the customer is told why. It
// fails with codeStale when r is no longer in one of cause.from (someone
// else resolved it).
func (w *Withdrawals) void(ctx context.Context, r *wdRow, cause voidCause) error {
	s := w.s
	if cause.status == "" {
		cause.status = StatusFailed
	}
	owner, err := s.id.LoadParty(ctx, r.userID)
	if err != nil {
		return err
	}
	amount, fee := moneyOf(r.amount, r.currency), moneyOf(r.fee, r.currency)
	shown := &Txn{FailureCode: cause.code, FailureReason: cause.reason}
	notice, err := s.id.PrepareNotice(owner, identity.MoneyNotice{Kind: NoticeWithdrawalFailed, Event: r.ref(), Channels: w.cfg.Channels[NoticeWithdrawalFailed],
		Data: map[string]any{"Amount": amount, "Total": moneyOf(r.amount+r.fee, r.currency), "Fee": fee, "Method": paymethod.Label(r.label),
			"Reason": s.FailureText(shown, owner.Lang())}})
	if err != nil {
		return err
	}
	now := s.now()
	from := "('" + strings.Join(cause.from, "','") + "')"
	hook := func(ctx context.Context, tx *sql.Tx, entryID int64) error {
		if cause.ev != nil {
			if err := w.markEvent(ctx, tx, cause.ev, now); err != nil {
				return err
			}
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE withdrawals SET stage = 'voided', void_code = $1, void_reason = $2,
			payout_id = CASE WHEN $3 = '' THEN payout_id ELSE $3 END, updated_at = $4 WHERE txn_id = $5 AND stage IN `+from,
			cause.code, clip(cause.reason, 500), cause.payoutID, micros(now), r.txnID))
		if err != nil {
			return okpay.Internal(err, "void withdrawal")
		}
		if n != 1 {
			return errStale
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wallet_txns SET status = $1, failure_code = $2, failure_reason = $3, settle_entry_id = $4,
			provider_ref = CASE WHEN $5 = '' THEN provider_ref ELSE $5 END, updated_at = $6 WHERE id = $7 AND status IN `+openStatuses,
			string(cause.status), cause.code, clip(cause.reason, 500), entryID, cause.payoutID, micros(now), r.txnID); err != nil {
			return okpay.Internal(err, "void withdrawal")
		}
		if cause.extra != nil {
			if err := cause.extra(ctx, tx, now); err != nil {
				return err
			}
		}
		if err := w.closeJobs(ctx, tx, r.txnID, now); err != nil {
			return err
		}
		return s.money.WriteNotices(ctx, tx, notice)
	}
	res, err := s.ledger.Submit(ctx, ledger.Op{Resolve: withdrawalVoid(r.txnID, r.holdEntry), Hook: hook}, nil)
	switch code := okpay.ErrorCode(err); {
	case err == nil && res.Existing:
		if err := w.ignoreEvent(ctx, cause.ev); err != nil {
			return err
		}
		return errStale
	case err == nil:
		s.id.WakeNotices()
		return nil
	case code == codeSeen:
		return nil
	case code == codeStale || code == ledger.EPendingAlreadyResolved:
		if err := w.ignoreEvent(ctx, cause.ev); err != nil {
			return err
		}
		return errStale
	}
	return err
}

// settle books the settlement entry of a completed withdrawal (once: its
// reference is the withdrawal's).
func (w *Withdrawals) settle(ctx context.Context, r *wdRow) error {
	s := w.s
	if err := w.fail(FailpointBeforeSettlement); err != nil {
		return err
	}
	cur := r.currency
	clearing, err := s.SystemAccount(ctx, SysWithdrawals, cur)
	if err != nil {
		return err
	}
	ext, err := s.externalAccount(ctx, cur)
	if err != nil {
		return err
	}
	feePending, err := s.SystemAccount(ctx, SysFeePending, cur)
	if err != nil {
		return err
	}
	feeRevenue, err := s.SystemAccount(ctx, SysFeeRevenue, cur)
	if err != nil {
		return err
	}
	_, err = s.ledger.Post(ctx, *withdrawalSettleEntry(r.txnID, clearing, ext, feePending, feeRevenue, moneyOf(r.amount, cur), moneyOf(r.fee, cur)))
	return err
}

// markEvent records a provider event as applied inside tx, or fails with
// errSeen when it was applied before.
func (w *Withdrawals) markEvent(ctx context.Context, tx *sql.Tx, ev *psp.Event, now time.Time) error {
	n, err := affected(tx.ExecContext(ctx, qInsertEvent, w.s.psp.Name(), ev.ID, ev.Type, ev.Reference, eventApplied, micros(now)))
	if err != nil {
		return okpay.Internal(err, "record event")
	}
	if n == 0 {
		return errSeen
	}
	return nil
}

// ignoreEvent remembers an event that changed nothing (nil: none).
func (w *Withdrawals) ignoreEvent(ctx context.Context, ev *psp.Event) error {
	return w.s.recordEvent(ctx, ev, eventIgnored)
}

// ApplyProviderEvent applies a payout webhook event of the provider whose
// signature the caller has verified (psp.Verify), for a withdrawal: a
// payout.succeeded completes it, a payout.failed fails it and returns the
// money. Events are applied at most once (by id) and only forward (a
// final withdrawal never changes); the amount paid is the withdrawal's
// own, never the event's (TXN-06). Events of other types or references
// are left alone (nil) — the wallet's ApplyProviderEvent and the payment
// methods take theirs — so every handler can be offered every event. An
// error means "not now": answer 5xx so the provider sends it again.
func (w *Withdrawals) ApplyProviderEvent(ctx context.Context, ev psp.Event) error {
	if !strings.HasPrefix(ev.Type, "payout.") {
		return nil
	}
	id, ok := ParseTxnRef(ev.Reference)
	if !ok {
		return nil
	}
	if ev.ID == "" || len(ev.ID) > 128 || len(ev.Reference) > 256 || len(ev.Type) > 64 {
		return okpay.Invalid(map[string]string{"event": "The event has no valid id."})
	}
	var one int
	err := w.s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM wallet_provider_events WHERE provider = $1 AND event_id = $2`, w.s.psp.Name(), ev.ID).Scan(&one)
	if err == nil {
		return nil // seen
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return okpay.Internal(err, "read events")
	}
	r, err := w.loadWD(ctx, w.s.db.Read, id)
	if err != nil {
		return err
	}
	if r == nil {
		return w.ignoreEvent(ctx, &ev)
	}
	if ev.Amount.Minor != 0 && (ev.Amount.Minor != r.amount || ev.Amount.Currency != r.currency) {
		w.log.Warn("wallet: provider event amount differs from the withdrawal's; the withdrawal's is used", "txn", r.ref(), "event", ev.ID)
	}
	if r.stage != StageSubmitting && r.stage != StageSent {
		return w.ignoreEvent(ctx, &ev)
	}
	switch ev.Type {
	case psp.EventPayoutSucceeded:
		return w.outcome(ctx, r, psp.StatusSucceeded, ev.ObjectID, "", "", &ev)
	case psp.EventPayoutFailed:
		return w.outcome(ctx, r, psp.StatusFailed, ev.ObjectID, ev.FailureCode, ev.FailureMessage, &ev)
	}
	return w.ignoreEvent(ctx, &ev)
}

// FreezeHook is identity's freeze hook (register it with
// identity.Service.OnFreeze): inside the freeze's transaction it marks the
// account's withdrawals not yet sent to the provider (in review or
// approved) as voiding and queues their void jobs, which void the holds
// through the ledger once the freeze has committed (the money goes back
// to the frozen wallet; RSK-04). It never submits to the ledger itself:
// the freeze's transaction holds the user row (and on SQLite the only
// writer), which the ledger's gate needs.
func (w *Withdrawals) FreezeHook(ctx context.Context, tx *sql.Tx, userID int64) error {
	now := w.s.now()
	rows, err := tx.QueryContext(ctx, `UPDATE withdrawals SET stage = 'voiding', void_code = $1, void_reason = $2, updated_at = $3
		WHERE user_id = $4 AND stage IN ('review','approved') RETURNING txn_id`,
		identity.EAccountFrozen, "Your account was frozen: the withdrawal was stopped and the money is back in your wallet.", micros(now), userID)
	if err != nil {
		return okpay.Internal(err, "stop withdrawals")
	}
	var marked []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return okpay.Internal(err, "stop withdrawals")
		}
		marked = append(marked, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return okpay.Internal(err, "stop withdrawals")
	}
	for _, id := range marked {
		if err := w.enqueue(ctx, tx, id, jobVoid, now, now); err != nil {
			return err
		}
	}
	if len(marked) > 0 {
		w.Wake() // early at worst: the runner finds the jobs at its next round
	}
	return nil
}
