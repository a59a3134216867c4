package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestTelephonyWebhook drives POST /api/v1/telephony/events over HTTP on
// both engines: a full call sequence of a known customer, an out-of-order
// sequence, a replay (200, nothing applied), a bad signature, a stale
// timestamp, a signed body that is no event, and a wrong content type.
func TestTelephonyWebhook(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		_, cat := shared(t)
		dsk, err := desk.New(desk.Deps{DB: db, Clock: f.clock, IDs: snowflake(t, 2), Bus: realtime.NewMemory(0)}, desk.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ph, err := phone.New(phone.Deps{DB: db, Clock: f.clock, IDs: snowflake(t, 3), Desk: dsk, Identity: f.svc, Audit: audit.New(db), Catalog: cat}, phone.Config{})
		if err != nil {
			t.Fatal(err)
		}
		secret := []byte("whsec_telephony_test_0123456789abcdef")
		api := New(Config{Catalog: cat, Phone: &PhoneAPI{Service: ph, Secrets: [][]byte{secret}, Clock: f.clock}})
		mux := http.NewServeMux()
		api.Register(mux)
		srv := httptest.NewServer(api.Observe(mux))
		t.Cleanup(srv.Close)
		now := f.clock.Now()
		user := int64(1 << 42)
		if _, err := db.Write.ExecContext(t.Context(), `INSERT INTO users (id, email, phone, password_hash, status, lang, email_verified_at, phone_verified_at, created_at, updated_at)
			VALUES ($1, 'ada@example.com', '+8613800138000', 'x', 'active', 'en', $2, $2, $2, $2)`, user, now.UnixMicro()); err != nil {
			t.Fatal(err)
		}
		send := func(ev map[string]any, at time.Time, key []byte, ctype string) (int, map[string]any) {
			t.Helper()
			body, _ := json.Marshal(ev)
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/telephony/events", bytes.NewReader(body))
			req.Header.Set("Content-Type", ctype)
			req.Header.Set(phone.SignatureHeader, phone.Sign(key, at, body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out map[string]any
			json.NewDecoder(res.Body).Decode(&out)
			return res.StatusCode, out
		}
		ok := func(ev map[string]any, wantApplied bool) {
			t.Helper()
			st, out := send(ev, f.clock.Now(), secret, "application/json")
			if st != 200 || out["applied"] != wantApplied {
				t.Fatalf("%v: %d %v", ev, st, out)
			}
		}
		at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
		// The full sequence.
		ok(map[string]any{"id": "a1", "event": "newCall", "callId": "A", "from": "13800138000", "to": "4008001234", "direction": "in", "queue": "support", "at": at(0)}, true)
		ok(map[string]any{"id": "a2", "event": "answer", "callId": "A", "user": "li", "at": at(25 * time.Second)}, true)
		ok(map[string]any{"id": "a3", "event": "hangup", "callId": "A", "cause": "normalClearing", "at": at(25*time.Second + 2*time.Minute)}, true)
		ok(map[string]any{"id": "a3", "event": "hangup", "callId": "A", "cause": "normalClearing", "at": at(25*time.Second + 2*time.Minute)}, false) // replay
		c, err := ph.FindCall(t.Context(), "A")
		if err != nil || c.State != phone.CallCompleted || c.Wait != 25*time.Second || c.Talk != 2*time.Minute || c.CustomerID != user || c.ConversationID == 0 {
			t.Fatalf("call A %+v %v", c, err)
		}
		// Out of order: hangup, then answer, then newCall.
		ok(map[string]any{"id": "b3", "event": "hangup", "callId": "B", "cause": "normalClearing", "at": at(time.Hour + 3*time.Minute)}, true)
		ok(map[string]any{"id": "b2", "event": "answer", "callId": "B", "at": at(time.Hour + time.Minute)}, true)
		ok(map[string]any{"id": "b1", "event": "newCall", "callId": "B", "from": "+8613900139000", "direction": "in", "at": at(time.Hour)}, true)
		c, _ = ph.FindCall(t.Context(), "B")
		if c.State != phone.CallCompleted || c.Wait != time.Minute || c.Talk != 2*time.Minute || c.CustomerID != 0 {
			t.Fatalf("call B %+v", c)
		}
		// Refusals: nothing is applied.
		ev := map[string]any{"id": "x1", "event": "newCall", "callId": "X"}
		if st, out := send(ev, f.clock.Now(), []byte("whsec_someone_else_0123456789abcdef"), "application/json"); st != 400 || out["code"] != "webhook_bad_signature" {
			t.Fatalf("bad signature: %d %v", st, out)
		}
		if st, out := send(ev, f.clock.Now().Add(-6*time.Minute), secret, "application/json"); st != 400 || out["code"] != "webhook_stale" {
			t.Fatalf("stale: %d %v", st, out)
		}
		if st, out := send(map[string]any{"event": "ring", "callId": "X"}, f.clock.Now(), secret, "application/json"); st != 422 || out["code"] != "validation_failed" {
			t.Fatalf("bad event: %d %v", st, out)
		}
		if st, _ := send(ev, f.clock.Now(), secret, "text/plain"); st != 415 {
			t.Fatalf("content type: %d", st)
		}
		if _, err := ph.FindCall(t.Context(), "X"); err == nil {
			t.Fatal("a refused event made a call")
		}
	})
}

func snowflake(t *testing.T, node int) ids.Generator {
	t.Helper()
	g, err := ids.NewSnowflake(node, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
