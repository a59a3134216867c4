package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// Batches of the worker.
const (
	settleBatch = 100
	claimBatch  = 16
)

// maxErrorLen bounds last_error.
const maxErrorLen = 300

// queueEvent assigns e an id and stores it in the outbox, due now, in tx.
func (s *Sandbox) queueEvent(ctx context.Context, tx *sql.Tx, e psp.Event) error {
	n := s.ids.Next()
	e.ID = ids.Format("evt", n)
	body, err := psp.EncodeEvent(e)
	if err != nil {
		return err
	}
	now := micros(s.clock.Now())
	_, err = tx.ExecContext(ctx, `INSERT INTO psp_sandbox_events
		(id, event_id, type, reference, object_id, body, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		n, e.ID, e.Type, e.Reference, e.ObjectID, string(body), now)
	return err
}

// settleDue moves the charges and payouts whose time has come to their
// final status and queues their events, each in the transaction that
// changes the status (so an event is queued exactly once, whichever
// worker or caller settles it).
func (s *Sandbox) settleDue(ctx context.Context) error {
	for {
		now := s.clock.Now()
		var due int
		err := s.db.Read.QueryRowContext(ctx, `SELECT CASE WHEN
			EXISTS (SELECT 1 FROM psp_sandbox_charges WHERE status = 'pending' AND settle_at <= $1) OR
			EXISTS (SELECT 1 FROM psp_sandbox_payouts WHERE status = 'pending' AND settle_at <= $1)
			THEN 1 ELSE 0 END`, micros(now)).Scan(&due)
		if err != nil {
			return okpay.Internal(err, "sandbox: look for due charges and payouts")
		}
		if due == 0 {
			return nil
		}
		var n int
		err = s.db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = s.settleIn(ctx, tx, now)
			return err
		})
		if err != nil {
			return okpay.Internal(err, "sandbox: settle charges and payouts")
		}
		s.poke()
		if n < settleBatch {
			return nil
		}
	}
}

// settleIn settles up to settleBatch charges and as many payouts.
func (s *Sandbox) settleIn(ctx context.Context, tx *sql.Tx, now time.Time) (int, error) {
	at := micros(now)
	dueIDs := func(table string) ([]int64, error) {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM `+table+` WHERE status = 'pending' AND settle_at <= $1
			ORDER BY settle_at, id LIMIT `+fmt.Sprint(settleBatch), at)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			out = append(out, id)
		}
		return out, rows.Err()
	}
	charges, err := dueIDs("psp_sandbox_charges")
	if err != nil {
		return 0, err
	}
	for _, id := range charges {
		res, err := tx.ExecContext(ctx, `UPDATE psp_sandbox_charges SET status = outcome, updated_at = $2
			WHERE id = $1 AND status = 'pending'`, id, at)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return 0, err
			}
			continue // another worker was first
		}
		c, err := scanCharge(tx.QueryRowContext(ctx, `SELECT `+chargeColumns+` FROM psp_sandbox_charges WHERE id = $1`, id))
		if err != nil {
			return 0, err
		}
		e := psp.Event{Type: psp.EventChargeSucceeded, Created: now, Reference: c.reference, ObjectID: chargeID(c.id),
			Status: c.status, Amount: c.amount}
		if c.status == psp.StatusFailed {
			e.Type, e.FailureCode, e.FailureMessage = psp.EventChargeFailed, c.failureCode, failureMessages[c.failureCode]
		}
		if err := s.queueEvent(ctx, tx, e); err != nil {
			return 0, err
		}
	}
	payouts, err := dueIDs("psp_sandbox_payouts")
	if err != nil {
		return 0, err
	}
	for _, id := range payouts {
		res, err := tx.ExecContext(ctx, `UPDATE psp_sandbox_payouts SET status = outcome, updated_at = $2
			WHERE id = $1 AND status = 'pending'`, id, at)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return 0, err
			}
			continue
		}
		p, err := scanPayout(tx.QueryRowContext(ctx, `SELECT `+payoutColumns+` FROM psp_sandbox_payouts WHERE id = $1`, id))
		if err != nil {
			return 0, err
		}
		e := psp.Event{Type: psp.EventPayoutSucceeded, Created: now, Reference: p.reference, ObjectID: payoutID(p.id),
			Status: p.status, Amount: p.amount}
		if p.status == psp.StatusFailed {
			e.Type, e.FailureCode, e.FailureMessage = psp.EventPayoutFailed, p.failureCode, failureMessages[p.failureCode]
		}
		if err := s.queueEvent(ctx, tx, e); err != nil {
			return 0, err
		}
	}
	return max(len(charges), len(payouts)), nil
}

// claimedEvent is an outbox row leased by this worker.
type claimedEvent struct {
	id       int64
	eventID  string
	typ      string
	body     string
	attempts int
	until    int64 // the lease, which identifies this claim
}

// deliverDue claims due events and delivers them; it returns how many it
// claimed.
func (s *Sandbox) deliverDue(ctx context.Context) (int, error) {
	if s.hook == "" {
		return 0, nil
	}
	batch, err := s.claim(ctx)
	if err != nil {
		return 0, err
	}
	// Concurrently, so that the whole batch ends within the lease (each
	// attempt is cut off at a third of it).
	var wg sync.WaitGroup
	errs := make([]error, len(batch))
	for i, c := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.deliver(ctx, c)
		}()
	}
	wg.Wait()
	return len(batch), errors.Join(errs...)
}

// claim leases up to claimBatch due events. On PostgreSQL, FOR UPDATE
// SKIP LOCKED lets concurrent workers take disjoint rows; on SQLite the
// single writer serialises claims.
func (s *Sandbox) claim(ctx context.Context) ([]claimedEvent, error) {
	now := s.clock.Now()
	until := micros(now.Add(s.lease))
	q := `SELECT id, event_id, type, body, attempts FROM psp_sandbox_events
		WHERE status = 'pending' AND next_attempt_at <= $1 AND locked_until <= $1
		ORDER BY next_attempt_at, id LIMIT ` + fmt.Sprint(claimBatch)
	if s.db.Dialect == sqldb.Postgres {
		q += " FOR UPDATE SKIP LOCKED"
	}
	var out []claimedEvent
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, q, micros(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := claimedEvent{until: until}
			if err := rows.Scan(&c.id, &c.eventID, &c.typ, &c.body, &c.attempts); err != nil {
				return err
			}
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for _, c := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE psp_sandbox_events SET locked_until = $2, locked_by = $3 WHERE id = $1`,
				c.id, until, s.node); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: claim events: %w", err)
	}
	return out, nil
}

// deliver POSTs one claimed event and records the outcome.
func (s *Sandbox) deliver(ctx context.Context, c claimedEvent) error {
	sendCtx, cancel := context.WithTimeout(ctx, s.lease/3)
	code, err := s.post(sendCtx, []byte(c.body))
	cancel()
	if err != nil && ctx.Err() != nil {
		// Stopping: the outcome is unknown. Keep the lease; the event goes
		// out again once it expires (the consumer drops the copy by id).
		return nil
	}
	return s.record(ctx, c, code, err)
}

// post sends body to the webhook URL, signed now; it returns the HTTP
// status and an error unless the status is 2xx.
func (s *Sandbox) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.hook, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "OKPay-Sandbox/1")
	req.Header.Set(psp.SignatureHeader, psp.Sign(s.secret, s.clock.Now(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the webhook endpoint answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// record stores the outcome of a delivery attempt. It runs even when ctx
// has just been cancelled, so that a delivered event is not sent again.
func (s *Sandbox) record(ctx context.Context, c claimedEvent, code int, sendErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := s.clock.Now()
	attempts := c.attempts + 1
	var q string
	var args []any
	if sendErr == nil {
		// Only while this claim holds the lease: a redelivery asked for
		// while this attempt was in flight (Redeliver clears the lease)
		// must still go out, and a worker that took over an expired
		// lease delivers again (webhooks are at least once).
		q = `UPDATE psp_sandbox_events SET status = 'delivered', attempts = attempts + 1, delivered_at = $2,
				last_status = $3, last_error = '', locked_until = 0
			WHERE id = $1 AND status = 'pending' AND locked_by = $4 AND locked_until = $5`
		args = []any{c.id, micros(now), code, s.node, c.until}
	} else {
		status := "pending"
		if attempts >= s.maxTry {
			status = "failed"
		}
		msg := truncate(sendErr.Error(), maxErrorLen)
		s.log.Warn("sandbox: webhook delivery failed", "event", c.eventID, "type", c.typ, "attempt", attempts,
			"status", status, "err", msg)
		// Only while this claim holds the lease: another worker may have
		// taken the event over (and delivered it) since.
		q = `UPDATE psp_sandbox_events SET status = $2, attempts = attempts + 1, next_attempt_at = $3,
				last_status = $4, last_error = $5, locked_until = 0
			WHERE id = $1 AND status = 'pending' AND locked_by = $6 AND locked_until = $7`
		args = []any{c.id, status, micros(now.Add(s.backoff(attempts))), code, msg, s.node, c.until}
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sandbox: record the delivery of %s: %w", c.eventID, err)
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Redeliver queues an event for delivery again now, whatever its status
// (a delivered event is sent again with the same id: the consumer must
// drop it as a replay). An unknown event is okpay.ENotFound.
func (s *Sandbox) Redeliver(ctx context.Context, eventID string) error {
	var n int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE psp_sandbox_events SET status = 'pending', attempts = 0,
			next_attempt_at = $2, locked_until = 0 WHERE event_id = $1`, eventID, micros(s.clock.Now()))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return okpay.Internal(err, "sandbox: redeliver an event")
	}
	if n == 0 {
		return okpay.Errorf(okpay.ENotFound, "There is no such event.")
	}
	s.poke()
	return nil
}

// Delivery is an event of the webhook outbox, as the sandbox page shows
// it.
type Delivery struct {
	EventID     string
	Type        string
	Reference   string
	ObjectID    string
	Status      string // pending, delivered, failed
	Attempts    int
	LastStatus  int // HTTP status of the last attempt (0: none or no answer)
	LastError   string
	NextAttempt time.Time
	Created     time.Time
	Delivered   time.Time // zero until delivered
	Body        string
}

// Deliveries returns the latest limit events of the outbox, newest first.
func (s *Sandbox) Deliveries(ctx context.Context, limit int) ([]Delivery, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT event_id, type, reference, object_id, status, attempts, last_status,
		last_error, next_attempt_at, created_at, delivered_at, body
		FROM psp_sandbox_events ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, okpay.Internal(err, "sandbox: list events")
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var next, created, delivered int64
		if err := rows.Scan(&d.EventID, &d.Type, &d.Reference, &d.ObjectID, &d.Status, &d.Attempts, &d.LastStatus,
			&d.LastError, &next, &created, &delivered, &d.Body); err != nil {
			return nil, okpay.Internal(err, "sandbox: list events")
		}
		d.NextAttempt, d.Created = time.UnixMicro(next).UTC(), time.UnixMicro(created).UTC()
		if delivered != 0 {
			d.Delivered = time.UnixMicro(delivered).UTC()
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "sandbox: list events")
	}
	return out, nil
}

// amountOf builds an amount from stored columns.
func amountOf(minor int64, cur string) money.Amount { return money.New(minor, money.Currency(cur)) }
