package ledger_test

import (
	"context"
	"testing"

	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// Response.Stored tells the caller that the answer was stored with the
// entry, in its transaction (so an HTTP layer has nothing left to store);
// a replay and an answer Render chose not to store say false.
func TestIdemResponseStored(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		a, b := f.wallet(t, 1000), f.wallet(t, 0)
		submit := func(ref, key string, store bool) ledger.Outcome {
			t.Helper()
			idem := &ledger.Idem{Principal: "usr_test", Key: key, RequestHash: []byte("hash-" + key),
				Render: func(e *ledger.Entry, err error) (int, []byte, bool) { return 201, []byte(`{"ok":true}`), store }}
			out, err := f.l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: ref, Type: "transfer",
				Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: 1, Currency: "USD"}}}}, idem)
			if err != nil {
				t.Fatal(err)
			}
			if out.Response == nil {
				t.Fatalf("%s: no response", ref)
			}
			return out
		}
		if r := submit("stored-1", "k1", true).Response; !r.Stored || r.Replayed || r.Status != 201 {
			t.Errorf("first request: %+v", r)
		}
		if r := submit("stored-2", "k1", true).Response; r.Stored || !r.Replayed || string(r.Body) != `{"ok":true}` {
			t.Errorf("replay: %+v", r)
		}
		if r := submit("stored-3", "k2", false).Response; r.Stored || r.Replayed {
			t.Errorf("not stored: %+v", r)
		}
		if r := submit("stored-4", "k2", true).Response; !r.Stored || r.Replayed {
			t.Errorf("after an unstored answer: %+v", r)
		}
	})
}
