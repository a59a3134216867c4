package notify

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
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

// A user's order holds between bundles and outbox rows and across
// dispatchers (REL-11): an outbox message written after a bundle leaves
// after the bundle's messages; one dispatcher at a time sends bundles, so
// a second one takes none while the first holds its lease, and takes the
// next ones at once when the first has recorded its round; a bundle that
// cannot be read holds back no outbox message.
func TestBundleKeepsOrder(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		rec := newRecorder()
		senders := map[string]Sender{ChannelEmail: rec, ChannelSMS: rec}
		d1 := e.dispatcher(senders, DispatcherOptions{Batch: 1})
		d2 := e.dispatcher(senders, DispatcherOptions{Batch: 1})
		sms := func(key string) Message {
			return Message{DedupeKey: key, UserID: 8, Channel: ChannelSMS, Kind: "k", To: "+8613800138000", Body: key}
		}

		if err := e.stageBundle(t, nil, email("p2p:email", 7)); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Millisecond)
		e.enqueue(t, email("later:email", 7), Message{DedupeKey: "code_2:email", UserID: 7, Channel: ChannelEmail, Kind: "code_login", To: "a@b.c", Subject: "code", Body: "654321"})
		// The first round takes the bundle and the code; the later notice
		// waits for the bundle to be gone.
		if _, _, err := d1.round(ctx); err != nil {
			t.Fatal(err)
		}
		if got := rec.keys(); !slices.Contains(got, "p2p:email") || slices.Contains(got, "later:email") {
			t.Fatalf("first round sent %v: the bundle's message, not the later one", got)
		}
		runOnce(t, d1)
		if got := rec.keys(); len(got) != 3 || slices.Index(got, "p2p:email") > slices.Index(got, "later:email") {
			t.Fatalf("sent %v: p2p:email before later:email", got)
		}

		// Two dispatchers: d1 has leased the first of two bundles and not
		// recorded it (say it is still sending): d2 takes no bundle.
		for _, k := range []string{"s-1:sms", "s-2:sms"} {
			e.clk.Advance(time.Millisecond)
			if err := e.stageBundle(t, nil, sms(k)); err != nil {
				t.Fatal(err)
			}
		}
		if _, bs, err := d1.claim(ctx); err != nil || len(bs) != 1 {
			t.Fatalf("d1 leased %d bundles (%v), want 1", len(bs), err)
		}
		if n := runOnce(t, d2); n != 0 || e.bundles(t) != 2 {
			t.Fatalf("d2 sent %d while d1 held the bundles, %d left", n, e.bundles(t))
		}
		e.clk.Advance(31 * time.Second) // d1's lease ends
		if n := runOnce(t, d2); n != 2 || e.bundles(t) != 0 {
			t.Fatalf("after d1's lease d2 sent %d, %d bundles left", n, e.bundles(t))
		}
		// A recorded round gives the lease up: d2 goes on at once.
		for _, k := range []string{"s-3:sms", "s-4:sms"} {
			e.clk.Advance(time.Millisecond)
			if err := e.stageBundle(t, nil, sms(k)); err != nil {
				t.Fatal(err)
			}
		}
		if _, n, err := d1.round(ctx); err != nil || n != 1 {
			t.Fatalf("d1's round sent %d (%v)", n, err)
		}
		if _, n, err := d2.round(ctx); err != nil || n != 1 {
			t.Fatalf("d2's round right after sent %d (%v)", n, err)
		}
		var order []string
		for _, k := range rec.keys() {
			if strings.HasPrefix(k, "s-") {
				order = append(order, k)
			}
		}
		if !reflect.DeepEqual(order, []string{"s-1:sms", "s-2:sms", "s-3:sms", "s-4:sms"}) {
			t.Fatalf("user 8's messages sent as %v", order)
		}

		// An unreadable bundle, the oldest, holds back nothing once leased.
		var ins rowsInserter
		ins.Insert(bundleInto, "", int64(1), 1, []byte{bundleVersion, 0xff}, int64(1))
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return ins.flush(ctx, tx) }); err != nil {
			t.Fatal(err)
		}
		e.enqueue(t, email("after-bad:email", 7))
		if n := runOnce(t, d1); n != 1 || e.row(t, "after-bad:email").Status != StatusSent || e.bundles(t) != 1 {
			t.Fatalf("behind an unreadable bundle: sent %d, %+v, %d bundles", n, e.row(t, "after-bad:email"), e.bundles(t))
		}
		if n := runOnce(t, d2); n != 0 {
			t.Fatalf("the lease is held by no one after a round of an unreadable bundle only, yet %d sent", n)
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
