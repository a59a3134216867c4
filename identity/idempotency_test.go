package identity_test

import (
	"bytes"
	"testing"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestStoredResponses(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		if _, found, err := h.svc.FindStoredResponse(h.ctx, "usr_a", "k1"); found || err != nil {
			t.Fatalf("nothing stored yet: %v %v", found, err)
		}
		first := identity.StoredResponse{RequestHash: []byte("hash-1"), Status: 204}
		if err := h.svc.StoreResponse(h.ctx, "usr_a", "k1", first); err != nil {
			t.Fatal(err)
		}
		// The first record of a key stays.
		if err := h.svc.StoreResponse(h.ctx, "usr_a", "k1", identity.StoredResponse{RequestHash: []byte("hash-2"), Status: 200, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		// Keys are scoped to their principal.
		if err := h.svc.StoreResponse(h.ctx, "usr_b", "k1", identity.StoredResponse{RequestHash: []byte("hash-3"), Status: 201, Body: []byte(`{"x":1}`)}); err != nil {
			t.Fatal(err)
		}
		got, found, err := h.svc.FindStoredResponse(h.ctx, "usr_a", "k1")
		if err != nil || !found || got.Status != 204 || len(got.Body) != 0 || !bytes.Equal(got.RequestHash, []byte("hash-1")) {
			t.Fatalf("usr_a k1: %+v %v %v", got, found, err)
		}
		got, found, err = h.svc.FindStoredResponse(h.ctx, "usr_b", "k1")
		if err != nil || !found || got.Status != 201 || string(got.Body) != `{"x":1}` {
			t.Fatalf("usr_b k1: %+v %v %v", got, found, err)
		}
	})
}
