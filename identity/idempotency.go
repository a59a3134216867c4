package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/okpay/okpay"
)

// Idempotency-Key records of the customer API's security-settings requests
// (API.md: every POST that changes security settings takes the key). They
// live in the idempotency_keys table with the ledger's records, under the
// customer's "usr_..." principal (the ledger's are "key_..."), and the
// ledger's sweep prunes both after the retention period.
//
// Unlike the ledger's, these records are written right after the effect,
// not in its transaction: the HTTP layer stores the response of an
// operation that has completed. What that allows — a crash or a failed
// write between the two leaves no record, and a retry runs the operation
// again — is safe because each of these operations is harmless to repeat
// or fails on repetition without harm (httpapi/idempotency.go lists why,
// route by route).

// StoredResponse is the response remembered for an Idempotency-Key.
type StoredResponse struct {
	// RequestHash identifies the request (method, path and body) that
	// made it: the same key with another request is refused.
	RequestHash []byte
	Status      int
	Body        []byte
}

// FindStoredResponse returns the response stored for principal's key;
// found is false when there is none.
func (s *Service) FindStoredResponse(ctx context.Context, principal, key string) (r StoredResponse, found bool, err error) {
	err = s.readRow(ctx, s.DB.Read, s.reads().storedAnswer, qStoredAnswer, key, principal).Scan(&r.RequestHash, &r.Status, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredResponse{}, false, nil
	}
	if err != nil {
		return StoredResponse{}, false, okpay.Internal(err, "load idempotency record")
	}
	return r, true, nil
}

// StoreResponse remembers the response to principal's request with key.
// The first record of a key stays: a second one (a duplicate that ran
// concurrently on another node) is dropped.
func (s *Service) StoreResponse(ctx context.Context, principal, key string, r StoredResponse) error {
	body := r.Body
	if body == nil {
		body = []byte{} // the column is NOT NULL; a 204 has no body
	}
	if _, err := s.DB.Write.ExecContext(ctx, `INSERT INTO idempotency_keys (principal, key, request_hash, status, response, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key, principal) DO NOTHING`,
		principal, key, r.RequestHash, r.Status, body, micros(s.now())); err != nil {
		return okpay.Internal(err, "store idempotency record")
	}
	return nil
}
