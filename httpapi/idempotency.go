package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
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
		ref := defaultReference(p, key)
		op, err := build(r, body, ref)
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
			// With the reference derived from the key, the entry is the
			// record of a success: a retry renders it again.
			FromEntry: op.Reference() == ref,
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

// Security-settings routes (API.md: every POST that changes security
// settings requires an Idempotency-Key) keep the ledger's semantics: the
// same key and body replay the stored response with Idempotent-Replayed:
// true, another body is 422 idempotency_key_reused, a duplicate while the
// first runs is 409, no key is 400 idempotency_key_required. The key is
// scoped to the customer (principal "usr_..."), and checked after the
// session: a retry whose first request ended the session itself (a
// self-freeze, revoking one's own session) gets 401, not the replay.
//
// Unlike the ledger, which stores the response in the transaction of the
// money movement, these routes store it right after the operation has
// completed, through the identity service. Between the two a crash or a
// failed write leaves no record (and a duplicate on another node is not
// held off by this node's in-flight guard), so the operation may run a
// second time. That is acceptable because each of them is harmless to
// repeat, or fails on repetition without harm:
//
//   - me/totp: draws another pending secret, replacing the first (which
//     the client never saw or no longer needs); nothing is enabled yet.
//   - me/totp/confirm: the pending secret was enabled and cleared, so a
//     repeat is 422 flow_invalid; nothing changes twice.
//   - me/recovery-codes: makes another set and kills the first, which a
//     client whose answer was lost never saw; the owner is told again.
//   - me/password: the current password has changed, so a repeat is 422
//     (it counts as one wrong password toward the lockout, one of five).
//   - me/freeze: freezing a frozen account changes nothing (and the
//     freeze ended the session, so a repeat is 401 first).
//   - sessions/{id}/revoke: the session has ended: 404.
//   - sessions/revoke-others: ends whatever other session is live (none
//     since the first), {"revoked": 0}.
//   - me/passkeys/finish: the ceremony's flow is consumed once, so a
//     repeat is 422 passkey_flow_invalid; one passkey is stored.
//   - me/passkeys/{id}/remove: the passkey is gone: 404, no second hold.
//   - me/email, me/phone: send another code, which kills the first (the
//     send limits still apply: a second SMS within the minute is 429).
//   - me/email/confirm, me/phone/confirm: the code was consumed, so a
//     repeat is 422 invalid_code; the contact changed once.
//
// Only successes (2xx) are stored. A failure here changed nothing a retry
// could repeat (a wrong code or password counts one attempt each time, as
// a new request would), and a client that fixes its cause — a step-up
// after 403 step_up_required, the right code — may retry with the same
// key. A request that cannot be read (400, 413, 415) is refused before
// the key is looked at, as for the ledger.
//
// Two routes answer with secrets shown once: the authenticator secret
// (me/totp) and the recovery codes (me/recovery-codes). Their answers are
// not stored at all, not even sealed: the record only says the request was
// done, and a replay answers 409 idempotency_replay_withheld ("already
// done: make a new request"). A
// sealed copy would keep the secrets in the database for the retention
// period only to show them a second time, which MFA-07 ("shown once") and
// PWD-12's scans rule out; and a client that lost the answer loses
// nothing by asking again — a new secret or a new set of codes replaces
// the old, just as a repeated request would.

// EIdempotencyReplayWithheld answers a replayed request whose first answer
// carried secrets shown once and was therefore not stored.
const EIdempotencyReplayWithheld = "idempotency_replay_withheld"

// withheldStatus marks, with an empty body, the record of an answer that
// was withheld: only successes are stored otherwise, so no real answer
// looks like it.
const withheldStatus = http.StatusConflict

func errWithheld() error {
	return okpay.Errorf(EIdempotencyReplayWithheld,
		"a request with this Idempotency-Key was already done; its answer held secrets shown only once: send a new request with a new key")
}

// withheldOnReplay lists the security routes whose success carries a
// secret: their answers are never stored, a replay gets 409
// idempotency_replay_withheld.
var withheldOnReplay = map[string]bool{
	"POST /api/v1/me/totp":           true, // the new authenticator secret
	"POST /api/v1/me/recovery-codes": true, // the new recovery codes
}

// securityKey wraps the handler of route, a customer's security-settings
// POST, with the Idempotency-Key semantics above.
func (s *Server) securityKey(route string, next sessionHandler) sessionHandler {
	withhold := withheldOnReplay[route]
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		key, err := idempotencyKey(r)
		if okpay.ErrorCode(err) == EIdempotencyKeyRequired {
			err = okpay.Errorf(EIdempotencyKeyRequired, "this request changes a security setting: send an Idempotency-Key header")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		flightKey := c.id + "\x00" + key
		if !s.flight.acquire(flightKey) {
			s.writeError(w, r, okpay.Errorf(ledger.EIdempotencyInFlight, "a request with this Idempotency-Key is still in progress; retry later"))
			return
		}
		defer s.flight.release(flightKey)
		hash := requestHash(r, body)
		stored, found, err := s.identity.FindStoredResponse(r.Context(), c.id, key)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if found {
			if !bytes.Equal(stored.RequestHash, hash) {
				s.writeError(w, r, okpay.Errorf(ledger.EIdempotencyKeyReused, "this idempotency key was used with a different request"))
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			if stored.Status == withheldStatus && len(stored.Body) == 0 {
				// Rendered now, for this request (its language and id).
				s.writeError(w, r, errWithheld())
				return
			}
			writeStored(w, stored.Status, stored.Body)
			return
		}

		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recorder{header: http.Header{}}
		next(rec, r, c)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if rec.status >= 200 && rec.status < 300 {
			keep := identity.StoredResponse{RequestHash: hash, Status: rec.status, Body: rec.body.Bytes()}
			if withhold {
				keep.Status, keep.Body = withheldStatus, nil
			}
			// The effect has happened: store its record even if the
			// client has gone, and answer with it even if storing fails
			// (the retry then runs again, harmlessly: see above).
			if err := s.identity.StoreResponse(context.WithoutCancel(r.Context()), c.id, key, keep); err != nil {
				s.log.LogAttrs(r.Context(), slog.LevelError, "idempotency record not stored", slog.String("request_id", requestID(r.Context())),
					slog.String("route", route), slog.Any("err", err))
			}
		}
		h := w.Header()
		for k, v := range rec.header {
			h[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// writeStored answers with a stored response.
func writeStored(w http.ResponseWriter, status int, body []byte) {
	switch {
	case status == http.StatusNoContent:
		writeNoContent(w)
	case status >= 400:
		writeRaw(w, status, "application/problem+json", body)
	default:
		writeRaw(w, status, "application/json", body)
	}
}

// recorder holds a handler's response until its idempotency record is
// stored.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
