package notify

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func email(key string, user int64) Message {
	return Message{DedupeKey: key, UserID: user, Channel: ChannelEmail, Kind: "new_device",
		To: "user@example.com", Subject: "New sign-in", Body: "A new device signed in: " + key}
}

func TestNOT02_EnqueueInCallerTx(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		rec := newRecorder()
		d := e.dispatcher(map[string]Sender{ChannelEmail: rec}, DispatcherOptions{})

		// The event fails: its notification goes with it.
		abort := errors.New("event failed")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if err := e.outbox.Enqueue(ctx, tx, email("evt-1:email", 42)); err != nil {
				return err
			}
			return abort
		})
		if !errors.Is(err, abort) {
			t.Fatalf("InTx = %v", err)
		}
		if n := runOnce(t, d); n != 0 || len(rec.keys()) != 0 {
			t.Fatalf("rolled back: sent %d, recorder %v", n, rec.keys())
		}
		if p, _ := e.outbox.Pending(ctx); p != 0 {
			t.Fatalf("rolled back: %d pending", p)
		}

		// The event commits: delivered once, even when enqueued again.
		e.enqueue(t, email("evt-2:email", 42))
		if p, _ := e.outbox.Pending(ctx); p != 1 {
			t.Fatalf("committed: %d pending, want 1", p)
		}
		if n := runOnce(t, d); n != 1 {
			t.Fatalf("committed: sent %d, want 1", n)
		}
		e.enqueue(t, email("evt-2:email", 42)) // same dedupe key: kept as is
		if n := runOnce(t, d); n != 0 {
			t.Fatalf("second run sent %d", n)
		}
		if got := rec.keys(); !slices.Equal(got, []string{"evt-2:email"}) {
			t.Fatalf("delivered %v", got)
		}
		r := e.row(t, "evt-2:email")
		if r.Status != StatusSent || r.Attempts != 1 || !r.SentAt.Valid || r.LockedUntil.Valid {
			t.Fatalf("row = %+v", r)
		}
		var rows int
		db.Write.QueryRow(`SELECT COUNT(*) FROM notification_outbox`).Scan(&rows)
		if rows != 1 {
			t.Fatalf("%d outbox rows, want 1", rows)
		}
	})
}

func TestEnqueueValidates(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		for name, m := range map[string]Message{
			"no key":        {Channel: ChannelEmail, Kind: "k", To: "a@b.c"},
			"key space":     {DedupeKey: "a b", Channel: ChannelEmail, Kind: "k", To: "a@b.c"},
			"channel":       {DedupeKey: "k1", Channel: "fax", Kind: "k", To: "a@b.c"},
			"kind":          {DedupeKey: "k1", Channel: ChannelEmail, Kind: "", To: "a@b.c"},
			"inapp no user": {DedupeKey: "k1", Channel: ChannelInApp, Kind: "k"},
			"subject crlf":  {DedupeKey: "k1", Channel: ChannelEmail, Kind: "k", To: "a@b.c", Subject: "a\r\nBcc: x@y.z"},
		} {
			err := db.InTx(ctx, func(tx *sql.Tx) error { return e.outbox.Enqueue(ctx, tx, m) })
			if okpay.ErrorCode(err) != okpay.EInvalid {
				t.Errorf("%s: err = %v, want %s", name, err, okpay.EInvalid)
			}
		}
		// No destination: kept as failed, never sent, never blocks.
		e.enqueue(t, Message{DedupeKey: "nophone", UserID: 5, Channel: ChannelSMS, Kind: "lockout", Body: "locked"},
			Message{DedupeKey: "phone-later", UserID: 5, Channel: ChannelSMS, Kind: "lockout", To: "+8613800138000", Body: "x"})
		if r := e.row(t, "nophone"); r.Status != StatusFailed || r.LastError != noDestination {
			t.Fatalf("no destination: %+v", r)
		}
		rec := newRecorder()
		if n := runOnce(t, e.dispatcher(map[string]Sender{ChannelSMS: rec}, DispatcherOptions{})); n != 1 {
			t.Fatalf("sent %d, want 1", n)
		}
	})
}

// blocker is a Sender that reports the first call and then hangs until its
// context ends, like a process killed mid-send.
type blocker struct {
	started chan Message
}

func (b *blocker) Send(ctx context.Context, m Message) error {
	b.started <- m
	<-ctx.Done()
	return ctx.Err()
}

func TestREL11_RestartRedelivers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		e.enqueue(t, email("login:7:email", 7))
		const lease = 30 * time.Second

		// The first dispatcher claims the message and dies while sending.
		b := &blocker{started: make(chan Message, 1)}
		d1 := e.dispatcher(map[string]Sender{ChannelEmail: b}, DispatcherOptions{Node: "a", Lease: lease})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d1.RunOnce(ctx)
			done <- err
		}()
		first := <-b.started
		r := e.row(t, "login:7:email")
		if r.Status != StatusPending || !r.LockedUntil.Valid || r.LockedUntil.Int64 != t0.Add(lease).UnixMicro() || !strings.HasPrefix(r.LockedBy, "a#") {
			t.Fatalf("claimed row = %+v", r)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("crashed RunOnce = %v", err)
		}
		if r := e.row(t, "login:7:email"); r.Status != StatusPending || r.Attempts != 0 || !r.LockedUntil.Valid {
			t.Fatalf("after the crash: %+v", r)
		}

		// A new dispatcher (the restarted process) waits for the lease.
		rec := newRecorder()
		d2 := e.dispatcher(map[string]Sender{ChannelEmail: rec}, DispatcherOptions{Node: "a", Lease: lease})
		if n := runOnce(t, d2); n != 0 {
			t.Fatalf("sent %d under a live lease", n)
		}
		e.clk.Advance(lease - time.Second)
		if n := runOnce(t, d2); n != 0 {
			t.Fatalf("sent %d a second before the lease expires", n)
		}
		e.clk.Advance(time.Second)
		if n := runOnce(t, d2); n != 1 {
			t.Fatalf("sent %d after the lease expired, want 1", n)
		}
		if got := rec.keys(); !slices.Equal(got, []string{first.DedupeKey}) || first.DedupeKey != "login:7:email" {
			t.Fatalf("redelivered %v, first attempt %q", got, first.DedupeKey)
		}
		if rec.sent[0].Body != first.Body || first.Body == "" {
			t.Fatalf("redelivered body %q, first %q", rec.sent[0].Body, first.Body)
		}
		if r := e.row(t, "login:7:email"); r.Status != StatusSent || r.Attempts != 1 {
			t.Fatalf("after redelivery: %+v", r)
		}
	})
}

func TestREL11_ProviderFailsThreeTimes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		m := email("transfer:1:email", 9)
		m.Body = "You sent 10.00 EUR, ref 77120934"
		e.enqueue(t, m)
		rec := newRecorder()
		rec.fail = func(m Message, call int) error {
			if call <= 3 {
				// A provider that echoes the content in its error.
				return fmt.Errorf("provider down (call %d) while sending %q to %s", call, m.Body, m.To)
			}
			return nil
		}
		backoff := func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute }
		d := e.dispatcher(map[string]Sender{ChannelEmail: rec}, DispatcherOptions{Backoff: backoff})

		now := t0
		for attempt := 1; attempt <= 3; attempt++ {
			if n := runOnce(t, d); n != 0 {
				t.Fatalf("attempt %d: sent %d", attempt, n)
			}
			r := e.row(t, m.DedupeKey)
			wantNext := now.Add(backoff(attempt)).UnixMicro()
			if r.Status != StatusPending || r.Attempts != attempt || r.NextAttempt != wantNext || r.LockedUntil.Valid {
				t.Fatalf("after failure %d: %+v, want next %d", attempt, r, wantNext)
			}
			if strings.Contains(r.LastError, "77120934") || strings.Contains(r.LastError, "user@example.com") || !strings.Contains(r.LastError, "provider down") {
				t.Fatalf("last_error leaks or is empty: %q", r.LastError)
			}
			// Not before the backoff is over.
			e.clk.Advance(backoff(attempt) - time.Second)
			if n := runOnce(t, d); n != 0 || rec.calls[m.DedupeKey] != attempt {
				t.Fatalf("retried %d times before the backoff of attempt %d ended", rec.calls[m.DedupeKey], attempt)
			}
			e.clk.Advance(time.Second)
			now = e.clk.Now()
		}
		if n := runOnce(t, d); n != 1 {
			t.Fatalf("fourth attempt sent %d, want 1", n)
		}
		r := e.row(t, m.DedupeKey)
		if r.Status != StatusSent || r.Attempts != 4 || r.SentAt.Int64 != now.UnixMicro() {
			t.Fatalf("final row %+v", r)
		}
		if rec.calls[m.DedupeKey] != 4 || len(rec.sent) != 1 {
			t.Fatalf("calls %d, successes %d", rec.calls[m.DedupeKey], len(rec.sent))
		}
		if n := runOnce(t, d); n != 0 || len(rec.sent) != 1 {
			t.Fatal("sent again after success")
		}
	})
}

func TestMaxAttemptsAndPermanent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		e.enqueue(t, email("a", 1), email("b", 2))
		rec := newRecorder()
		rec.fail = func(m Message, call int) error {
			if m.DedupeKey == "b" {
				return Permanent(errors.New("bad address"))
			}
			return errors.New("down")
		}
		d := e.dispatcher(map[string]Sender{ChannelEmail: rec}, DispatcherOptions{MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Second }})
		for range 5 {
			runOnce(t, d)
			e.clk.Advance(time.Second)
		}
		if r := e.row(t, "a"); r.Status != StatusFailed || r.Attempts != 3 || r.LastError != "down" {
			t.Fatalf("a = %+v", r)
		}
		if r := e.row(t, "b"); r.Status != StatusFailed || r.Attempts != 1 || !strings.Contains(r.LastError, "bad address") {
			t.Fatalf("b = %+v", r)
		}
		if rec.calls["a"] != 3 || rec.calls["b"] != 1 {
			t.Fatalf("calls %v", rec.calls)
		}
		st, err := e.outbox.Stats(context.Background())
		if err != nil || st.Pending != 0 || st.Failed != 2 {
			t.Fatalf("stats %+v, %v", st, err)
		}
	})
}

func TestREL11_PerUserOrder(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		e.enqueue(t, email("u7-1", 7), email("u7-2", 7))
		e.enqueue(t, email("u7-3", 7), email("u8-1", 8),
			Message{DedupeKey: "u7-sms", UserID: 7, Channel: ChannelSMS, Kind: "transfer", To: "+447700900123", Body: "sms"},
			Message{DedupeKey: "u7-code", UserID: 7, Channel: ChannelEmail, Kind: UrgentKindPrefix + "login", To: "a@example.com", Subject: "code", Body: "code"})
		rec := newRecorder()
		rec.fail = func(m Message, call int) error {
			if m.DedupeKey == "u7-1" && call == 1 {
				return errors.New("timeout")
			}
			return nil
		}
		d := e.dispatcher(map[string]Sender{ChannelEmail: rec, ChannelSMS: rec}, DispatcherOptions{Batch: 10, Backoff: func(int) time.Duration { return time.Minute }})
		// u7-1 fails: u7-2 and u7-3 wait behind it; another user, another
		// channel and a one-time code do not.
		if n := runOnce(t, d); n != 3 {
			t.Fatalf("first run sent %d, want 3", n)
		}
		if got := rec.keys(); !sameSet(got, []string{"u8-1", "u7-sms", "u7-code"}) {
			t.Fatalf("first run sent %v", got)
		}
		st, _ := e.outbox.Stats(context.Background())
		if st.Pending != 3 || st.Due != 2 || !st.OldestDue.Equal(t0) {
			t.Fatalf("stats %+v", st)
		}
		e.clk.Advance(time.Minute)
		if n := runOnce(t, d); n != 3 {
			t.Fatalf("second run sent %d, want 3", n)
		}
		var u7 []string
		for _, k := range rec.keys() {
			if strings.HasPrefix(k, "u7-") && k != "u7-sms" && k != "u7-code" {
				u7 = append(u7, k)
			}
		}
		if !slices.Equal(u7, []string{"u7-1", "u7-2", "u7-3"}) {
			t.Fatalf("user 7 got %v", u7)
		}
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// secondHandle opens another connection pool on db's database, as a
// second process would.
func secondHandle(t *testing.T, db *sqldb.DB) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	var u string
	if db.Dialect == sqldb.SQLite {
		u = "sqlite:" + db.Path
	} else {
		var name, schema string
		if err := db.Write.QueryRowContext(ctx, `SELECT current_database(), current_schema()`).Scan(&name, &schema); err != nil {
			t.Fatal(err)
		}
		base, err := url.Parse(os.Getenv(sqldbtest.EnvPostgres))
		if err != nil {
			t.Fatal(err)
		}
		base.Path = "/" + name
		q := base.Query()
		q.Set("search_path", schema)
		base.RawQuery = q.Encode()
		u = base.String()
	}
	db2, err := sqldb.Open(ctx, u, sqldb.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	return db2
}

func TestREL11_TwoDispatchers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		const total = 200
		var msgs []Message
		for i := range total {
			user := int64(i%25 + 1)
			if i%10 == 0 {
				user = 0 // no user: no ordering
			}
			m := email(fmt.Sprintf("m%03d", i), user)
			if i%3 == 0 {
				m = Message{DedupeKey: fmt.Sprintf("m%03d", i), UserID: user, Channel: ChannelSMS, Kind: "credit", To: "+8613800138000", Body: "credit"}
			}
			msgs = append(msgs, m)
		}
		for i := 0; i < total; i += 50 {
			e.enqueue(t, msgs[i:i+50]...)
		}

		// A second process: its own pool, outbox and dispatcher.
		db2 := secondHandle(t, db)
		gen2, _ := ids.NewSnowflake(2, e.clk.Now)
		outbox2 := NewOutbox(db2, e.outbox.sealer, e.clk, gen2)

		var mu sync.Mutex
		count := map[string]int{}
		var order []string
		sender := senderFunc(func(ctx context.Context, m Message) error {
			time.Sleep(time.Millisecond) // a provider takes time
			mu.Lock()
			count[m.DedupeKey]++
			order = append(order, m.DedupeKey)
			mu.Unlock()
			return nil
		})
		senders := map[string]Sender{ChannelEmail: sender, ChannelSMS: sender}
		ds := []*Dispatcher{
			NewDispatcher(e.outbox, senders, DispatcherOptions{Node: "one", Batch: 8, Logger: quiet}),
			NewDispatcher(outbox2, senders, DispatcherOptions{Node: "two", Batch: 8, Logger: quiet}),
		}
		var wg sync.WaitGroup
		sent := make([]int, len(ds))
		errs := make([]error, len(ds))
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for i, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					n, err := d.RunOnce(ctx)
					sent[i] += n
					if err != nil {
						errs[i] = err
						return
					}
					if p, err := e.outbox.Pending(ctx); err != nil || p == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("dispatcher %d: %v", i, err)
			}
		}
		if sent[0]+sent[1] != total || len(count) != total {
			t.Fatalf("sent %v (%d distinct), want %d", sent, len(count), total)
		}
		for k, n := range count {
			if n != 1 {
				t.Errorf("%s delivered %d times", k, n)
			}
		}
		t.Logf("dispatcher shares: %v", sent)
		// Each user's messages left in the order they were written.
		pos := map[string]int{}
		for i, k := range order {
			pos[k] = i
		}
		last := map[string]int{}
		for i, m := range msgs {
			if m.UserID == 0 {
				continue
			}
			lane := fmt.Sprint(m.UserID, m.Channel)
			if j, ok := last[lane]; ok && pos[msgs[j].DedupeKey] > pos[m.DedupeKey] {
				t.Errorf("user %d %s: %s sent before %s", m.UserID, m.Channel, m.DedupeKey, msgs[j].DedupeKey)
			}
			last[lane] = i
		}
		var sentRows int
		db.Write.QueryRow(`SELECT COUNT(*) FROM notification_outbox WHERE status = 'sent' AND attempts = 1`).Scan(&sentRows)
		if sentRows != total {
			t.Fatalf("%d rows sent once, want %d", sentRows, total)
		}
	})
}

type senderFunc func(ctx context.Context, m Message) error

func (f senderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// TestSealedAtRest: a one-time code never rests in clear in the outbox
// (nor, on SQLite, anywhere in the database files).
func TestSealedAtRest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		const code = "834201"
		e.enqueue(t,
			Message{DedupeKey: "login_code:1:sms", UserID: 1, Channel: ChannelSMS, Kind: "login_code", To: "+8613800138000", Body: "OKPay login code " + code + ". It expires in 5 minutes."},
			Message{DedupeKey: "login_code:1:email", UserID: 1, Channel: ChannelEmail, Kind: "login_code", To: "li@example.com",
				Subject: "登录验证码 " + code, Body: "Your code " + code, HTML: "<p>Your code <b>" + code + "</b></p>"})
		dump := dumpTable(t, db, "notification_outbox")
		for _, secret := range []string{code, "+8613800138000", "li@example.com", "登录"} {
			if bytes.Contains(dump, []byte(secret)) {
				t.Fatalf("notification_outbox holds %q in clear", secret)
			}
		}
		if !bytes.Contains(dump, []byte("login_code:1:sms")) {
			t.Fatal("the dump misses the routing columns; is it reading the table?")
		}

		// The dispatcher opens it, and a provider error quoting the code
		// is not stored either.
		box := NewDevMailbox(e.clk)
		fails := senderFunc(func(ctx context.Context, m Message) error { return fmt.Errorf("rejected: %s", m.Body) })
		d := e.dispatcher(map[string]Sender{ChannelEmail: box, ChannelSMS: fails}, DispatcherOptions{})
		if n := runOnce(t, d); n != 1 {
			t.Fatalf("sent %d", n)
		}
		if got := box.List(); len(got) != 1 || !strings.Contains(got[0].Body, code) || got[0].Subject != "登录验证码 "+code {
			t.Fatalf("dev mailbox got %+v", got)
		}
		dump = dumpTable(t, db, "notification_outbox")
		if bytes.Contains(dump, []byte(code)) {
			t.Fatal("notification_outbox holds the code after a failed attempt")
		}
		if db.Dialect == sqldb.SQLite {
			db.Write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			for _, p := range []string{db.Path, db.Path + "-wal"} {
				b, err := os.ReadFile(p)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(code)) {
					t.Fatalf("%s holds the code", p)
				}
			}
		}
	})
}

// dumpTable returns every column of every row of table as bytes.
func dumpTable(t *testing.T, db *sqldb.DB, table string) []byte {
	t.Helper()
	rows, err := db.Write.Query(`SELECT * FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out bytes.Buffer
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				out.Write(v)
			default:
				fmt.Fprint(&out, v)
			}
			out.WriteByte('|')
		}
		out.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestSealBoundToRow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		e.enqueue(t, email("mine", 1), email("theirs", 2))
		// Copy user 2's sealed content into user 1's row: it must not open.
		if _, err := db.Write.Exec(`UPDATE notification_outbox SET sealed = (SELECT sealed FROM notification_outbox WHERE dedupe_key = 'theirs') WHERE dedupe_key = 'mine'`); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		runOnce(t, e.dispatcher(map[string]Sender{ChannelEmail: rec}, DispatcherOptions{}))
		if got := rec.keys(); !slices.Equal(got, []string{"theirs"}) {
			t.Fatalf("sent %v", got)
		}
		if r := e.row(t, "mine"); r.Status != StatusFailed || !strings.Contains(r.LastError, "sealed") {
			t.Fatalf("swapped row %+v", r)
		}
	})
}

func TestRunWakesAndStops(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		box := NewDevMailbox(clock.System{})
		updates, unsubscribe := box.Subscribe()
		defer unsubscribe()
		// A long poll: only Wake can make the dispatcher look in time.
		d := e.dispatcher(map[string]Sender{ChannelEmail: box}, DispatcherOptions{Poll: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(20 * time.Millisecond) // let Run do its first, empty, round
		e.enqueue(t, email("wake-1", 3))  // enqueue calls Wake
		select {
		case <-updates:
		case <-time.After(5 * time.Second):
			t.Fatal("Wake did not make the dispatcher send")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not stop")
		}
		if got := box.List(); len(got) != 1 || got[0].DedupeKey != "wake-1" {
			t.Fatalf("mailbox %+v", got)
		}
	})
}

func TestScrub(t *testing.T) {
	m := Message{To: "+8613800138000", Subject: "Code", Body: "Your code is 834201, valid 5 minutes"}
	for in, bad := range map[string]string{
		"gateway echoed: Your code is 834201, valid 5 minutes": "834201",
		"rejected text containing 834201 only":                 "834201",
		"number +8613800138000 unreachable":                    "13800138000",
		"line one\r\nline two":                                 "\n",
	} {
		if got := scrub(in, m); strings.Contains(got, bad) {
			t.Errorf("scrub(%q) = %q", in, got)
		}
	}
	long := strings.Repeat("错", 400)
	if got := scrub(long, m); len(got) > MaxErrorLen || !strings.HasPrefix(long, got) {
		t.Errorf("cut badly: %d bytes", len(got))
	}
}

func TestPurge(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.enqueue(t, email("old-sent", 1), email("old-pending", 2), Message{DedupeKey: "old-failed", UserID: 3, Channel: ChannelSMS, Kind: "k"})
		rec := newRecorder()
		rec.fail = func(m Message, call int) error {
			if m.DedupeKey == "old-pending" {
				return errors.New("down")
			}
			return nil
		}
		runOnce(t, e.dispatcher(map[string]Sender{ChannelEmail: rec}, DispatcherOptions{}))
		e.clk.Advance(48 * time.Hour)
		e.enqueue(t, email("new-sent", 1))
		runOnce(t, e.dispatcher(map[string]Sender{ChannelEmail: rec}, DispatcherOptions{}))
		n, err := e.outbox.Purge(ctx, e.clk.Now().Add(-24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("Purge = %d, %v; want 2", n, err)
		}
		var left []string
		rows, _ := db.Write.Query(`SELECT dedupe_key FROM notification_outbox ORDER BY dedupe_key`)
		for rows.Next() {
			var k string
			rows.Scan(&k)
			left = append(left, k)
		}
		rows.Close()
		if !slices.Equal(left, []string{"new-sent", "old-pending"}) {
			t.Fatalf("left %v", left)
		}
	})
}

// rowsInserter is an Inserter that writes what it is given with one
// multi-row statement per table, as a ledger batch does.
type rowsInserter struct {
	order []string
	rows  map[string][][]any
}

func (r *rowsInserter) Insert(into, suffix string, args ...any) {
	if r.rows == nil {
		r.rows = map[string][][]any{}
	}
	k := into + "\x00" + suffix
	if _, ok := r.rows[k]; !ok {
		r.order = append(r.order, k)
	}
	r.rows[k] = append(r.rows[k], args)
}

func (r *rowsInserter) flush(ctx context.Context, tx *sql.Tx) error {
	for _, k := range r.order {
		into, suffix, _ := strings.Cut(k, "\x00")
		var q strings.Builder
		var args []any
		q.WriteString("INSERT INTO " + into + " VALUES ")
		for i, row := range r.rows[k] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for j := range row {
				if j > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "$%d", len(args)+j+1)
			}
			q.WriteString(")")
			args = append(args, row...)
		}
		if _, err := tx.ExecContext(ctx, q.String()+" "+suffix, args...); err != nil {
			return err
		}
	}
	return nil
}

// Seal, then Write or Stage, is Enqueue split in two: the same rows, the
// same delivery, the same dedupe (NOT-02: only inside the event's
// transaction).
func TestNOT02_SealThenWriteOrStage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		if err := e.outbox.PrepareStatements(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.outbox.PrepareStatements(ctx); err != nil { // twice is harmless
			t.Fatal(err)
		}
		rec := newRecorder()
		d := e.dispatcher(map[string]Sender{ChannelEmail: rec, ChannelSMS: rec}, DispatcherOptions{})

		if _, err := e.outbox.Seal(Message{DedupeKey: "bad key", Channel: ChannelEmail, Kind: "k", To: "a@b.c"}); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Fatalf("Seal of an invalid message: %v", err)
		}
		written, err := e.outbox.Seal(email("w-1:email", 7), email("w-2:email", 7))
		if err != nil {
			t.Fatal(err)
		}
		staged, err := e.outbox.Seal(email("s-1:email", 8), Message{DedupeKey: "s-2:sms", UserID: 8, Channel: ChannelSMS, Kind: "k", Body: "no phone"},
			email("w-1:email", 8)) // a dedupe key Write already used: skipped
		if err != nil {
			t.Fatal(err)
		}
		if staged[0].DedupeKey() != "s-1:email" {
			t.Fatalf("DedupeKey = %q", staged[0].DedupeKey())
		}

		// Rolled back: nothing.
		abort := errors.New("event failed")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if err := e.outbox.Write(ctx, tx, written...); err != nil {
				return err
			}
			return abort
		})
		if !errors.Is(err, abort) {
			t.Fatal(err)
		}
		if p, _ := e.outbox.Pending(ctx); p != 0 {
			t.Fatalf("rolled back: %d pending", p)
		}
		// Committed: Write, then Stage in another transaction.
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return e.outbox.Write(ctx, tx, written...) }); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			var ins rowsInserter
			e.outbox.Stage(&ins, staged...)
			return ins.flush(ctx, tx)
		}); err != nil {
			t.Fatal(err)
		}
		if r := e.row(t, "s-2:sms"); r.Status != StatusFailed || r.LastError != noDestination {
			t.Fatalf("staged without destination: %+v", r)
		}
		if n := runOnce(t, d); n != 3 {
			t.Fatalf("sent %d, want 3", n)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		byKey := map[string]Message{}
		for _, m := range rec.sent {
			byKey[m.DedupeKey] = m
		}
		if len(byKey) != 3 || byKey["w-1:email"].UserID != 7 || byKey["s-1:email"].UserID != 8 ||
			byKey["s-1:email"].Body != email("s-1:email", 8).Body || byKey["w-2:email"].To != "user@example.com" {
			t.Fatalf("sent %+v", rec.sent)
		}
	})
}

// PrepareInApp, then WriteInApp or StageInApp: an event's in-app notices
// are rows of inapp_notifications written in its transaction (none when
// it rolls back), listed at once, never queued, a known dedupe key
// skipped.
func TestPrepareThenWriteOrStageInApp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		note := func(key string, user int64) Message {
			return Message{DedupeKey: key, UserID: user, Channel: ChannelInApp, Kind: "transfer_sent", Subject: "You sent $1.00", Body: "to " + key}
		}
		for _, bad := range []Message{email("x:email", 7), {DedupeKey: "x:inapp", Channel: ChannelInApp, Kind: "k"}, {DedupeKey: "bad key", UserID: 7, Channel: ChannelInApp, Kind: "k"}} {
			if _, err := e.outbox.PrepareInApp(bad); okpay.ErrorCode(err) != okpay.EInvalid {
				t.Fatalf("PrepareInApp(%+v): %v, want invalid", bad, err)
			}
		}
		written, err := e.outbox.PrepareInApp(note("w-1:inapp", 7), note("w-2:inapp", 7))
		if err != nil {
			t.Fatal(err)
		}
		staged, err := e.outbox.PrepareInApp(note("s-1:inapp", 7), note("w-1:inapp", 7))
		if err != nil {
			t.Fatal(err)
		}
		abort := errors.New("event failed")
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			if err := e.outbox.WriteInApp(ctx, tx, written...); err != nil {
				return err
			}
			return abort
		}); !errors.Is(err, abort) {
			t.Fatal(err)
		}
		if ns, err := e.outbox.ListInApp(ctx, 7, 0); err != nil || len(ns) != 0 {
			t.Fatalf("rolled back: %+v, %v", ns, err)
		}
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return e.outbox.WriteInApp(ctx, tx, written...) }); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			var ins rowsInserter
			e.outbox.StageInApp(&ins, staged...)
			return ins.flush(ctx, tx)
		}); err != nil {
			t.Fatal(err)
		}
		ns, err := e.outbox.ListInApp(ctx, 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range ns {
			got = append(got, n.Body)
			if n.Kind != "transfer_sent" || n.Title != "You sent $1.00" || !n.Unread() || !n.CreatedAt.Equal(t0) {
				t.Fatalf("in-app row %+v", n)
			}
		}
		if strings.Join(got, "|") != "to s-1:inapp|to w-2:inapp|to w-1:inapp" {
			t.Fatalf("listed %q, want the three notices, newest first, w-1 once", got)
		}
		if p, _ := e.outbox.Pending(ctx); p != 0 {
			t.Fatalf("%d queued in the outbox", p)
		}
	})
}
