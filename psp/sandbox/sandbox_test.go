package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestNewNeedsItsParts(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	good := sandbox.Options{DB: db, Clock: clock.System{}, IDs: &ids.Sequence{}, Secret: testSecret, Catalog: catalog(t)}
	if sb, err := sandbox.New(good); err != nil || sb.Name() != "sandbox" {
		t.Fatalf("New: %v", err)
	}
	for name, mod := range map[string]func(o *sandbox.Options){
		"no DB":        func(o *sandbox.Options) { o.DB = nil },
		"no clock":     func(o *sandbox.Options) { o.Clock = nil },
		"no ids":       func(o *sandbox.Options) { o.IDs = nil },
		"short secret": func(o *sandbox.Options) { o.Secret = []byte("short") },
	} {
		o := good
		mod(&o)
		if _, err := sandbox.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestCRD01_TokenizeChecksCardsAndKeepsOnlyPublicFacts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		clk := clock.NewManual(time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC))
		e := newEnv(t, db, clk, nil)
		ctx := e.ctx
		a, err := e.sb.Tokenize(ctx, "4242 4242 4242 4242", 3, 2026, "123")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(a.Token, "tok_") || a.Brand != "visa" || a.Last4 != "4242" || a.ExpMonth != 3 || a.ExpYear != 2026 || len(a.Fingerprint) != 64 {
			t.Fatalf("card %+v", a)
		}
		b, err := e.sb.Tokenize(ctx, "4242424242424242", 12, 30, "999")
		if err != nil {
			t.Fatal(err)
		}
		if b.Token == a.Token || b.Fingerprint != a.Fingerprint || b.ExpYear != 2030 {
			t.Fatalf("same card, second token: %+v vs %+v", b, a)
		}
		mc, _ := e.sb.Tokenize(ctx, "5555555555554444", 12, 2030, "123")
		if mc.Fingerprint == a.Fingerprint || mc.Brand != "mastercard" {
			t.Fatalf("other card: %+v", mc)
		}
		got, err := e.sb.Card(ctx, a.Token)
		if err != nil || got != a {
			t.Fatalf("Card = %+v, %v; want %+v", got, err, a)
		}
		_, err = e.sb.Card(ctx, "tok_"+strings.Repeat("a", 26))
		wantCode(t, err, psp.ETokenNotFound)
		_, err = e.sb.Card(ctx, "4242424242424242")
		wantCode(t, err, psp.ETokenNotFound)

		// The expiry month is valid to its end; the next month it is not.
		clk.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
		_, err = e.sb.Tokenize(ctx, "4242424242424242", 3, 2026, "123")
		wantCode(t, err, okpay.EInvalid)
		var oe *okpay.Error
		if !asError(err, &oe) || oe.Fields["expiry"] == "" || len(oe.Fields) != 1 {
			t.Fatalf("fields %+v", oe)
		}
		_, err = e.sb.Tokenize(ctx, "4242424242424241", 12, 2030, "12")
		if !asError(err, &oe) || oe.Fields["number"] == "" || oe.Fields["cvc"] == "" {
			t.Fatalf("Luhn + cvc: %v", err)
		}
		if strings.Contains(err.Error(), "4242424242424241") {
			t.Fatalf("the error repeats the number: %v", err)
		}
	})
}

func asError(err error, target **okpay.Error) bool {
	e, ok := err.(*okpay.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestChargesSettleThroughSignedWebhooks(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		e.start()
		ctx := e.ctx
		cases := []struct {
			pan     string
			amount  int64
			status  psp.Status
			failure string
		}{
			{"4242424242424242", 1000, psp.StatusSucceeded, ""},
			{"5555555555554444", 2500, psp.StatusSucceeded, ""},
			{"6200000000000005", 1, psp.StatusSucceeded, ""},
			{"378282246310005", 0, psp.StatusSucceeded, ""},
			{"4000000000000002", 1000, psp.StatusFailed, "card_declined"},
			{"4000000000000002", 0, psp.StatusFailed, "card_declined"},
			{"4000000000009995", 1000, psp.StatusFailed, "insufficient_funds"},
			{"4000000000009995", 0, psp.StatusSucceeded, ""},
			{"4000000000000077", 1000, psp.StatusSucceeded, ""},
			{"4111111111111111", 1000, psp.StatusSucceeded, ""},
		}
		for i, c := range cases {
			card := e.tokenize(c.pan)
			ref := fmt.Sprintf("dep_%d", i)
			ch, err := e.sb.Charge(ctx, psp.ChargeRequest{Reference: ref, Token: card.Token, Amount: usd(c.amount)})
			if err != nil {
				t.Fatalf("%s: %v", c.pan, err)
			}
			if ch.Status != psp.StatusPending || !strings.HasPrefix(ch.ID, "ch_") || ch.Reference != ref || ch.ActionURL != "" {
				t.Fatalf("%s: charge %+v", c.pan, ch)
			}
			ev := e.recv.waitRef(t, ref)
			wantType := psp.EventChargeSucceeded
			if c.status == psp.StatusFailed {
				wantType = psp.EventChargeFailed
			}
			if ev.Type != wantType || ev.Status != c.status || ev.FailureCode != c.failure || ev.ObjectID != ch.ID ||
				ev.Amount != usd(c.amount) || !strings.HasPrefix(ev.ID, "evt_") {
				t.Errorf("%s %d: event %+v", c.pan, c.amount, ev)
			}
			if c.failure != "" && ev.FailureMessage == "" {
				t.Errorf("%s: no failure message", c.pan)
			}
			again, err := e.sb.Charge(ctx, psp.ChargeRequest{Reference: ref, Token: card.Token, Amount: usd(c.amount)})
			if err != nil || again.ID != ch.ID || again.Status != c.status || again.FailureCode != c.failure {
				t.Errorf("%s: after settling, the same request gives %+v, %v", c.pan, again, err)
			}
		}
		ev := e.recv.snapshot()
		seen := map[string]bool{}
		for _, x := range ev {
			if seen[x.ID] {
				t.Errorf("event id %s delivered twice", x.ID)
			}
			seen[x.ID] = true
		}
		if e.recv.rejected != 0 {
			t.Errorf("%d webhooks failed verification", e.recv.rejected)
		}
	})
}

func TestChargeIsIdempotentByReference(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		ctx := e.ctx
		card := e.tokenize("4242424242424242")
		req := psp.ChargeRequest{Reference: "dep_same", Token: card.Token, Amount: usd(5000)}
		var wg sync.WaitGroup
		results := make([]psp.Charge, 10)
		errs := make([]error, 10)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = e.sb.Charge(ctx, req)
			}()
		}
		wg.Wait()
		for i := range results {
			if errs[i] != nil || results[i].ID != results[0].ID {
				t.Fatalf("request %d: %+v, %v (first %+v)", i, results[i], errs[i], results[0])
			}
		}
		other := req
		other.Amount = usd(5001)
		_, err := e.sb.Charge(ctx, other)
		wantCode(t, err, okpay.EConflict)
		other = req
		other.Token = e.tokenize("4242424242424242").Token
		_, err = e.sb.Charge(ctx, other)
		wantCode(t, err, okpay.EConflict)

		e.start()
		e.recv.waitRef(t, "dep_same")
		time.Sleep(100 * time.Millisecond)
		if n := countRef(e.recv.snapshot(), "dep_same"); n != 1 {
			t.Fatalf("%d events for one charge", n)
		}
		var rows int
		db.Read.QueryRow(`SELECT COUNT(*) FROM psp_sandbox_charges WHERE reference = 'dep_same'`).Scan(&rows)
		if rows != 1 {
			t.Fatalf("%d charge rows", rows)
		}
	})
}

func TestChargeValidation(t *testing.T) {
	e := newEnv(t, sqldbtest.Open(t, sqldb.SQLite), clock.System{}, nil)
	card := e.tokenize("4242424242424242")
	for name, req := range map[string]psp.ChargeRequest{
		"no reference":      {Token: card.Token, Amount: usd(1)},
		"negative":          {Reference: "r", Token: card.Token, Amount: usd(-1)},
		"no currency":       {Reference: "r", Token: card.Token, Amount: money.Amount{Minor: 1}},
		"bad return URL":    {Reference: "r", Token: card.Token, Amount: usd(1), ReturnURL: "javascript:alert(1)"},
		"other-site path":   {Reference: "r", Token: card.Token, Amount: usd(1), ReturnURL: "//evil.test/x"},
		"bad statement":     {Reference: "r", Token: card.Token, Amount: usd(0), StatementCode: "12 34"},
		"control character": {Reference: "r\n", Token: card.Token, Amount: usd(1)},
	} {
		_, err := e.sb.Charge(e.ctx, req)
		if okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "r", Token: "tok_nope", Amount: usd(1)})
	wantCode(t, err, psp.ETokenNotFound)
}

func TestCRD04_ThreeDSecureChallengeOnItsPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		e.start()
		ctx := e.ctx
		card := e.tokenize("4000000000003220")
		ch, err := e.sb.Charge(ctx, psp.ChargeRequest{Reference: "ver_3ds", Token: card.Token, Amount: usd(0),
			ReturnURL: "https://okpay.test/wallet/cards/1/verify/done", StatementCode: "4821"})
		if err != nil {
			t.Fatal(err)
		}
		if ch.Status != psp.StatusRequiresAction || ch.ActionURL != "https://okpay.test/sandbox/3ds/"+ch.ID {
			t.Fatalf("charge %+v", ch)
		}
		// Nothing settles while the customer has not answered.
		time.Sleep(50 * time.Millisecond)
		if n := countRef(e.recv.snapshot(), "ver_3ds"); n != 0 {
			t.Fatalf("%d events before the challenge", n)
		}
		path := strings.TrimPrefix(ch.ActionURL, "https://okpay.test")
		w := e.do("GET", path+"?lang=zh-CN", "", "")
		page := w.Body.String()
		if w.Code != 200 || !strings.Contains(page, "确认这笔付款") || !strings.Contains(page, "•••• 3220") ||
			!strings.Contains(page, "OKPAY* 4821") || !strings.Contains(page, `value="complete"`) {
			t.Fatalf("challenge page %d:\n%s", w.Code, page)
		}
		w = e.do("GET", path, "", "", "Accept-Language", "en-GB,en;q=0.9")
		if !strings.Contains(w.Body.String(), "Confirm this payment") {
			t.Fatalf("English page:\n%s", w.Body.String())
		}
		if w := e.do("GET", "/sandbox/3ds/ch_zzzzzzzzzzzzz", "", ""); w.Code != 404 {
			t.Fatalf("unknown charge: %d", w.Code)
		}
		if w := e.do("POST", path, "application/x-www-form-urlencoded", form("outcome", "maybe")); w.Code != 400 {
			t.Fatalf("bad outcome: %d", w.Code)
		}

		w = e.do("POST", path, "application/x-www-form-urlencoded", form("outcome", "complete", "lang", "en"))
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://okpay.test/wallet/cards/1/verify/done" {
			t.Fatalf("complete: %d %q", w.Code, w.Header().Get("Location"))
		}
		ev := e.recv.waitRef(t, "ver_3ds")
		if ev.Type != psp.EventChargeSucceeded || ev.ObjectID != ch.ID {
			t.Fatalf("event %+v", ev)
		}
		// A second answer changes nothing.
		e.do("POST", path, "application/x-www-form-urlencoded", form("outcome", "fail"))
		time.Sleep(50 * time.Millisecond)
		if n := countRef(e.recv.snapshot(), "ver_3ds"); n != 1 {
			t.Fatalf("%d events after a second answer", n)
		}
		if w := e.do("GET", path, "", ""); !strings.Contains(w.Body.String(), `data-testid="outcome"`) ||
			!strings.Contains(w.Body.String(), "Succeeded") {
			t.Fatalf("page after completion:\n%s", w.Body.String())
		}

		// Failing the challenge fails the charge.
		ch2, err := e.sb.Charge(ctx, psp.ChargeRequest{Reference: "dep_3ds", Token: card.Token, Amount: usd(700)})
		if err != nil {
			t.Fatal(err)
		}
		path2 := "/sandbox/3ds/" + ch2.ID
		w = e.do("POST", path2, "application/x-www-form-urlencoded", form("outcome", "fail", "lang", "zh-CN"))
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != path2+"?lang=zh-CN" {
			t.Fatalf("fail: %d %q", w.Code, w.Header().Get("Location"))
		}
		ev = e.recv.waitRef(t, "dep_3ds")
		if ev.Type != psp.EventChargeFailed || ev.FailureCode != "authentication_failed" {
			t.Fatalf("event %+v", ev)
		}
		if got, _ := e.sb.Charge(ctx, psp.ChargeRequest{Reference: "dep_3ds", Token: card.Token, Amount: usd(700)}); got.Status != psp.StatusFailed {
			t.Fatalf("charge after failing: %+v", got)
		}
	})
}

func TestPayoutsSettleAndNeverPayTwice(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		clk := clock.NewManual(time.Now())
		e := newEnv(t, db, clk, func(o *sandbox.Options) { o.Delay = 2 * time.Second })
		ctx := e.ctx
		good := e.tokenize("4242424242424242")
		noPayout := e.tokenize("4000000000000077")
		cases := []struct {
			ref     string
			dest    psp.Destination
			ok      bool
			failure string
		}{
			{"wd_card", psp.Destination{Kind: psp.DestCard, Token: good.Token}, true, ""},
			{"wd_card_fail", psp.Destination{Kind: psp.DestCard, Token: noPayout.Token}, false, "payout_declined"},
			{"wd_iban", psp.Destination{Kind: psp.DestBankAccount, IBAN: "GB82 WEST 1234 5698 7654 32", Holder: "Li Lei"}, true, ""},
			{"wd_iban_fail", psp.Destination{Kind: psp.DestBankAccount, IBAN: "GB94FAIL12345698765432"}, false, "account_closed"},
			{"wd_ewallet", psp.Destination{Kind: psp.DestEWallet, Provider: "alipay", Account: "lilei@example.com"}, true, ""},
			{"wd_ewallet_fail", psp.Destination{Kind: psp.DestEWallet, Provider: "paypal", Account: "FAIL@example.com"}, false, "account_not_found"},
		}
		ids := map[string]string{}
		for _, c := range cases {
			p, err := e.sb.Payout(ctx, psp.PayoutRequest{Reference: c.ref, Destination: c.dest, Amount: usd(1234)})
			if err != nil {
				t.Fatalf("%s: %v", c.ref, err)
			}
			if p.Status != psp.StatusPending || !strings.HasPrefix(p.ID, "po_") {
				t.Fatalf("%s: %+v", c.ref, p)
			}
			ids[c.ref] = p.ID
			if st, err := e.sb.PayoutStatus(ctx, c.ref); err != nil || st.Status != psp.StatusPending {
				t.Fatalf("%s: status before the delay %+v, %v", c.ref, st, err)
			}
		}
		// A retry with the same reference is the same payout, even under
		// concurrency; with other details it is refused.
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := e.sb.Payout(ctx, psp.PayoutRequest{Reference: "wd_card", Destination: cases[0].dest, Amount: usd(1234)})
				if err != nil || p.ID != ids["wd_card"] {
					t.Errorf("retry: %+v, %v", p, err)
				}
			}()
		}
		wg.Wait()
		_, err := e.sb.Payout(ctx, psp.PayoutRequest{Reference: "wd_card", Destination: cases[0].dest, Amount: usd(1235)})
		wantCode(t, err, okpay.EConflict)
		_, err = e.sb.Payout(ctx, psp.PayoutRequest{Reference: "wd_card", Destination: cases[4].dest, Amount: usd(1234)})
		wantCode(t, err, okpay.EConflict)

		clk.Advance(2 * time.Second)
		for _, c := range cases {
			st, err := e.sb.PayoutStatus(ctx, c.ref)
			if err != nil {
				t.Fatal(err)
			}
			if (st.Status == psp.StatusSucceeded) != c.ok || st.FailureCode != c.failure || st.ID != ids[c.ref] {
				t.Errorf("%s: %+v", c.ref, st)
			}
		}
		_, err = e.sb.PayoutStatus(ctx, "wd_nope")
		wantCode(t, err, okpay.ENotFound)

		e.start()
		e.recv.waitFor(t, "six payout events", func(ev []psp.Event) bool { return len(ev) >= len(cases) })
		for _, c := range cases {
			ev := e.recv.waitRef(t, c.ref)
			want := psp.EventPayoutSucceeded
			if !c.ok {
				want = psp.EventPayoutFailed
			}
			if ev.Type != want || ev.FailureCode != c.failure || ev.ObjectID != ids[c.ref] || ev.Amount != usd(1234) {
				t.Errorf("%s: event %+v", c.ref, ev)
			}
		}
		time.Sleep(50 * time.Millisecond)
		if n := countRef(e.recv.snapshot(), "wd_card"); n != 1 {
			t.Errorf("%d events for one payout", n)
		}
		var rows int
		db.Read.QueryRow(`SELECT COUNT(*) FROM psp_sandbox_payouts WHERE reference = 'wd_card'`).Scan(&rows)
		if rows != 1 {
			t.Errorf("%d payout rows for one reference", rows)
		}
	})
}

func TestPayoutValidation(t *testing.T) {
	e := newEnv(t, sqldbtest.Open(t, sqldb.SQLite), clock.System{}, nil)
	for name, req := range map[string]psp.PayoutRequest{
		"zero":         {Reference: "r", Amount: usd(0), Destination: psp.Destination{Kind: psp.DestEWallet, Provider: "alipay", Account: "a"}},
		"bad IBAN":     {Reference: "r", Amount: usd(1), Destination: psp.Destination{Kind: psp.DestBankAccount, IBAN: "GB00WEST12345698765432"}},
		"no kind":      {Reference: "r", Amount: usd(1)},
		"no account":   {Reference: "r", Amount: usd(1), Destination: psp.Destination{Kind: psp.DestEWallet, Provider: "alipay"}},
		"bad provider": {Reference: "r", Amount: usd(1), Destination: psp.Destination{Kind: psp.DestEWallet, Provider: "Ali Pay", Account: "a"}},
	} {
		if _, err := e.sb.Payout(e.ctx, req); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := e.sb.Payout(e.ctx, psp.PayoutRequest{Reference: "r", Amount: usd(1), Destination: psp.Destination{Kind: psp.DestCard, Token: "tok_x"}})
	wantCode(t, err, psp.ETokenNotFound)
}

var (
	microRe = regexp.MustCompile(`data-testid="micro-amounts">\$0\.(\d\d) · \$0\.(\d\d)<`)
	codeRe  = regexp.MustCompile(`data-testid="ewallet-code">(\d{6})<`)
)

func TestCRD10_MicroDepositsAndEWalletCodesShowOnThePage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		e.start()
		ctx := e.ctx
		if err := e.sb.MicroDeposits(ctx, "md_1", "DE89 3704 0044 0532 0130 00", "Han Meimei", "USD"); err != nil {
			t.Fatal(err)
		}
		ev := e.recv.waitRef(t, "md_1")
		if ev.Type != psp.EventMicroDepositsSent || ev.Status != psp.StatusSucceeded || ev.Amount != (money.Amount{}) {
			t.Fatalf("event %+v", ev)
		}
		page := e.do("GET", "/sandbox/", "", "").Body.String()
		m := microRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no micro-deposit amounts on the page:\n%s", page)
		}
		a, _ := strconv.ParseInt(m[1], 10, 64)
		b, _ := strconv.ParseInt(m[2], 10, 64)
		if a < 1 || a > 99 || b < 1 || b > 99 {
			t.Fatalf("amounts %d, %d", a, b)
		}
		for _, c := range []struct {
			x, y int64
			want bool
		}{{a, b, true}, {b, a, true}, {a, b + 100, false}, {0, 0, false}} {
			if ok, err := e.sb.CheckMicroDeposits(ctx, "md_1", c.x, c.y); err != nil || ok != c.want {
				t.Errorf("check %d, %d: %v, %v", c.x, c.y, ok, err)
			}
		}
		// Same reference: nothing new.
		if err := e.sb.MicroDeposits(ctx, "md_1", "DE89370400440532013000", "Han Meimei", "USD"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := e.sb.CheckMicroDeposits(ctx, "md_1", a, b); !ok {
			t.Fatal("a repeated request changed the amounts")
		}
		wantCode(t, e.sb.MicroDeposits(ctx, "md_1", "GB82WEST12345698765432", "", "USD"), okpay.EConflict)
		wantCode(t, e.sb.MicroDeposits(ctx, "md_2", "DE00370400440532013000", "", "USD"), okpay.EInvalid)
		_, err := e.sb.CheckMicroDeposits(ctx, "md_none", 1, 2)
		wantCode(t, err, okpay.ENotFound)

		if err := e.sb.MicroDeposits(ctx, "md_fail", "GB94FAIL12345698765432", "", "EUR"); err != nil {
			t.Fatal(err)
		}
		if ev := e.recv.waitRef(t, "md_fail"); ev.Type != psp.EventMicroDepositsFailed || ev.FailureCode != "account_closed" {
			t.Fatalf("event %+v", ev)
		}

		if err := e.sb.SendEWalletCode(ctx, "ew_1", "alipay", "hanmeimei@example.com"); err != nil {
			t.Fatal(err)
		}
		page = e.do("GET", "/sandbox/?lang=zh-CN", "", "").Body.String()
		cm := codeRe.FindStringSubmatch(page)
		if cm == nil || !strings.Contains(page, "电子钱包确认码") {
			t.Fatalf("no code on the page:\n%s", page)
		}
		if err := e.sb.SendEWalletCode(ctx, "ew_1", "alipay", "hanmeimei@example.com"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.sb.SendEWalletCode(ctx, "ew_1", "alipay", "other@example.com"), okpay.EConflict)
		wrong := "000000"
		if cm[1] == wrong {
			wrong = "111111"
		}
		for code, want := range map[string]bool{cm[1]: true, wrong: false, "": false, cm[1] + "0": false} {
			if ok, err := e.sb.CheckEWalletCode(ctx, "ew_1", code); err != nil || ok != want {
				t.Errorf("code %q: %v, %v", code, ok, err)
			}
		}
		_, err = e.sb.CheckEWalletCode(ctx, "ew_none", "123456")
		wantCode(t, err, okpay.ENotFound)
	})
}

func TestWebhookDeliveryRetriesWithBackoff(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		var mu sync.Mutex
		var waits []int
		e := newEnv(t, db, clock.System{}, func(o *sandbox.Options) {
			o.MaxAttempts = 3
			o.Backoff = func(attempt int) time.Duration {
				mu.Lock()
				waits = append(waits, attempt)
				mu.Unlock()
				return time.Duration(attempt) * 10 * time.Millisecond
			}
		})
		e.recv.set(func(r *receiver) { r.failNext = 2 })
		e.start()
		card := e.tokenize("4242424242424242")
		if _, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "dep_retry", Token: card.Token, Amount: usd(100)}); err != nil {
			t.Fatal(err)
		}
		ev := e.recv.waitRef(t, "dep_retry")
		d := delivery(t, e, ev.ID)
		if d.Status != "delivered" || d.Attempts != 3 || d.LastStatus != 204 || d.LastError != "" {
			t.Fatalf("delivery %+v", d)
		}
		mu.Lock()
		if fmt.Sprint(waits) != "[1 2]" {
			t.Errorf("backoff asked for attempts %v, want [1 2]", waits)
		}
		mu.Unlock()
		if !strings.Contains(e.logs.String(), "webhook delivery failed") {
			t.Error("failures were not logged")
		}

		// After MaxAttempts the sandbox gives up; the page sends it again.
		e.recv.set(func(r *receiver) { r.failAll = true })
		if _, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "dep_giveup", Token: card.Token, Amount: usd(100)}); err != nil {
			t.Fatal(err)
		}
		var failed sandbox.Delivery
		waitUntil(t, "the delivery to fail", func() bool {
			for _, d := range deliveries(t, e) {
				if d.Reference == "dep_giveup" && d.Status == "failed" {
					failed = d
					return true
				}
			}
			return false
		})
		if failed.Attempts != 3 || failed.LastStatus != 500 || !strings.Contains(failed.LastError, "500") {
			t.Fatalf("failed delivery %+v", failed)
		}
		page := e.do("GET", "/sandbox/", "", "").Body.String()
		if !strings.Contains(page, failed.EventID) || !strings.Contains(page, "Gave up") {
			t.Fatalf("the page does not show the failed delivery:\n%s", page)
		}
		e.recv.set(func(r *receiver) { r.failAll = false })
		if w := e.do("GET", "/sandbox/events/"+failed.EventID+"/redeliver", "", ""); w.Code != http.StatusMethodNotAllowed {
			t.Fatalf("GET redeliver: %d", w.Code)
		}
		w := e.do("POST", "/sandbox/events/"+failed.EventID+"/redeliver", "application/x-www-form-urlencoded", form("lang", "zh-CN"))
		if w.Code != http.StatusSeeOther {
			t.Fatalf("redeliver: %d", w.Code)
		}
		if ev := e.recv.waitRef(t, "dep_giveup"); ev.ID != failed.EventID {
			t.Fatalf("redelivered %+v", ev)
		}
		if w := e.do("POST", "/sandbox/events/evt_nope/redeliver", "application/x-www-form-urlencoded", ""); w.Code != 404 {
			t.Fatalf("unknown event: %d", w.Code)
		}
		// Redelivering a delivered event sends the same id again: the
		// consumer must drop it as a replay.
		if err := e.sb.Redeliver(e.ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		e.recv.waitFor(t, "the replay", func(evs []psp.Event) bool { return countRef(evs, "dep_retry") == 2 })
	})
}

func delivery(t *testing.T, e *env, eventID string) sandbox.Delivery {
	t.Helper()
	var out sandbox.Delivery
	waitUntil(t, "delivery "+eventID+" recorded", func() bool {
		for _, d := range deliveries(t, e) {
			if d.EventID == eventID && d.Status != "pending" {
				out = d
				return true
			}
		}
		return false
	})
	return out
}

func deliveries(t *testing.T, e *env) []sandbox.Delivery {
	t.Helper()
	ds, err := e.sb.Deliveries(e.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestREL11_PendingEventsSurviveARestart(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		// The first sandbox's receiver is down.
		first := newEnv(t, db, clock.System{}, nil)
		first.recv.set(func(r *receiver) { r.failAll = true })
		first.start()
		card := first.tokenize("4242424242424242")
		if _, err := first.sb.Charge(first.ctx, psp.ChargeRequest{Reference: "dep_restart", Token: card.Token, Amount: usd(100)}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "a failed attempt", func() bool {
			for _, d := range deliveries(t, first) {
				if d.Reference == "dep_restart" && d.Attempts > 0 {
					return true
				}
			}
			return false
		})
		// A payout created but not yet settled when the process stops.
		first.sb.Close()
		var eventID string
		for _, d := range deliveries(t, first) {
			if d.Reference == "dep_restart" {
				eventID = d.EventID
			}
		}
		// The ids of the new process must not collide with the old ones.
		second := newEnv(t, db, clock.System{}, func(o *sandbox.Options) { o.IDs = offset{1 << 20} })
		if _, err := second.sb.Payout(second.ctx, psp.PayoutRequest{Reference: "wd_restart",
			Destination: psp.Destination{Kind: psp.DestCard, Token: card.Token}, Amount: usd(50)}); err != nil {
			t.Fatal(err)
		}
		second.sb.Close() // never started: the payout is pending in the database
		third := newEnv(t, db, clock.System{}, func(o *sandbox.Options) { o.IDs = offset{2 << 20} })
		third.start()
		if ev := third.recv.waitRef(t, "dep_restart"); ev.ID != eventID {
			t.Fatalf("after the restart got %+v, want event %s", ev, eventID)
		}
		third.recv.waitRef(t, "wd_restart")
	})
}

// offset is an id generator starting above another's range.
type offset struct{ base int64 }

var offsetSeq ids.Sequence

func (o offset) Next() int64 { return o.base + offsetSeq.Next() }

func TestTwoWorkersDeliverEveryEvent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		a := newEnv(t, db, clock.System{}, nil)
		gen := a.ids
		b := newEnv(t, db, clock.System{}, func(o *sandbox.Options) { o.IDs = gen; o.WebhookURL = a.recv.URL() })
		card := a.tokenize("4242424242424242")
		a.start()
		b.start()
		for i := range 20 {
			sb := a.sb
			if i%2 == 1 {
				sb = b.sb
			}
			if _, err := sb.Charge(a.ctx, psp.ChargeRequest{Reference: fmt.Sprintf("dep_%d", i), Token: card.Token, Amount: usd(int64(100 + i))}); err != nil {
				t.Fatal(err)
			}
		}
		evs := a.recv.waitFor(t, "20 events", func(ev []psp.Event) bool {
			seen := map[string]bool{}
			for _, e := range ev {
				seen[e.Reference] = true
			}
			return len(seen) == 20
		})
		byRef := map[string]string{}
		for _, e := range evs {
			if id, ok := byRef[e.Reference]; ok && id != e.ID {
				t.Errorf("%s settled twice: events %s and %s", e.Reference, id, e.ID)
			}
			byRef[e.Reference] = e.ID
		}
	})
}

func TestTokenEndpoint(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		year := fmt.Sprint(time.Now().Year() + 2)
		w := e.do("POST", "/sandbox/v1/tokens", "application/json",
			`{"number":"4242 4242 4242 4242","exp_month":12,"exp_year":`+year+`,"cvc":"123"}`)
		if w.Code != http.StatusCreated || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("JSON: %d %s", w.Code, w.Body)
		}
		var got struct {
			Token, Brand, Last4, Fingerprint string
			ExpMonth                         int `json:"exp_month"`
			ExpYear                          int `json:"exp_year"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Brand != "visa" || got.Last4 != "4242" || got.ExpMonth != 12 || fmt.Sprint(got.ExpYear) != year || len(got.Fingerprint) != 64 {
			t.Fatalf("response %+v", got)
		}
		if c, err := e.sb.Card(e.ctx, got.Token); err != nil || c.Fingerprint != got.Fingerprint {
			t.Fatalf("Card(%s) = %+v, %v", got.Token, c, err)
		}

		// A form with return_to comes back to the page with the token.
		w = e.do("POST", "/sandbox/v1/tokens", "application/x-www-form-urlencoded",
			form("number", "6200000000000005", "exp", "12/"+year[2:], "cvc", "123", "return_to", "/wallet/cards/new?step=2"))
		loc, _ := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || loc.Path != "/wallet/cards/new" || loc.Query().Get("step") != "2" ||
			!strings.HasPrefix(loc.Query().Get("card_token"), "tok_") {
			t.Fatalf("form: %d %q", w.Code, w.Header().Get("Location"))
		}
		if c, _ := e.sb.Card(e.ctx, loc.Query().Get("card_token")); c.Brand != "unionpay" {
			t.Fatalf("card %+v", c)
		}
		w = e.do("POST", "/sandbox/v1/tokens", "application/x-www-form-urlencoded",
			form("number", "4242424242424241", "exp", "12/"+year, "cvc", "123", "return_to", "https://evil.test/"))
		loc, _ = url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || loc.Host != "" || loc.Path != "/" || loc.Query().Get("card_error") != "invalid_number" ||
			loc.Query().Get("card_error_field") != "number" {
			t.Fatalf("form error: %d %q", w.Code, w.Header().Get("Location"))
		}

		// Validation problems, in the customer's language.
		w = e.do("POST", "/sandbox/v1/tokens", "application/json", `{"number":"4242424242424241","exp":"13/30","cvc":"1"}`,
			"Accept-Language", "zh-CN,zh;q=0.9")
		var pr struct {
			Status     int
			Code       string
			Title      string
			Errors     map[string]string
			ErrorCodes map[string]string `json:"error_codes"`
		}
		json.Unmarshal(w.Body.Bytes(), &pr)
		if w.Code != 422 || w.Header().Get("Content-Type") != "application/problem+json" || pr.Code != okpay.EInvalid ||
			pr.ErrorCodes["number"] != "invalid_number" || pr.ErrorCodes["expiry"] != "invalid_expiry" ||
			pr.ErrorCodes["cvc"] != "invalid_cvc" || !strings.Contains(pr.Errors["number"], "卡号无效") {
			t.Fatalf("problem %d %s", w.Code, w.Body)
		}
		for name, c := range map[string][2]string{
			"unknown field": {"application/json", `{"number":"4242424242424242","pan":"x"}`},
			"text":          {"text/plain", "4242424242424242"},
			"not json":      {"application/json", `{"number":`},
		} {
			if w := e.do("POST", "/sandbox/v1/tokens", c[0], c[1]); w.Code != 400 || strings.Contains(w.Body.String(), "4242424242424242") {
				t.Errorf("%s: %d %s", name, w.Code, w.Body)
			}
		}
		if w := e.do("POST", "/sandbox/v1/tokens", "application/json", `{"number":"`+strings.Repeat(" ", 5000)+`"}`); w.Code != 413 {
			t.Errorf("oversized: %d", w.Code)
		}
		if w := e.do("GET", "/sandbox/v1/tokens", "", ""); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", w.Code)
		}
	})
}

func TestSandboxPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, func(o *sandbox.Options) { o.Delay = time.Hour })
		card := e.tokenize("5555555555554444")
		if _, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: `<script>alert("x")</script>`, Token: card.Token,
			Amount: money.New(0, "CNY"), StatementCode: "7305"}); err != nil {
			t.Fatal(err)
		}
		w := e.do("GET", "/sandbox/", "", "", "Accept-Language", "zh-CN")
		page := w.Body.String()
		for _, want := range []string{"沙箱支付服务商", "4242 4242 4242 4242", "4000 0000 0000 3220", "6200 0000 0000 0005",
			"Mastercard •••• 4444", "OKPAY* 7305", "&lt;script&gt;", "GB94FAIL12345698765432", `lang="zh-CN"`, `href="/sandbox/sandbox.css"`} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		if w.Code != 200 || w.Header().Get("Content-Language") != "zh-CN" || strings.Contains(page, `<script>alert`) {
			t.Fatalf("page %d:\n%s", w.Code, page)
		}
		if en := e.do("GET", "/sandbox/?lang=en", "", "", "Accept-Language", "zh-CN").Body.String(); !strings.Contains(en, "Sandbox payment provider") {
			t.Fatal("?lang=en is not English")
		}
		// The token just made with the page's form is shown; junk is not.
		if p := e.do("GET", "/sandbox/?card_token="+card.Token, "", "").Body.String(); !strings.Contains(p, `data-testid="new-token"`) {
			t.Error("the new token is not shown")
		}
		if p := e.do("GET", "/sandbox/?card_token=%3Cb%3E", "", "").Body.String(); strings.Contains(p, `data-testid="new-token"`) {
			t.Error("a malformed token is shown")
		}
		if css := e.do("GET", "/sandbox/sandbox.css", "", ""); css.Code != 200 || !strings.HasPrefix(css.Header().Get("Content-Type"), "text/css") {
			t.Errorf("css: %d", css.Code)
		}
		if w := e.do("POST", "/sandbox/", "application/x-www-form-urlencoded", ""); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST page: %d", w.Code)
		}
		// No webhook URL: the page says events wait.
		e2 := newEnv(t, db, clock.System{}, func(o *sandbox.Options) { o.WebhookURL = "" })
		if p := e2.do("GET", "/sandbox/?lang=en", "", "").Body.String(); !strings.Contains(p, "No webhook address is configured") {
			t.Error("no notice without a webhook URL")
		}
	})
}

// TestCRD01_NoCardNumberIsStoredLoggedOrReturned tokenizes every test card
// by every route, runs charges and payouts, then scans every sandbox table,
// the log and every response for the card numbers.
func TestCRD01_NoCardNumberIsStoredLoggedOrReturned(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		e.start()
		year := time.Now().Year() + 2
		var pans []string
		var responses strings.Builder
		for i, c := range sandbox.TestCards() {
			pan := strings.ReplaceAll(c.Number, " ", "")
			pans = append(pans, pan)
			cvc := cvcFor(pan)
			w := e.do("POST", "/sandbox/v1/tokens", "application/json",
				fmt.Sprintf(`{"number":%q,"exp_month":1,"exp_year":%d,"cvc":%q}`, c.Number, year, cvc))
			responses.WriteString(w.Body.String() + w.Header().Get("Location"))
			w = e.do("POST", "/sandbox/v1/tokens", "application/x-www-form-urlencoded",
				form("number", pan, "exp", fmt.Sprintf("01/%d", year), "cvc", cvc, "return_to", "/sandbox/"))
			responses.WriteString(w.Body.String() + w.Header().Get("Location"))
			// An invalid attempt with the same number must not echo it either.
			w = e.do("POST", "/sandbox/v1/tokens", "application/json", fmt.Sprintf(`{"number":%q,"exp_month":13,"exp_year":1,"cvc":"x"}`, pan))
			responses.WriteString(w.Body.String())
			card := e.tokenize(pan)
			ch, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: fmt.Sprintf("dep_%d", i), Token: card.Token, Amount: usd(100)})
			if err != nil {
				t.Fatal(err)
			}
			if ch.Status == psp.StatusRequiresAction {
				e.do("POST", "/sandbox/3ds/"+ch.ID, "application/x-www-form-urlencoded", form("outcome", "complete"))
			}
			if _, err := e.sb.Payout(e.ctx, psp.PayoutRequest{Reference: fmt.Sprintf("wd_%d", i),
				Destination: psp.Destination{Kind: psp.DestCard, Token: card.Token}, Amount: usd(100)}); err != nil {
				t.Fatal(err)
			}
			e.recv.waitRef(t, fmt.Sprintf("wd_%d", i))
		}
		responses.WriteString(e.do("GET", "/sandbox/", "", "").Body.String())
		dump := dumpSandboxTables(t, db)
		for _, pan := range pans {
			for where, text := range map[string]string{"database": dump, "log": e.logs.String(), "responses": responses.String()} {
				if strings.Contains(text, pan) {
					t.Errorf("the card number %s appears in the %s", pan, where)
				}
			}
		}
		if !strings.Contains(dump, "4242") {
			t.Fatal("the dump does not look like the tables' content")
		}
	})
}

// dumpSandboxTables returns the text of every row of every psp_sandbox_*
// table, and checks the list of tables against the schema.
func dumpSandboxTables(t *testing.T, db *sqldb.DB) string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'psp_sandbox_%' ORDER BY name`
	if db.Dialect == sqldb.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'psp_sandbox_%' ORDER BY table_name`
	}
	rows, err := db.Read.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) != 8 {
		t.Fatalf("sandbox tables %v", tables)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := db.Read.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for _, c := range cols {
			for _, bad := range []string{"pan", "cvv", "cvc", "card_number", "track"} {
				if strings.Contains(c, bad) {
					t.Errorf("CRD-02: %s has a column %s", table, c)
				}
			}
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%v\t", v)
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String()
}
