package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/prometheus/client_golang/prometheus"
)

type apiFixture struct {
	t      *testing.T
	db     *sqldb.DB
	srv    *httptest.Server
	key    string
	ledger *ledger.Ledger
	reg    *prometheus.Registry
}

func startAPI(t *testing.T, db *sqldb.DB, key string) *apiFixture {
	t.Helper()
	ctx := context.Background()
	g, _ := ids.NewSnowflake(0, nil)
	l, err := ledger.New(ctx, db, ledger.Options{IDs: g, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	keys := apikey.NewStore(db, clock.System{}, g)
	if key == "" {
		_, key, err = keys.Create(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := New(Config{Ledger: l, Keys: keys, Catalog: cat, Registerer: reg})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(s.Observe(mux))
	f := &apiFixture{t: t, db: db, srv: srv, key: key, ledger: l, reg: reg}
	t.Cleanup(f.stop)
	return f
}

// storedKeys counts the stored responses under an idempotency key.
func (f *apiFixture) storedKeys(key string) int {
	f.t.Helper()
	var n int
	if err := f.db.Read.QueryRow(`SELECT count(*) FROM idempotency_keys WHERE key = $1`, key).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *apiFixture) stop() {
	f.srv.Close()
	f.ledger.Close()
}

func (f *apiFixture) do(method, path, idem string, body any, hdr ...string) (int, http.Header, map[string]any) {
	f.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Content-Type", "application/json")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			f.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func (f *apiFixture) account(kind string, flags ...string) string {
	f.t.Helper()
	if flags == nil {
		flags = []string{}
	}
	st, _, out := f.do("POST", "/api/v1/accounts", "", map[string]any{"owner": "o", "currency": "USD", "kind": kind, "flags": flags})
	if st != 201 {
		f.t.Fatalf("create account: %d %v", st, out)
	}
	return out["id"].(string)
}

func (f *apiFixture) available(id string) string {
	f.t.Helper()
	st, _, out := f.do("GET", "/api/v1/accounts/"+id, "", nil)
	if st != 200 {
		f.t.Fatalf("get account: %d %v", st, out)
	}
	return out["balance"].(map[string]any)["available"].(map[string]any)["amount"].(string)
}

func usd(s string) map[string]string { return map[string]string{"amount": s, "currency": "USD"} }

// TestIdempotencySemantics covers REL-02 for POST /api/v1/transfers.
func TestIdempotencySemantics(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := startAPI(t, db, "")
		world, a := f.account("external"), f.account("user_wallet", "no_overdraft")
		body := map[string]any{"from": world, "to": a, "amount": usd("10.00")}

		// (e) a missing key: 400, no effect.
		st, _, out := f.do("POST", "/api/v1/transfers", "", body)
		if st != 400 || out["code"] != "idempotency_key_required" {
			t.Fatalf("missing key: %d %v", st, out)
		}
		// (a) same key, same body: identical answer, one effect.
		st1, _, out1 := f.do("POST", "/api/v1/transfers", "k-a", body)
		st2, h2, out2 := f.do("POST", "/api/v1/transfers", "k-a", body)
		if st1 != 201 || st2 != 201 || !reflect.DeepEqual(out1, out2) || h2.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %v / %d %v %v", st1, out1, st2, out2, h2)
		}
		// A success's record is its entry (ledger.Idem.FromEntry): the
		// replay above was rendered from it, and no response was stored.
		if n := f.storedKeys("k-a"); n != 0 {
			t.Fatalf("a success stored %d responses", n)
		}
		if got := f.available(a); got != "10.00" {
			t.Fatalf("after replay the wallet has %s", got)
		}
		// The same body sent with other whitespace is the same request.
		spaced := fmt.Sprintf("{ \"amount\": {\"amount\": \"10.00\", \"currency\": \"USD\"},\n  \"from\" : %q, \"to\": %q }", world, a)
		if st, h, out := f.do("POST", "/api/v1/transfers", "k-a", spaced); st != 201 || out["id"] != out1["id"] || h.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("re-spaced replay: %d %v", st, out)
		}
		// (b) same key, another body: 422, no effect.
		other := map[string]any{"from": world, "to": a, "amount": usd("11.00")}
		st, _, out = f.do("POST", "/api/v1/transfers", "k-a", other)
		if st != 422 || out["code"] != "idempotency_key_reused" {
			t.Fatalf("reuse: %d %v", st, out)
		}
		// ... and on another route: the key names the first request.
		st, _, out = f.do("POST", "/api/v1/holds", "k-a", map[string]any{"type": "withdrawal",
			"postings": []any{map[string]any{"debit": world, "credit": a, "amount": usd("10.00")}}})
		if st != 422 || out["code"] != "idempotency_key_reused" {
			t.Fatalf("reuse on another route: %d %v", st, out)
		}
		// With a reference of the client's own, the response is stored
		// and the key still guards it.
		withRef := map[string]any{"from": world, "to": a, "amount": usd("1.00"), "reference": "client-ref-1"}
		if st, _, out := f.do("POST", "/api/v1/transfers", "k-ref", withRef); st != 201 || f.storedKeys("k-ref") != 1 {
			t.Fatalf("own reference: %d %v, %d stored", st, out, f.storedKeys("k-ref"))
		}
		withRef["reference"] = "client-ref-2"
		if st, _, out := f.do("POST", "/api/v1/transfers", "k-ref", withRef); st != 422 || out["code"] != "idempotency_key_reused" {
			t.Fatalf("own reference, key reused: %d %v", st, out)
		}
		// A key stored by another service (here: planted) is not reused
		// by a transfer either.
		if _, err := db.Write.Exec(`INSERT INTO idempotency_keys (principal, key, request_hash, status, response, created_at) SELECT principal, 'k-planted', request_hash, status, response, created_at FROM idempotency_keys WHERE key = 'k-ref'`); err != nil {
			t.Fatal(err)
		}
		if st, _, out := f.do("POST", "/api/v1/transfers", "k-planted", body); st != 422 || out["code"] != "idempotency_key_reused" {
			t.Fatalf("planted key: %d %v", st, out)
		}
		if got := f.available(a); got != "11.00" {
			t.Fatalf("after the refused reuses the wallet has %s, want 11.00", got)
		}
		// A business failure is remembered too.
		back := map[string]any{"from": a, "to": world, "amount": usd("99.00")}
		st, _, out = f.do("POST", "/api/v1/transfers", "k-fail", back)
		if st != 422 || out["code"] != "insufficient_funds" {
			t.Fatalf("insufficient: %d %v", st, out)
		}
		f.do("POST", "/api/v1/transfers", "k-topup", map[string]any{"from": world, "to": a, "amount": usd("100.00")})
		st, h, out := f.do("POST", "/api/v1/transfers", "k-fail", back)
		if st != 422 || h.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("remembered failure: %d %v %v", st, out, h)
		}
		// An invalid request is not remembered: fix it and resend.
		st, _, out = f.do("POST", "/api/v1/transfers", "k-fix", map[string]any{"from": world, "to": a, "amount": usd("1.001")})
		if st != 422 || out["code"] != "too_many_decimals" {
			t.Fatalf("invalid: %d %v", st, out)
		}
		st, _, out = f.do("POST", "/api/v1/transfers", "k-fix", map[string]any{"from": world, "to": a, "amount": usd("1.00")})
		if st != 201 {
			t.Fatalf("fixed: %d %v", st, out)
		}
		if got := f.available(a); got != "112.00" {
			t.Fatalf("wallet has %s, want 112.00", got)
		}

		// (c) 50 concurrent requests with one key: one effect; the rest
		// replay or get 409; never 5xx.
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		idsSeen := map[any]bool{}
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, _, out := f.do("POST", "/api/v1/transfers", "k-c", map[string]any{"from": world, "to": a, "amount": usd("5.00")})
				mu.Lock()
				statuses[st]++
				if st == 201 {
					idsSeen[out["id"]] = true
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[201]+statuses[409] != 50 || statuses[201] < 1 || len(idsSeen) != 1 {
			t.Fatalf("concurrent: statuses %v, %d distinct entries", statuses, len(idsSeen))
		}
		if got := f.available(a); got != "117.00" {
			t.Fatalf("after 50 concurrent duplicates the wallet has %s, want 117.00", got)
		}

		// (d) after a restart on the same database the response replays.
		f.stop()
		g := startAPI(t, db, f.key)
		st, h, out = g.do("POST", "/api/v1/transfers", "k-a", body)
		if st != 201 || !reflect.DeepEqual(out, out1) || h.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("after restart: %d %v %v", st, out, h)
		}
		if got := g.available(a); got != "117.00" {
			t.Fatalf("after restart the wallet has %s", got)
		}
	})
}

func TestHoldsAndReversalsOverHTTP(t *testing.T) {
	f := startAPI(t, sqldbtest.Open(t, sqldb.SQLite), "")
	world, a := f.account("external"), f.account("user_wallet", "no_overdraft")
	clearing := f.account("clearing")
	f.do("POST", "/api/v1/transfers", "fund", map[string]any{"from": world, "to": a, "amount": usd("100.00")})
	st, _, hold := f.do("POST", "/api/v1/holds", "h1", map[string]any{"type": "withdrawal", "timeout_seconds": 3600,
		"postings": []any{map[string]any{"debit": a, "credit": clearing, "amount": usd("60.00")}}})
	if st != 201 || hold["status"] != "pending" || hold["expires_at"] == nil {
		t.Fatalf("hold: %d %v", st, hold)
	}
	if got := f.available(a); got != "40.00" {
		t.Fatalf("available during hold %s", got)
	}
	id := hold["id"].(string)
	st, _, post := f.do("POST", "/api/v1/holds/"+id+"/post", "h1-post", map[string]any{"amounts": []any{usd("50.00")}})
	if st != 201 || post["phase"] != "post" || post["pending_id"] != id {
		t.Fatalf("post: %d %v", st, post)
	}
	st, _, out := f.do("POST", "/api/v1/holds/"+id+"/void", "h1-void", nil)
	if st != 409 || out["code"] != "pending_already_resolved" {
		t.Fatalf("void after post: %d %v", st, out)
	}
	st, _, got := f.do("GET", "/api/v1/entries/"+id, "", nil)
	if st != 200 || got["status"] != "posted" || got["resolved_by"] != post["id"] {
		t.Fatalf("entry: %d %v", st, got)
	}
	if v := f.available(a); v != "50.00" {
		t.Fatalf("after partial post %s", v)
	}
	// The history shows the hold as posted too.
	st, _, hist := f.do("GET", "/api/v1/accounts/"+a+"/entries?limit=10", "", nil)
	for _, it := range hist["data"].([]any) {
		if e := it.(map[string]any); e["id"] == id && e["status"] != "posted" {
			t.Fatalf("history shows the posted hold as %v", e["status"])
		}
	}
	if st != 200 {
		t.Fatalf("history: %d", st)
	}
	// Reverse the funding partly.
	st, _, list := f.do("GET", "/api/v1/accounts/"+a+"/entries?limit=1", "", nil)
	if st != 200 || list["has_more"] != true || list["next_cursor"] == nil {
		t.Fatalf("list: %d %v", st, list)
	}
	st, _, list2 := f.do("GET", "/api/v1/accounts/"+a+"/entries?limit=5&cursor="+list["next_cursor"].(string), "", nil)
	if st != 200 || len(list2["data"].([]any)) != 2 {
		t.Fatalf("page 2: %d %v", st, list2)
	}
	fund := list2["data"].([]any)[1].(map[string]any)
	if fund["type"] != "transfer" {
		t.Fatalf("oldest entry %v", fund)
	}
	st, _, rev := f.do("POST", "/api/v1/entries/"+fund["id"].(string)+"/reverse", "rev", map[string]any{"amounts": []any{usd("30.00")}})
	if st != 201 || rev["reverses_id"] != fund["id"] {
		t.Fatalf("reverse: %d %v", st, rev)
	}
	if v := f.available(a); v != "20.00" {
		t.Fatalf("after reversal %s", v)
	}
}

func TestErrorsAndAuth(t *testing.T) {
	f := startAPI(t, sqldbtest.Open(t, sqldb.SQLite), "")
	// No key, a wrong key.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/accounts?owner=o", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("no key: %d %v", resp.StatusCode, resp.Header)
	}
	g := *f
	g.key = "okp_wrong"
	if st, _, out := g.do("GET", "/api/v1/accounts?owner=o", "", nil); st != 401 || out["code"] != "unauthorized" {
		t.Fatalf("wrong key: %d %v", st, out)
	}
	// Problem documents follow the language and carry a request id.
	st, h, out := f.do("GET", "/api/v1/accounts/acc_0000000000001", "", nil, "Accept-Language", "zh-CN,zh;q=0.9", "X-Request-Id", "test-req-123")
	if st != 404 || out["code"] != "account_not_found" || out["request_id"] != "test-req-123" || h.Get("X-Request-Id") != "test-req-123" {
		t.Fatalf("404: %d %v", st, out)
	}
	if title, _ := out["title"].(string); title == "" || title == "Account not found" {
		t.Fatalf("title not translated: %q", title)
	}
	// Wrong id shapes, unknown fields, numbers for money, deep nesting, a huge body.
	for name, c := range map[string]struct {
		path, body string
		status     int
		code       string
	}{
		"bad id":        {"/api/v1/accounts/ent_0000000000001", "", 404, "not_found"},
		"unknown field": {"/api/v1/accounts", `{"owner":"o","currency":"USD","kind":"external","colour":"red"}`, 400, "invalid_request"},
		"bad currency":  {"/api/v1/accounts", `{"owner":"o","currency":"usd","kind":"external"}`, 422, "validation_failed"},
		"deep":          {"/api/v1/accounts", strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20), 400, "invalid_request"},
		"not json":      {"/api/v1/accounts", `{`, 400, "invalid_request"},
		"too large":     {"/api/v1/accounts", `{"owner":"` + strings.Repeat("x", MaxBody) + `"}`, 413, "request_too_large"},
		"no route":      {"/api/v1/nothing", "", 404, "not_found"},
	} {
		method := "POST"
		var body any = c.body
		if c.body == "" {
			method, body = "GET", nil
		}
		st, _, out := f.do(method, c.path, "", body)
		if st != c.status || out["code"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", name, st, out, c.status, c.code)
		}
	}
	world, a := f.account("external"), f.account("user_wallet", "no_overdraft")
	for name, body := range map[string]string{
		"number amount":   `{"from":"` + world + `","to":"` + a + `","amount":{"amount":1.5,"currency":"USD"}}`,
		"negative amount": `{"from":"` + world + `","to":"` + a + `","amount":{"amount":"-1.00","currency":"USD"}}`,
		"exponent":        `{"from":"` + world + `","to":"` + a + `","amount":{"amount":"1e3","currency":"USD"}}`,
		"zero":            `{"from":"` + world + `","to":"` + a + `","amount":{"amount":"0.00","currency":"USD"}}`,
		"same account":    `{"from":"` + a + `","to":"` + a + `","amount":{"amount":"1.00","currency":"USD"}}`,
		"missing to":      `{"from":"` + world + `","amount":{"amount":"1.00","currency":"USD"}}`,
	} {
		st, _, out := f.do("POST", "/api/v1/transfers", "k-"+strings.ReplaceAll(name, " ", "-"), body)
		if st != 422 {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}
	if got := f.available(a); got != "0.00" {
		t.Fatalf("a rejected request moved money: %s", got)
	}
	st, _, out = f.do("POST", "/api/v1/entries", "k-time", `{"type":"t","effective_at":"yesterday","postings":[{"debit":"`+world+`","credit":"`+a+`","amount":{"amount":"1.00","currency":"USD"}}]}`)
	if st != 422 || out["errors"] == nil {
		t.Fatalf("bad effective_at: %d %v", st, out)
	}
}

func TestMetrics(t *testing.T) {
	f := startAPI(t, sqldbtest.Open(t, sqldb.SQLite), "")
	f.do("GET", "/api/v1/accounts?owner=x", "", nil)
	f.do("GET", "/api/v1/accounts?owner=x", "", nil)
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "okpay_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "GET /api/v1/accounts" && labels["status"] == "200" && m.GetCounter().GetValue() == 2 {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("okpay_http_requests_total{route=\"GET /api/v1/accounts\",status=\"200\"} is not 2")
	}
}

// Every code the API can answer with has a title and a detail in both
// languages.
func TestEveryErrorCodeIsTranslated(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range ErrorCodes() {
		for _, part := range []string{"title", "detail"} {
			if id := "problem." + code + "." + part; !cat.Has(id) {
				t.Errorf("%s is missing in a catalog", id)
			}
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := startAPI(t, sqldbtest.Open(t, sqldb.SQLite), "")
	st, h, out := f.do("DELETE", "/api/v1/accounts/acc_0000000000001", "", nil)
	if st != 405 || out["code"] != "method_not_allowed" || h.Get("Allow") != "GET" {
		t.Fatalf("DELETE: %d %v %v", st, out, h)
	}
	st, _, out = f.do("GET", "/api/v1/transfers", "", nil)
	if st != 405 || out["code"] != "method_not_allowed" {
		t.Fatalf("GET transfers: %d %v", st, out)
	}
}

func TestHoldAmountsMustMatchCurrency(t *testing.T) {
	f := startAPI(t, sqldbtest.Open(t, sqldb.SQLite), "")
	world, a, clearing := f.account("external"), f.account("user_wallet", "no_overdraft"), f.account("clearing")
	f.do("POST", "/api/v1/transfers", "fund", map[string]any{"from": world, "to": a, "amount": usd("100.00")})
	_, _, hold := f.do("POST", "/api/v1/holds", "h", map[string]any{"type": "withdrawal",
		"postings": []any{map[string]any{"debit": a, "credit": clearing, "amount": usd("60.00")}}})
	id := hold["id"].(string)
	st, _, out := f.do("POST", "/api/v1/holds/"+id+"/post", "p1", map[string]any{"amounts": []any{map[string]string{"amount": "5", "currency": "JPY"}}})
	if st != 422 || out["code"] != "currency_mismatch" {
		t.Fatalf("JPY amount on a USD hold: %d %v", st, out)
	}
	st, _, out = f.do("POST", "/api/v1/holds/"+id+"/post", "p2", map[string]any{"amounts": []any{}})
	if st != 422 {
		t.Fatalf("empty amounts: %d %v", st, out)
	}
	if got := f.available(a); got != "40.00" {
		t.Fatalf("a refused post moved money: %s", got)
	}
}

// TestReplaysRenderedFromTheEntry: since a success's record is its entry
// (ledger.Idem.FromEntry), every money route's replay is rendered again
// from the stored entry; it must equal the first answer exactly, with
// metadata, a hold's expiry, a partial post and a partial reversal, also
// after the hold it created was posted.
func TestReplaysRenderedFromTheEntry(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := startAPI(t, db, "")
		world, a := f.account("external"), f.account("user_wallet", "no_overdraft")
		clearing := f.account("clearing")
		twice := func(path, key string, body any) map[string]any {
			t.Helper()
			st1, _, out1 := f.do("POST", path, key, body)
			st2, h, out2 := f.do("POST", path, key, body)
			if st1 != 201 || st2 != 201 || h.Get("Idempotent-Replayed") != "true" || !reflect.DeepEqual(out1, out2) {
				t.Fatalf("%s: %d %v, replayed as %d %v %v", path, st1, out1, st2, out2, h)
			}
			return out1
		}
		fund := twice("/api/v1/transfers", "r-fund", map[string]any{"from": world, "to": a, "amount": usd("100.00"),
			"metadata": map[string]string{"order": "A-17", "note": "第一笔"}})
		holdBody := map[string]any{"type": "withdrawal", "timeout_seconds": 3600, "metadata": map[string]string{"w": "1"},
			"postings": []any{map[string]any{"debit": a, "credit": clearing, "amount": usd("60.00")}}}
		hold := twice("/api/v1/holds", "r-hold", holdBody)
		twice("/api/v1/holds/"+hold["id"].(string)+"/post", "r-post", map[string]any{"amounts": []any{usd("50.00")}})
		twice("/api/v1/entries/"+fund["id"].(string)+"/reverse", "r-rev", map[string]any{"amounts": []any{usd("30.00")}})
		// The hold's creation replays as it was answered: pending, though
		// it is posted now.
		st, h, again := f.do("POST", "/api/v1/holds", "r-hold", holdBody)
		if st != 201 || h.Get("Idempotent-Replayed") != "true" || !reflect.DeepEqual(again, hold) || again["status"] != "pending" {
			t.Fatalf("hold replay after its post: %d %v, first %v", st, again, hold)
		}
		if got := f.available(a); got != "20.00" {
			t.Fatalf("after the replays the wallet has %s, want 20.00", got)
		}
	})
}
