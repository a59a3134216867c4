package notify

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// stageBundle commits msgs sealed as one bundle, or rolls them back with
// fail.
func (e *env) stageBundle(t testing.TB, fail error, msgs ...Message) error {
	t.Helper()
	ctx := context.Background()
	sealed, err := e.outbox.Seal(msgs...)
	if err != nil {
		t.Fatal(err)
	}
	return e.db.InTx(ctx, func(tx *sql.Tx) error {
		var ins rowsInserter
		e.outbox.StageBundle(&ins, sealed...)
		e.outbox.StageBundle(&ins) // nothing to stage: no row
		if err := ins.flush(ctx, tx); err != nil {
			return err
		}
		return fail
	})
}

// bundles counts the bundles left.
func (e *env) bundles(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM notification_bundles`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// StageBundle commits an event's messages as one row; until a dispatcher
// sends them they count as pending and due (NOT-03's lag included), a
// rolled-back event leaves none, and the round that takes them sends them
// and writes each to the outbox once, in its final state: sent, failed
// when sealed without a destination, a dedupe key already used skipped.
func TestStageBundle(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		rec := newRecorder()
		d := e.dispatcher(map[string]Sender{ChannelEmail: rec, ChannelSMS: rec}, DispatcherOptions{})
		e.enqueue(t, email("w-1:email", 7))
		runOnce(t, d)
		e.clk.Advance(time.Second)
		msgs := []Message{email("b-1:email", 8), {DedupeKey: "b-2:sms", UserID: 8, Channel: ChannelSMS, Kind: "k", To: "+8613800138000", Body: "sent"},
			{DedupeKey: "b-3:sms", UserID: 9, Channel: ChannelSMS, Kind: "k", Body: "no phone"},
			email("w-1:email", 7)} // a dedupe key already used: skipped
		abort := errors.New("event failed")
		if err := e.stageBundle(t, abort, msgs...); !errors.Is(err, abort) {
			t.Fatal(err)
		}
		if p, _ := e.outbox.Pending(ctx); p != 0 || e.bundles(t) != 0 {
			t.Fatalf("rolled back: %d pending, %d bundles", p, e.bundles(t))
		}
		if err := e.stageBundle(t, nil, msgs...); err != nil {
			t.Fatal(err)
		}
		if e.bundles(t) != 1 {
			t.Fatalf("%d bundles, want one", e.bundles(t))
		}
		e.clk.Advance(5 * time.Second)
		st, err := e.outbox.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Second); st.Pending != 4 || st.Due != 4 || !st.OldestDue.Equal(want) {
			t.Fatalf("stats with a bundle waiting: %+v, want 4 pending and due since %v", st, want)
		}
		if p, _ := e.outbox.Pending(ctx); p != 4 {
			t.Fatalf("pending with a bundle waiting: %d, want 4", p)
		}

		if n := runOnce(t, d); n != 2 {
			t.Fatalf("sent %d, want the bundle's two with a destination", n)
		}
		if e.bundles(t) != 0 {
			t.Fatalf("%d bundles left", e.bundles(t))
		}
		sentAt := e.clk.Now().UnixMicro()
		for key, want := range map[string]row{
			"b-1:email": {Status: StatusSent, Attempts: 1, NextAttempt: t0.Add(time.Second).UnixMicro(), SentAt: sql.NullInt64{Int64: sentAt, Valid: true}},
			"b-2:sms":   {Status: StatusSent, Attempts: 1, NextAttempt: t0.Add(time.Second).UnixMicro(), SentAt: sql.NullInt64{Int64: sentAt, Valid: true}},
			"b-3:sms":   {Status: StatusFailed, NextAttempt: t0.Add(time.Second).UnixMicro(), LastError: noDestination},
		} {
			if got := e.row(t, key); got != want {
				t.Errorf("%s: %+v, want %+v", key, got, want)
			}
		}
		if r := e.row(t, "w-1:email"); r.Status != StatusSent || r.Attempts != 1 {
			t.Fatalf("w-1:email: %+v", r)
		}
		got := rec.keys()
		slices.Sort(got)
		if !reflect.DeepEqual(got, []string{"b-1:email", "b-2:sms", "w-1:email"}) {
			t.Fatalf("sent %v", got)
		}
		for _, m := range rec.sent {
			if m.DedupeKey == "b-2:sms" && (m.To != "+8613800138000" || m.Body != "sent" || m.UserID != 8 || m.Kind != "k") {
				t.Fatalf("bundled SMS opened as %+v", m)
			}
		}
		if st, err := e.outbox.Stats(ctx); err != nil || st.Pending != 0 || st.Failed != 1 || !st.OldestDue.IsZero() {
			t.Fatalf("stats after: %+v (%v)", st, err)
		}
		// A bundle of known messages only is dropped, nothing sent.
		if err := e.stageBundle(t, nil, email("b-1:email", 8)); err != nil {
			t.Fatal(err)
		}
		if n := runOnce(t, d); n != 0 || e.bundles(t) != 0 || len(rec.keys()) != 3 {
			t.Fatalf("a bundle of a known message: sent %d, %d bundles left, %d sends", n, e.bundles(t), len(rec.keys()))
		}
	})
}

// A bundled message keeps its user's order: behind an older unsent message
// of its user and channel (here in backoff), or behind an earlier bundled
// one in the same round, it is written to the outbox as sealed and claimed
// in its turn; a one-time code does not wait. A failed send is written
// waiting for its retry, and a bundle whose outcome is unknown (shutting
// down) stays, to be sent again when its lease ends.
func TestBundleOrderRetryAndShutdown(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		rec := newRecorder()
		rec.fail = func(m Message, call int) error {
			if m.DedupeKey == "old:email" && call == 1 || m.DedupeKey == "x-1:sms" && call == 1 {
				return errors.New("provider down")
			}
			return nil
		}
		d := e.dispatcher(map[string]Sender{ChannelEmail: rec, ChannelSMS: rec}, DispatcherOptions{})
		e.enqueue(t, email("old:email", 7))
		runOnce(t, d) // fails: in backoff for 10 s
		if err := e.stageBundle(t, nil, email("new:email", 7), Message{DedupeKey: "code_1:email", UserID: 7, Channel: ChannelEmail, Kind: "code_login", To: "a@b.c", Subject: "code", Body: "123456"},
			Message{DedupeKey: "x-1:sms", UserID: 8, Channel: ChannelSMS, Kind: "k", To: "+8613800138000", Body: "one"}); err != nil {
			t.Fatal(err)
		}
		if err := e.stageBundle(t, nil, Message{DedupeKey: "x-2:sms", UserID: 8, Channel: ChannelSMS, Kind: "k", To: "+8613800138000", Body: "two"}); err != nil {
			t.Fatal(err)
		}
		runOnce(t, d)
		if got := rec.keys(); !reflect.DeepEqual(got, []string{"code_1:email"}) {
			t.Fatalf("sent %v, want only the code", got)
		}
		if r := e.row(t, "new:email"); r.Status != StatusPending || r.Attempts != 0 {
			t.Fatalf("new:email behind old:email: %+v", r)
		}
		if r := e.row(t, "x-1:sms"); r.Status != StatusPending || r.Attempts != 1 || r.LastError == "" || r.NextAttempt != e.clk.Now().Add(10*time.Second).UnixMicro() {
			t.Fatalf("x-1:sms after a failed send: %+v", r)
		}
		if r := e.row(t, "x-2:sms"); r.Status != StatusPending || r.Attempts != 0 {
			t.Fatalf("x-2:sms behind x-1:sms: %+v", r)
		}
		if e.bundles(t) != 0 {
			t.Fatalf("%d bundles left", e.bundles(t))
		}
		e.clk.Advance(11 * time.Second)
		runOnce(t, d)
		runOnce(t, d)
		if got := rec.keys(); !reflect.DeepEqual(got, []string{"code_1:email", "old:email", "x-1:sms", "new:email", "x-2:sms"}) &&
			!reflect.DeepEqual(got, []string{"code_1:email", "x-1:sms", "old:email", "new:email", "x-2:sms"}) &&
			!reflect.DeepEqual(got, []string{"code_1:email", "old:email", "x-1:sms", "x-2:sms", "new:email"}) &&
			!reflect.DeepEqual(got, []string{"code_1:email", "x-1:sms", "old:email", "x-2:sms", "new:email"}) {
			t.Fatalf("sent %v: each user's in order", got)
		}

		// Shutting down while a bundle is being sent: nothing recorded, the
		// bundle stays leased, and is sent again after the lease.
		block := make(chan struct{})
		slow := senderFunc(func(ctx context.Context, m Message) error {
			close(block)
			<-ctx.Done()
			return ctx.Err()
		})
		d2 := e.dispatcher(map[string]Sender{ChannelEmail: slow}, DispatcherOptions{})
		if err := e.stageBundle(t, nil, email("late:email", 9)); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() { <-block; cancel() }()
		d2.RunOnce(cctx)
		if e.bundles(t) != 1 {
			t.Fatalf("bundle of an unknown outcome: %d left, want 1", e.bundles(t))
		}
		if runOnce(t, d) != 0 {
			t.Fatal("a leased bundle was sent before its lease ended")
		}
		e.clk.Advance(31 * time.Second)
		if runOnce(t, d) != 1 || e.row(t, "late:email").Status != StatusSent || e.bundles(t) != 0 {
			t.Fatalf("after the lease: %+v, %d bundles", e.row(t, "late:email"), e.bundles(t))
		}
	})
}

// Dispatchers running at once send every bundled message once (PostgreSQL:
// SKIP LOCKED; SQLite: one writer), and a bundle that cannot be read stays
// in place and holds back no other.
func TestBundleDispatchers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		const n = 300
		var ins rowsInserter
		for i := range n {
			ms, err := e.outbox.Seal(email("u-"+strconv.Itoa(i)+":email", int64(i)), Message{DedupeKey: "u-" + strconv.Itoa(i) + ":sms", UserID: int64(i),
				Channel: ChannelSMS, Kind: "k", To: "+8613800138000", Body: "hi"})
			if err != nil {
				t.Fatal(err)
			}
			e.outbox.StageBundle(&ins, ms...)
		}
		ins.Insert(bundleInto, "", int64(1), 1, []byte{bundleVersion, 0xff}, int64(1)) // unreadable, and oldest
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return ins.flush(ctx, tx) }); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			d := e.dispatcher(map[string]Sender{ChannelEmail: rec, ChannelSMS: rec}, DispatcherOptions{Batch: 16})
			go func() {
				defer wg.Done()
				if _, err := d.RunOnce(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.sent) != 2*n || len(rec.calls) != 2*n {
			t.Fatalf("%d sends of %d keys, want %d once each", len(rec.sent), len(rec.calls), 2*n)
		}
		var sent int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM notification_outbox WHERE status = 'sent' AND attempts = 1`).Scan(&sent); err != nil || sent != 2*n {
			t.Fatalf("%d outbox rows sent (%v), want %d", sent, err, 2*n)
		}
		var left int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM notification_bundles WHERE id = 1`).Scan(&left); err != nil || left != 1 || e.bundles(t) != 1 {
			t.Fatalf("the unreadable bundle: %d left of %d (%v)", left, e.bundles(t), err)
		}
	})
}

// encodeBundle and decodeBundle round-trip every field; truncated or
// corrupted data is refused, never read past its end.
func FuzzBundle(f *testing.F) {
	f.Add("k:email", "email", "kind", "pending", "", []byte("sealed"), int64(1), int64(2), int64(3), 5)
	f.Add("", "", "", "", "no destination", []byte{}, int64(-1), int64(0), int64(1<<62), 0)
	f.Fuzz(func(t *testing.T, key, channel, kind, status, lastErr string, sealed []byte, id, user, at int64, cut int) {
		ms := []Sealed{{id: id, dedupeKey: key, userID: user, channel: channel, kind: kind, sealed: sealed, status: status, lastErr: lastErr, at: at},
			{id: id + 1, dedupeKey: kind, userID: -user, channel: status, kind: key, sealed: bytes.Repeat(sealed, 2), at: at}}
		b := encodeBundle(ms)
		norm := func(ms []Sealed) []Sealed {
			for i := range ms {
				if len(ms[i].sealed) == 0 {
					ms[i].sealed = nil
				}
			}
			return ms
		}
		ms = norm(ms)
		got, err := decodeBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		if got = norm(got); !reflect.DeepEqual(got, ms) {
			t.Fatalf("round trip: %+v, want %+v", got, ms)
		}
		if cut > 0 && cut < len(b) {
			// A strict prefix ends inside a message unless it ends exactly
			// after the first; either way nothing panics or reads past it.
			if got, err := decodeBundle(b[:cut]); err == nil && !reflect.DeepEqual(norm(got), ms[:1]) {
				t.Fatalf("prefix of %d bytes read as %+v", cut, got)
			}
		}
	})
}
