package httpapi

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// postEvent sends a webhook body with a signature header ("" for none).
func (f *pmFixture) postEvent(body []byte, sig, contentType string) *reply {
	f.t.Helper()
	c := call{method: "POST", path: "/api/v1/webhooks/psp/sandbox", body: string(body), header: map[string]string{}}
	if sig != "" {
		c.header[psp.SignatureHeader] = sig
	}
	if contentType != "" {
		c.header["Content-Type"] = contentType
	}
	return f.do(c)
}

// signedEvent encodes ev and signs it with secret at t.
func signedEvent(t *testing.T, ev psp.Event, secret []byte, at time.Time) ([]byte, string) {
	t.Helper()
	body, err := psp.EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	return body, psp.Sign(secret, at, body)
}

// recorded is an OwnTx handler that remembers the events it got.
type recorded struct {
	mu     sync.Mutex
	events []psp.Event
}

func (r *recorded) handle(_ context.Context, ev psp.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *recorded) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.ID)
	}
	return out
}

// CRD-09: the provider's webhook is verified (signature over timestamp
// and body, 5-minute tolerance) before anything is parsed, applied in one
// transaction, idempotent by event id, and answers 2xx to what nobody
// knows.
func TestCRD09_Webhook(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		own := &recorded{}
		var failInTx bool
		var mu sync.Mutex
		f := newPMFixture(t, db, func(w *PSPWebhook) {
			// A second in-transaction handler that writes and then fails
			// on demand: its write must roll back with the whole event.
			w.InTx = append(w.InTx, func(ctx context.Context, tx *sql.Tx, ev psp.Event) (bool, error) {
				if !strings.HasPrefix(ev.Reference, "dep_") {
					return false, nil
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO payment_method_events (event_id, reference, received_at) VALUES ($1, $2, 0)`, "probe_"+ev.ID, ev.Reference); err != nil {
					return true, err
				}
				mu.Lock()
				fail := failInTx
				mu.Unlock()
				if fail {
					return true, errors.New("database trouble")
				}
				return true, nil
			})
			w.OwnTx = append(w.OwnTx, own.handle)
		})
		c := f.signUp("")
		card := f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: nextKey(),
			body: map[string]any{"token": f.cardToken("4242424242424242")}}), 201, "")
		f.waitStatus(c, card.str("id"), "verified")
		id, _ := paymethod.ParseID(card.str("id"))
		var ref string
		if err := db.Read.QueryRow(`SELECT reference FROM payment_methods WHERE id = $1`, id).Scan(&ref); err != nil {
			t.Fatal(err)
		}
		events := func() int {
			var n int
			if err := db.Read.QueryRow(`SELECT COUNT(*) FROM payment_method_events WHERE reference = $1`, ref).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if events() != 1 {
			t.Fatalf("%d events applied for the card, want 1", events())
		}

		now := f.pclk.Now()
		ev := psp.Event{ID: "evt_test_1", Type: psp.EventChargeFailed, Created: now, Reference: ref, ObjectID: "ch_x",
			Status: psp.StatusFailed, FailureCode: "card_declined"}
		body, sig := signedEvent(t, ev, pmSecret, now)

		// Refused before anything is parsed or applied.
		f.want(f.postEvent(body, "", ""), 400, psp.EBadSignature)
		f.want(f.postEvent(body, "t=1,v1=zz", ""), 400, psp.EBadSignature)
		_, wrong := signedEvent(t, ev, []byte("whsec_someone_else_0123456789abcdef"), now)
		f.want(f.postEvent(body, wrong, ""), 400, psp.EBadSignature)
		tampered := bytes.Replace(body, []byte("card_declined"), []byte("card_declinee"), 1)
		f.want(f.postEvent(tampered, sig, ""), 400, psp.EBadSignature)
		_, old := signedEvent(t, ev, pmSecret, now.Add(-6*time.Minute))
		f.want(f.postEvent(body, old, ""), 400, psp.EStale)
		_, future := signedEvent(t, ev, pmSecret, now.Add(6*time.Minute))
		f.want(f.postEvent(body, future, ""), 400, psp.EStale)
		f.want(f.postEvent(body, sig, "text/plain"), 415, EUnsupportedMediaType)
		big := append(append([]byte(nil), body...), bytes.Repeat([]byte(" "), psp.MaxEventSize)...)
		f.want(f.postEvent(big, psp.Sign(pmSecret, now, big), ""), 413, ERequestTooLarge)
		bad := []byte(`{"id":"evt_x","type":"charge.failed"}`)
		f.want(f.postEvent(bad, psp.Sign(pmSecret, now, bad), ""), 422, "validation_failed")
		// An authentic but late failure does not undo a verified card
		// (forward only), and a replay changes nothing.
		f.want(f.postEvent(body, sig, ""), 204, "")
		f.want(f.postEvent(body, sig, ""), 204, "")
		if events() != 2 {
			t.Fatalf("%d events recorded, want 2 (the replay dropped)", events())
		}
		f.waitStatus(c, card.str("id"), "verified")
		if got := own.ids(); len(got) != 0 {
			t.Fatalf("events handled in a transaction went to OwnTx too: %v", got)
		}

		// Unknown types and references are answered 2xx, and offered to
		// the OwnTx handlers.
		for i, e := range []psp.Event{
			{ID: "evt_unknown_type", Type: "refund.created", Created: now, Reference: ref, ObjectID: "re_1", Status: psp.StatusSucceeded},
			{ID: "evt_unknown_ref", Type: psp.EventPayoutSucceeded, Created: now, Reference: "wd_123", ObjectID: "po_1", Status: psp.StatusSucceeded,
				Amount: money.New(100, "USD")},
			{ID: "evt_unknown_pm", Type: psp.EventChargeSucceeded, Created: now, Reference: "pmv_0zzzzzzzzzzz", ObjectID: "ch_2", Status: psp.StatusSucceeded},
		} {
			b, s := signedEvent(t, e, pmSecret, now)
			f.want(f.postEvent(b, s, ""), 204, "")
			if got := own.ids(); i > 0 && got[len(got)-1] != e.ID {
				t.Errorf("%s did not reach the OwnTx handler: %v", e.ID, got)
			}
		}

		// A failing handler rolls back its writes and answers 5xx, so the
		// provider retries; the retry is applied once.
		dep := psp.Event{ID: "evt_dep_1", Type: psp.EventChargeSucceeded, Created: now, Reference: "dep_1", ObjectID: "ch_3", Status: psp.StatusSucceeded}
		b, s := signedEvent(t, dep, pmSecret, now)
		mu.Lock()
		failInTx = true
		mu.Unlock()
		f.want(f.postEvent(b, s, ""), 500, "internal_error")
		var probes int
		db.Read.QueryRow(`SELECT COUNT(*) FROM payment_method_events WHERE event_id = 'probe_evt_dep_1'`).Scan(&probes)
		if probes != 0 {
			t.Fatal("a failed event's writes were kept")
		}
		mu.Lock()
		failInTx = false
		mu.Unlock()
		f.want(f.postEvent(b, s, ""), 204, "")
		db.Read.QueryRow(`SELECT COUNT(*) FROM payment_method_events WHERE event_id = 'probe_evt_dep_1'`).Scan(&probes)
		if probes != 1 {
			t.Fatalf("%d probe rows after the retry, want 1", probes)
		}
		if got := own.ids(); got[len(got)-1] == dep.ID {
			t.Error("an event handled in the transaction reached OwnTx")
		}
	})
}

// The webhook route exists only when configured.
func TestWebhookRouteNeedsConfig(t *testing.T) {
	t.Parallel()
	_, cat := shared(t)
	api := New(Config{Catalog: cat})
	mux := http.NewServeMux()
	api.Register(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/webhooks/psp/sandbox", strings.NewReader("{}")))
	if w.Code != http.StatusNotFound {
		t.Fatalf("without a webhook config: %d", w.Code)
	}
}
