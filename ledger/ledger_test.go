package ledger_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type fixture struct {
	l     *ledger.Ledger
	db    *sqldb.DB
	clock *clock.Manual
	world int64 // external:card, the source of deposits
}

func newFixture(t *testing.T, db *sqldb.DB) *fixture {
	t.Helper()
	c := clock.NewManual(t0)
	l, err := ledger.New(context.Background(), db, ledger.Options{Clock: c, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	f := &fixture{l: l, db: db, clock: c}
	f.world = f.account(t, ledger.KindExternal, "USD", 0).ID
	return f
}

func (f *fixture) account(t *testing.T, kind ledger.Kind, cur money.Currency, flags ledger.Flags) *ledger.Account {
	t.Helper()
	a, err := f.l.CreateAccount(context.Background(), ledger.AccountInput{Owner: "o", Currency: cur, Kind: kind, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) wallet(t *testing.T, funds int64) int64 {
	t.Helper()
	a := f.account(t, ledger.KindUserWallet, "USD", ledger.FlagNoOverdraft)
	if funds > 0 {
		f.move(t, fmt.Sprintf("fund-%d", a.ID), f.world, a.ID, funds)
	}
	return a.ID
}

func (f *fixture) move(t *testing.T, ref string, from, to, amount int64) *ledger.Entry {
	t.Helper()
	e, err := f.l.Post(context.Background(), ledger.EntryInput{Reference: ref, Type: "transfer",
		Postings: []ledger.Posting{{Debit: from, Credit: to, Amount: amount, Currency: "USD"}}})
	if err != nil {
		t.Fatalf("move %s: %v", ref, err)
	}
	return e
}

func (f *fixture) balance(t *testing.T, id int64) ledger.Balance {
	t.Helper()
	a, err := f.l.FindAccountByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Balance
}

func (f *fixture) verify(t *testing.T) {
	t.Helper()
	r, err := f.l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("ledger invariants broken:\n%s", r)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestTransferAndBalances(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		a, b := f.wallet(t, 10000), f.wallet(t, 0)
		e := f.move(t, "t1", a, b, 2550)
		if e.Phase != ledger.PhasePosted || len(e.Postings) != 1 || !e.CreatedAt.Equal(t0) {
			t.Fatalf("entry %+v", e)
		}
		if got := f.balance(t, a); got.Available() != 7450 || got.PostedDebits != 2550 || got.PostedCredits != 10000 {
			t.Fatalf("a: %+v", got)
		}
		if got := f.balance(t, b).Available(); got != 2550 {
			t.Fatalf("b available %d", got)
		}
		// Insufficient funds changes nothing.
		_, err := f.l.Post(ctx, ledger.EntryInput{Reference: "t2", Type: "transfer",
			Postings: []ledger.Posting{{Debit: b, Credit: a, Amount: 2551, Currency: "USD"}}})
		wantCode(t, err, ledger.EInsufficientFunds)
		if got := f.balance(t, b).Available(); got != 2550 {
			t.Fatalf("b available %d after a refused transfer", got)
		}
		// Wrong currency, unknown account.
		eur := f.account(t, ledger.KindUserWallet, "EUR", ledger.FlagNoOverdraft)
		_, err = f.l.Post(ctx, ledger.EntryInput{Reference: "t3", Type: "transfer",
			Postings: []ledger.Posting{{Debit: a, Credit: eur.ID, Amount: 1, Currency: "USD"}}})
		wantCode(t, err, ledger.ECurrencyMismatch)
		_, err = f.l.Post(ctx, ledger.EntryInput{Reference: "t4", Type: "transfer",
			Postings: []ledger.Posting{{Debit: a, Credit: 999, Amount: 1, Currency: "USD"}}})
		wantCode(t, err, ledger.EAccountNotFound)
		// History, newest first, with a cursor.
		f.move(t, "t5", a, b, 1)
		f.move(t, "t6", a, b, 1)
		page, more, err := f.l.FindEntries(ctx, ledger.EntryFilter{AccountID: a, Limit: 2})
		if err != nil || !more || len(page) != 2 || page[0].Reference != "t6" || page[1].Reference != "t5" {
			t.Fatalf("page 1: %v %v %v", page, more, err)
		}
		page, more, err = f.l.FindEntries(ctx, ledger.EntryFilter{AccountID: a, Limit: 2, Before: page[1].ID})
		if err != nil || more || len(page) != 2 || page[0].Reference != "t1" {
			t.Fatalf("page 2: %v %v %v", page, more, err)
		}
		f.verify(t)
		if db.Dialect == sqldb.SQLite {
			// The writer commits with synchronous=NORMAL and fsyncs itself;
			// everyone else on the connection must still get FULL.
			var sync int
			if err := db.Write.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
				t.Fatalf("PRAGMA synchronous = %d (%v) after ledger batches, want 2 (FULL)", sync, err)
			}
		}
	})
}

func TestReferenceIdempotency(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		a, b := f.wallet(t, 1000), f.wallet(t, 0)
		e1 := f.move(t, "same", a, b, 100)
		e2 := f.move(t, "same", a, b, 100)
		if e1.ID != e2.ID {
			t.Fatalf("retry made a new entry: %d vs %d", e1.ID, e2.ID)
		}
		_, err := f.l.Post(context.Background(), ledger.EntryInput{Reference: "same", Type: "transfer",
			Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: 101, Currency: "USD"}}})
		wantCode(t, err, ledger.EReferenceConflict)
		if got := f.balance(t, b).Available(); got != 100 {
			t.Fatalf("b has %d, want 100", got)
		}
		f.verify(t)
	})
}

func TestHoldsPostPartlyVoidExpire(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		w := f.wallet(t, 10000)
		clearing := f.account(t, ledger.KindClearing, "USD", 0).ID
		fees := f.account(t, ledger.KindFees, "USD", 0).ID
		hold := func(ref string, amount, fee int64, timeout time.Duration) *ledger.Entry {
			t.Helper()
			e, err := f.l.Post(ctx, ledger.EntryInput{Reference: ref, Type: "withdrawal", Pending: true, Timeout: timeout,
				Postings: []ledger.Posting{
					{Debit: w, Credit: clearing, Amount: amount, Currency: "USD"},
					{Debit: w, Credit: fees, Amount: fee, Currency: "USD"},
				}})
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		h1 := hold("h1", 5000, 100, 0)
		if got := f.balance(t, w); got.Available() != 4900 || got.PendingDebits != 5100 || got.Posted() != 10000 {
			t.Fatalf("after hold: %+v", got)
		}
		// The held money cannot be spent twice.
		_, err := f.l.Post(ctx, ledger.EntryInput{Reference: "h-too-much", Type: "withdrawal", Pending: true,
			Postings: []ledger.Posting{{Debit: w, Credit: clearing, Amount: 4901, Currency: "USD"}}})
		wantCode(t, err, ledger.EInsufficientFunds)
		// Post 4000 of the 5000 and all the fee; 1000 goes back.
		p, err := f.l.Resolve(ctx, ledger.ResolveInput{Reference: "h1-post", PendingID: h1.ID, Amounts: []int64{4000, 100}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Phase != ledger.PhasePost || p.PendingID != h1.ID {
			t.Fatalf("resolution %+v", p)
		}
		if got := f.balance(t, w); got.Available() != 5900 || got.PendingDebits != 0 || got.PostedDebits != 4100 {
			t.Fatalf("after post: %+v", got)
		}
		_, err = f.l.Resolve(ctx, ledger.ResolveInput{Reference: "h1-void", PendingID: h1.ID, Void: true})
		wantCode(t, err, ledger.EPendingAlreadyResolved)
		// Retrying the same resolution returns it.
		again, err := f.l.Resolve(ctx, ledger.ResolveInput{Reference: "h1-post", PendingID: h1.ID, Amounts: []int64{4000, 100}})
		if err != nil || again.ID != p.ID {
			t.Fatalf("retry: %v %v", again, err)
		}
		h2 := hold("h2", 1000, 0+1, 0)
		_, err = f.l.Resolve(ctx, ledger.ResolveInput{Reference: "h2-post", PendingID: h2.ID, Amounts: []int64{1001, 1}})
		wantCode(t, err, ledger.EExceedsPendingAmount)
		if _, err := f.l.Resolve(ctx, ledger.ResolveInput{Reference: "h2-void", PendingID: h2.ID, Void: true}); err != nil {
			t.Fatal(err)
		}
		if got := f.balance(t, w).Available(); got != 5900 {
			t.Fatalf("after void: %d", got)
		}
		// A hold with a timeout: posting after it fails, the sweeper voids it once.
		h3 := hold("h3", 500, 1, time.Minute)
		f.clock.Advance(59 * time.Second)
		if n, err := f.l.SweepExpired(ctx); err != nil || n != 0 {
			t.Fatalf("early sweep: %d %v", n, err)
		}
		f.clock.Advance(time.Second)
		_, err = f.l.Resolve(ctx, ledger.ResolveInput{Reference: "h3-post", PendingID: h3.ID})
		wantCode(t, err, ledger.EPendingExpired)
		if n, err := f.l.SweepExpired(ctx); err != nil || n != 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if n, err := f.l.SweepExpired(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep: %d %v", n, err)
		}
		// Posted or voided after the sweep, it still says it expired.
		for _, void := range []bool{false, true} {
			_, err = f.l.Resolve(ctx, ledger.ResolveInput{Reference: fmt.Sprintf("h3-late-%v", void), PendingID: h3.ID, Void: void})
			wantCode(t, err, ledger.EPendingExpired)
		}
		st, err := f.l.FindEntryByID(ctx, h3.ID)
		if err != nil || st.Resolution == nil || st.Resolution.Phase != ledger.PhaseExpire {
			t.Fatalf("h3 status %+v %v", st, err)
		}
		if got := f.balance(t, w).Available(); got != 5900 {
			t.Fatalf("after expiry: %d", got)
		}
		f.verify(t)
	})
}

func TestReversal(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		a, b := f.wallet(t, 1000), f.wallet(t, 0)
		e := f.move(t, "pay", a, b, 600)
		r1, err := f.l.Reverse(ctx, ledger.ReverseInput{Reference: "rev1", EntryID: e.ID, Amounts: []int64{200}})
		if err != nil {
			t.Fatal(err)
		}
		if r1.ReversesID != e.ID || r1.Postings[0].Debit != b || r1.Postings[0].Amount != 200 {
			t.Fatalf("reversal %+v", r1)
		}
		_, err = f.l.Reverse(ctx, ledger.ReverseInput{Reference: "rev2", EntryID: e.ID, Amounts: []int64{401}})
		wantCode(t, err, ledger.EExceedsReversible)
		if _, err := f.l.Reverse(ctx, ledger.ReverseInput{Reference: "rev3", EntryID: e.ID}); err != nil {
			t.Fatal(err)
		}
		_, err = f.l.Reverse(ctx, ledger.ReverseInput{Reference: "rev4", EntryID: e.ID})
		wantCode(t, err, ledger.ENotReversible)
		if got := f.balance(t, a).Available(); got != 1000 {
			t.Fatalf("a has %d after full reversal", got)
		}
		st, _ := f.l.FindEntryByID(ctx, e.ID)
		if len(st.Reversals) != 2 {
			t.Fatalf("reversals %v", st.Reversals)
		}
		f.verify(t)
	})
}

// TestDoubleSpend: 100 goroutines try to move the whole balance at once;
// exactly one wins, every round (REL-03).
func TestDoubleSpend(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		rounds := 20
		if testing.Short() {
			rounds = 3
		}
		for round := 0; round < rounds; round++ {
			funds := int64(1 + round*37)
			src := f.wallet(t, funds)
			dsts := make([]int64, 4)
			for i := range dsts {
				dsts[i] = f.wallet(t, 0)
			}
			var wins, losses atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := 0; g < 100; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ref := fmt.Sprintf("r%d-g%d", round, g)
					var err error
					if g%2 == 0 {
						_, err = f.l.Post(ctx, ledger.EntryInput{Reference: ref, Type: "transfer",
							Postings: []ledger.Posting{{Debit: src, Credit: dsts[g%4], Amount: funds, Currency: "USD"}}})
					} else {
						_, err = f.l.Post(ctx, ledger.EntryInput{Reference: ref, Type: "withdrawal", Pending: true,
							Postings: []ledger.Posting{{Debit: src, Credit: dsts[g%4], Amount: funds, Currency: "USD"}}})
					}
					switch okpay.ErrorCode(err) {
					case "":
						wins.Add(1)
					case ledger.EInsufficientFunds:
						losses.Add(1)
					default:
						t.Errorf("round %d: unexpected error %v", round, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 || losses.Load() != 99 {
				t.Fatalf("round %d: %d wins, %d losses", round, wins.Load(), losses.Load())
			}
			if got := f.balance(t, src).Available(); got != 0 {
				t.Fatalf("round %d: source has %d available", round, got)
			}
		}
		f.verify(t)
	})
}

func TestValidation(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	f := newFixture(t, db)
	ctx := context.Background()
	for name, in := range map[string]ledger.EntryInput{
		"no reference": {Type: "t", Postings: []ledger.Posting{{Debit: 1, Credit: 2, Amount: 1, Currency: "USD"}}},
		"no postings":  {Reference: "r", Type: "t"},
		"zero amount":  {Reference: "r", Type: "t", Postings: []ledger.Posting{{Debit: 1, Credit: 2, Amount: 0, Currency: "USD"}}},
		"negative":     {Reference: "r", Type: "t", Postings: []ledger.Posting{{Debit: 1, Credit: 2, Amount: -5, Currency: "USD"}}},
		"same account": {Reference: "r", Type: "t", Postings: []ledger.Posting{{Debit: 1, Credit: 1, Amount: 5, Currency: "USD"}}},
		"bad currency": {Reference: "r", Type: "t", Postings: []ledger.Posting{{Debit: 1, Credit: 2, Amount: 5, Currency: "XYZ"}}},
		"bad type":     {Reference: "r", Type: "Bad Type", Postings: []ledger.Posting{{Debit: 1, Credit: 2, Amount: 5, Currency: "USD"}}},
		"timeout":      {Reference: "r", Type: "t", Timeout: time.Second, Postings: []ledger.Posting{{Debit: 1, Credit: 2, Amount: 5, Currency: "USD"}}},
	} {
		_, err := f.l.Post(ctx, in)
		if okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := f.l.CreateAccount(ctx, ledger.AccountInput{Currency: "USD", Kind: "nope"})
	wantCode(t, err, okpay.EInvalid)
	a1, err := f.l.CreateAccount(ctx, ledger.AccountInput{Code: "fees:revenue:USD", Currency: "USD", Kind: ledger.KindFees})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := f.l.CreateAccount(ctx, ledger.AccountInput{Code: "fees:revenue:USD", Currency: "USD", Kind: ledger.KindFees})
	if err != nil || a2.ID != a1.ID {
		t.Fatalf("second create with the same code: %v %v", a2, err)
	}
	_, err = f.l.CreateAccount(ctx, ledger.AccountInput{Code: "fees:revenue:USD", Currency: "EUR", Kind: ledger.KindFees})
	wantCode(t, err, okpay.EConflict)
}

// TestVerifyDetectsTampering edits a balance behind the ledger's back.
func TestVerifyDetectsTampering(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		a, b := f.wallet(t, 500), f.wallet(t, 0)
		f.move(t, "x", a, b, 100)
		f.verify(t)
		if _, err := db.Write.Exec(`UPDATE balances SET posted_credits = posted_credits + 7 WHERE account_id = $1`, b); err != nil {
			t.Fatal(err)
		}
		r, err := f.l.Verify(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() || len(r.Violations) != 2 {
			t.Fatalf("want 2 violations (sum and replay), got:\n%s", r)
		}
	})
}

// On PostgreSQL postings declare no foreign keys (migration 31): verify
// reports a posting whose entry or accounts are missing.
func TestVerifyReportsOrphanPostings(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	f := newFixture(t, db)
	a, b := f.wallet(t, 500), f.wallet(t, 0)
	e := f.move(t, "x", a, b, 100)
	f.verify(t)
	if _, err := db.Write.Exec(`INSERT INTO postings(entry_id, seq, debit_account, credit_account, amount, currency) VALUES ($1, 0, $2, $3, 5, 'USD'), ($4, 9, 999998, 999999, 5, 'USD')`,
		e.ID+1000, a, b, e.ID); err != nil {
		t.Fatal(err)
	}
	r, err := f.l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := r.String()
	if r.OK() || len(r.Violations) != 2 || !strings.Contains(s, "posting of a missing entry") || !strings.Contains(s, "(missing)") {
		t.Fatalf("want the orphan and the posting between missing accounts, got:\n%s", r)
	}
}

// A retry must get the original outcome even when today's balances would
// refuse the request (the writer looks retries up only when a request
// fails or collides with a unique index).
func TestRetryAfterTheMoneyIsGone(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		a, b := f.wallet(t, 100), f.wallet(t, 0)
		first := f.move(t, "all-of-it", a, b, 100)
		again, err := f.l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: "all-of-it", Type: "transfer",
			Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: 100, Currency: "USD"}}}}, nil)
		if err != nil || !again.Existing || again.Entry.ID != first.ID {
			t.Fatalf("retry: %+v %v", again, err)
		}
		// A retry that would succeed collides with the unique reference
		// and is answered with the original too.
		f.move(t, "top-up", f.world, a, 500)
		again, err = f.l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: "all-of-it", Type: "transfer",
			Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: 100, Currency: "USD"}}}}, nil)
		if err != nil || !again.Existing || again.Entry.ID != first.ID {
			t.Fatalf("retry after top-up: %+v %v", again, err)
		}
		if got := f.balance(t, b).Available(); got != 100 {
			t.Fatalf("b has %d", got)
		}
		f.verify(t)
	})
}

// On SQLite the per-account history is indexed in batches; pages must be
// the same whether entries are indexed, still in the tail, or split
// between both, and entry ids keep growing when the clock steps back.
func TestHistoryAcrossTheIndexWatermark(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		a, b := f.wallet(t, 1000), f.wallet(t, 0)
		var refs []string
		for i := 0; i < 7; i++ {
			ref := fmt.Sprintf("h%d", i)
			f.move(t, ref, a, b, 1)
			refs = append(refs, ref)
			if i == 3 {
				if err := f.l.IndexHistory(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The clock steps back an hour: new entries still sort last.
		f.clock.Advance(-time.Hour)
		f.move(t, "h7", a, b, 1)
		refs = append(refs, "h7")
		check := func(stage string) {
			t.Helper()
			var got []string
			before := int64(0)
			for {
				page, more, err := f.l.FindEntries(ctx, ledger.EntryFilter{AccountID: a, Limit: 3, Before: before})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					got = append(got, e.Reference)
				}
				if !more {
					break
				}
				before = page[len(page)-1].ID
			}
			// Newest first: h7 ... h0, then the funding entry.
			want := []string{"h7", "h6", "h5", "h4", "h3", "h2", "h1", "h0", fmt.Sprintf("fund-%d", a)}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: history %v, want %v", stage, got, want)
			}
		}
		check("partly indexed")
		if err := f.l.IndexHistory(ctx); err != nil {
			t.Fatal(err)
		}
		check("fully indexed")
		if err := f.l.IndexHistory(ctx); err != nil { // again: no change
			t.Fatal(err)
		}
		check("indexed twice")
		_ = refs
		if db.Dialect != sqldb.SQLite {
			return
		}
		// A restart with a clock a day behind: new entries still come last.
		f.l.Close()
		l2, err := ledger.New(ctx, db, ledger.Options{Clock: clock.NewManual(t0.Add(-24 * time.Hour)), SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		e, err := l2.Post(ctx, ledger.EntryInput{Reference: "after-restart", Type: "transfer",
			Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: 1, Currency: "USD"}}})
		if err != nil {
			t.Fatal(err)
		}
		page, _, err := l2.FindEntries(ctx, ledger.EntryFilter{AccountID: a, Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != e.ID {
			t.Fatalf("after a restart with the clock behind, the newest entry is %v (%v), want %d", page, err, e.ID)
		}
	})
}

// TestTextValidation: owners and metadata are text: a NUL (which
// PostgreSQL's text refuses: it answered 500), invalid UTF-8, control
// characters and bidirectional overrides are refused as invalid, on both
// engines, before anything is stored; a listing by such an owner too.
func TestTextValidation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		for _, owner := range []string{"a\x00b", "a\xffb", "a\x1bb", "a\u202eb", "a\u2066b", "a\nb"} {
			_, err := f.l.CreateAccount(ctx, ledger.AccountInput{Owner: owner, Currency: "USD", Kind: ledger.KindMerchant})
			wantCode(t, err, okpay.EInvalid)
			_, _, err = f.l.FindAccounts(ctx, ledger.AccountFilter{Owner: owner})
			wantCode(t, err, okpay.EInvalid)
		}
		for _, md := range []map[string]string{{"k": "a\x00b"}, {"k": "a\xffb"}, {"a\nb": "v"}, {"k": "\u202e"}} {
			_, err := f.l.CreateAccount(ctx, ledger.AccountInput{Owner: "o", Currency: "USD", Kind: ledger.KindMerchant, Metadata: md})
			wantCode(t, err, okpay.EInvalid)
		}
		// Text is fine, line breaks in a value too.
		if _, err := f.l.CreateAccount(ctx, ledger.AccountInput{Owner: "商户 Zoë", Currency: "USD", Kind: ledger.KindMerchant, Metadata: map[string]string{"note": "line one\nline two\t✓"}}); err != nil {
			t.Fatal(err)
		}
	})
}

// The history index is a file of its own (SQLite), derived from the
// postings: one that belongs to another database, claims entries the
// database does not have (a restored copy), or is missing is rebuilt when
// the ledger opens, and catching up in steps never splits an entry.
func TestHistoryFileRebuilt(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ctx := context.Background()
	f := newFixture(t, db)
	a, b := f.wallet(t, 1000), f.wallet(t, 0)
	c := f.wallet(t, 50) // its funding entry does not touch a
	fundC := f.move(t, "fund-c-again", f.world, c, 1)
	want := []string{fmt.Sprintf("fund-%d", a)}
	for i := range 5 {
		ref := fmt.Sprintf("h%d", i)
		// Two postings an entry: a chunk may end inside one.
		if _, err := f.l.Post(ctx, ledger.EntryInput{Reference: ref, Type: "transfer", Postings: []ledger.Posting{
			{Debit: a, Credit: b, Amount: 2, Currency: "USD"}, {Debit: a, Credit: c, Amount: 1, Currency: "USD"}}}); err != nil {
			t.Fatal(err)
		}
		want = append([]string{ref}, want...)
	}
	if err := f.l.IndexHistory(ctx); err != nil {
		t.Fatal(err)
	}
	f.l.Close()

	path := ledger.HistoryPath(db.Path)
	if filepath.Base(path) != "okpay-history.db" {
		t.Fatalf("history file %s", path)
	}
	hdb, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer hdb.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := hdb.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	history := func(l *ledger.Ledger) []string {
		t.Helper()
		var got []string
		before := int64(0)
		for {
			page, more, err := l.FindEntries(ctx, ledger.EntryFilter{AccountID: a, Limit: 2, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				got = append(got, e.Reference)
			}
			if !more {
				return got
			}
			before = page[len(page)-1].ID
		}
	}
	indexed := func() int {
		t.Helper()
		var n int
		if err := hdb.QueryRowContext(ctx, `SELECT count(*) FROM account_history WHERE account_id = $1`, a).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := indexed(); n != len(want) {
		t.Fatalf("%d entries of a indexed, want %d", n, len(want))
	}
	reopen := func(stage string) {
		t.Helper()
		defer ledger.SetHistoryChunk(3)()
		l, err := ledger.New(ctx, db, ledger.Options{Clock: f.clock, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if got := history(l); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: history %v, want %v", stage, got, want)
		}
		// The ledger indexes what waits by itself, with no new entry.
		for deadline := time.Now().Add(5 * time.Second); indexed() != len(want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d entries of a indexed after 5 s, want %d", stage, indexed(), len(want))
			}
		}
		if err := l.IndexHistory(ctx); err != nil {
			t.Fatal(err)
		}
		if got := history(l); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s, indexed again: history %v, want %v", stage, got, want)
		}
		if n := indexed(); n != len(want) {
			t.Fatalf("%s: %d entries of a indexed, want %d", stage, n, len(want))
		}
	}
	// A wrong row (c's entry under a) in a file of another database.
	exec(`INSERT INTO account_history(account_id, entry_id) VALUES ($1, $2)`, a, fundC.ID)
	exec(`UPDATE history_state SET instance = 'another'`)
	reopen("another database's file")
	// A file ahead of the database.
	exec(`INSERT INTO account_history(account_id, entry_id) VALUES ($1, $2)`, a, fundC.ID)
	exec(`UPDATE history_state SET entry_id = entry_id + 1000000`)
	reopen("a file ahead of the database")
	// No file.
	hdb.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if hdb, err = sql.Open("sqlite", path); err != nil {
		t.Fatal(err)
	}
	reopen("no file")
}

// okpay ledger verify compares the history index (SQLite) with the
// postings up to its watermark: a row too many and a row missing are
// both reported, by their API ids.
func TestVerifyHistoryIndex(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ctx := context.Background()
	f := newFixture(t, db)
	a, b := f.wallet(t, 100), f.wallet(t, 0)
	other := f.move(t, "other", f.world, b, 1) // does not touch a
	moved := f.move(t, "m1", a, b, 5)
	if err := f.l.IndexHistory(ctx); err != nil {
		t.Fatal(err)
	}
	f.verify(t)
	hdb, err := sql.Open("sqlite", ledger.HistoryPath(db.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer hdb.Close()
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO account_history(account_id, entry_id) VALUES (%d, %d)`, a, other.ID),
		fmt.Sprintf(`DELETE FROM account_history WHERE account_id = %d AND entry_id = %d`, b, moved.ID),
	} {
		if _, err := hdb.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	r, err := f.l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.Violations, "\n")
	for _, want := range []string{
		"entry " + ledger.EntryRef(other.ID) + " is indexed under account " + ledger.AccountRef(a),
		"entry " + ledger.EntryRef(moved.ID) + " moves account " + ledger.AccountRef(b) + " and is missing from its index",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations\n%s\nlack %q", got, want)
		}
	}
	if len(r.Violations) != 2 {
		t.Errorf("%d violations, want 2:\n%s", len(r.Violations), got)
	}
}
