package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ledger"
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// inFlight tracks the idempotency keys whose first request is still being
// served on this node, so a concurrent duplicate gets 409 at once.
type inFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func (f *inFlight) acquire(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.keys[k]; busy {
		return false
	}
	f.keys[k] = struct{}{}
	return true
}

func (f *inFlight) release(k string) {
	f.mu.Lock()
	delete(f.keys, k)
	f.mu.Unlock()
}

// idempotencyKey validates the Idempotency-Key header (ASCII, printable,
// 1 to 255 characters).
func idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 || vals[0] == "" {
		return "", okpay.Errorf(EIdempotencyKeyRequired, "this request moves money: send an Idempotency-Key header")
	}
	if len(vals) > 1 {
		return "", okpay.Errorf(EInvalidRequest, "send one Idempotency-Key header")
	}
	k := vals[0]
	if len(k) > MaxIdempotencyKey {
		return "", okpay.Errorf(EInvalidRequest, "the Idempotency-Key must be at most %d characters", MaxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", okpay.Errorf(EInvalidRequest, "the Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return k, nil
}

// requestHash identifies a request's content: method, route and body,
// with insignificant JSON whitespace removed (a retry that re-serialises
// its body is the same request).
func requestHash(r *http.Request, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(r.Method))
	h.Write([]byte{0})
	h.Write([]byte(r.URL.Path))
	h.Write([]byte{0})
	var compact bytes.Buffer
	if json.Compact(&compact, body) == nil {
		body = compact.Bytes()
	}
	h.Write(body)
	return h.Sum(nil)
}

// defaultReference derives a ledger reference from the idempotency key
// when the client gives none, so even a lost idempotency record cannot
// apply the request twice.
func defaultReference(principal, key string) string {
	h := sha256.Sum256([]byte(principal + "\x00" + key))
	return "idem:" + hex.EncodeToString(h[:20])
}

// moneyHandler serves a POST that moves money: it requires an
// Idempotency-Key, reads the body, and lets build turn it into a ledger
// operation. The response — success or business failure — is stored with
// the ledger write in one transaction and replayed for retries.
func (s *Server) moneyHandler(build func(r *http.Request, body []byte, ref string) (ledger.Op, error), created int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := idempotencyKey(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p := principal(r.Context())
		flightKey := p + "\x00" + key
		if !s.flight.acquire(flightKey) {
			s.writeError(w, r, okpay.Errorf(ledger.EIdempotencyInFlight, "a request with this Idempotency-Key is still in progress; retry later"))
			return
		}
		defer s.flight.release(flightKey)
		op, err := build(r, body, defaultReference(p, key))
		if err != nil {
			// Invalid requests are not remembered (nothing was executed):
			// the client may fix the body and send it with the same key.
			s.writeError(w, r, err)
			return
		}
		lang := langOf(r)
		rid := requestID(r.Context())
		idem := &ledger.Idem{
			Principal:   p,
			Key:         key,
			RequestHash: requestHash(r, body),
			Render: func(e *ledger.Entry, err error) (int, []byte, bool) {
				if err != nil {
					status, body := s.problem(err, lang, rid)
					return status, body, !retryable(okpay.ErrorCode(err))
				}
				return created, appendEntry(make([]byte, 0, 512), e, nil), true
			},
		}
		out, err := s.ledger.Submit(r.Context(), op, idem)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := out.Response
		if resp.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		ct := "application/json"
		if resp.Status >= 400 {
			ct = "application/problem+json"
		}
		writeRaw(w, resp.Status, ct, resp.Body)
	}
}
