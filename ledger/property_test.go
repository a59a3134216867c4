package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"pgregory.net/rapid"
)

// model is what the ledger should hold, computed independently.
type model struct {
	bal      map[int64]*ledger.Balance
	noOD     map[int64]bool
	results  map[string]modelResult // reference → outcome of its first success
	pending  map[int64][]ledger.Posting
	resolved map[int64]bool
	posted   map[int64][]ledger.Posting // reversible entries: what is left to reverse
}

type modelResult struct {
	op Op
	id int64
}

// Op is a recorded operation that can be retried.
type Op struct {
	ref string
	in  ledger.Op
}

func (m *model) apply(ps []ledger.Posting, pending bool) bool {
	next := map[int64]ledger.Balance{}
	get := func(id int64) ledger.Balance {
		if b, ok := next[id]; ok {
			return b
		}
		return *m.bal[id]
	}
	for _, p := range ps {
		d, c := get(p.Debit), get(p.Credit)
		if pending {
			d.PendingDebits += p.Amount
			c.PendingCredits += p.Amount
		} else {
			d.PostedDebits += p.Amount
			c.PostedCredits += p.Amount
		}
		next[p.Debit], next[p.Credit] = d, c
	}
	for _, p := range ps {
		if m.noOD[p.Debit] && next[p.Debit].Available() < 0 {
			return false
		}
	}
	for id, b := range next {
		*m.bal[id] = b
	}
	return true
}

// TestLedgerProperties runs random sequences of transfers, holds, posts,
// voids, reversals and retries (with repeated and conflicting references)
// and checks after every step that the database agrees with a model and
// that Verify finds every invariant intact (REL-01, for the ledger alone).
func TestLedgerProperties(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		seq := 0
		rapid.Check(t, func(rt *rapid.T) {
			seq++
			m := &model{bal: map[int64]*ledger.Balance{}, noOD: map[int64]bool{}, results: map[string]modelResult{},
				pending: map[int64][]ledger.Posting{}, resolved: map[int64]bool{}, posted: map[int64][]ledger.Posting{}}
			world := f.account(t, ledger.KindExternal, "USD", 0).ID
			m.bal[world] = &ledger.Balance{}
			var wallets []int64
			for i := 0; i < 4; i++ {
				id := f.account(t, ledger.KindUserWallet, "USD", ledger.FlagNoOverdraft).ID
				wallets = append(wallets, id)
				m.bal[id] = &ledger.Balance{}
				m.noOD[id] = true
			}
			all := append([]int64{world}, wallets...)
			var history []Op
			n := 0
			newRef := func() string { n++; return fmt.Sprintf("s%d-%d", seq, n) }

			run := func(rt *rapid.T, op Op, retry bool) {
				out, err := f.l.Submit(ctx, op.in, nil)
				prev := m.results[op.ref]
				if retry {
					if err != nil || out.Entry.ID != prev.id || !out.Existing {
						rt.Fatalf("retry of %s: %v %+v", op.ref, err, out)
					}
					return
				}
				var want bool
				switch {
				case op.in.Entry != nil:
					in := op.in.Entry
					want = m.apply(in.Postings, in.Pending)
					if want && err == nil {
						if in.Pending {
							m.pending[out.Entry.ID] = in.Postings
						} else {
							m.posted[out.Entry.ID] = append([]ledger.Posting(nil), in.Postings...)
						}
					}
				case op.in.Resolve != nil:
					in := op.in.Resolve
					ps, ok := m.pending[in.PendingID]
					want = ok && !m.resolved[in.PendingID]
					if want {
						for i, p := range ps {
							m.bal[p.Debit].PendingDebits -= p.Amount
							m.bal[p.Credit].PendingCredits -= p.Amount
							if !in.Void {
								amt := p.Amount
								if in.Amounts != nil {
									amt = in.Amounts[i]
								}
								m.bal[p.Debit].PostedDebits += amt
								m.bal[p.Credit].PostedCredits += amt
							}
						}
						m.resolved[in.PendingID] = true
					}
				case op.in.Reverse != nil:
					in := op.in.Reverse
					left, ok := m.posted[in.EntryID]
					var rev []ledger.Posting
					for _, p := range left {
						if p.Amount > 0 {
							rev = append(rev, ledger.Posting{Debit: p.Credit, Credit: p.Debit, Amount: p.Amount, Currency: p.Currency})
						}
					}
					want = ok && len(rev) > 0 && m.apply(rev, false)
					if want {
						for i := range left {
							left[i].Amount = 0
						}
					}
				}
				if want != (err == nil) {
					rt.Fatalf("%s: model says success=%v, ledger says %v", op.ref, want, err)
				}
				if err != nil {
					switch okpay.ErrorCode(err) {
					case ledger.EInsufficientFunds, ledger.EPendingAlreadyResolved, ledger.ENotReversible, ledger.EPendingNotFound:
					default:
						rt.Fatalf("%s: unexpected error %v", op.ref, err)
					}
					return
				}
				m.results[op.ref] = modelResult{op: op, id: out.Entry.ID}
				if op.in.Reverse != nil {
					m.posted[out.Entry.ID] = append([]ledger.Posting(nil), out.Entry.Postings...)
				}
			}

			rt.Repeat(map[string]func(*rapid.T){
				"deposit": func(rt *rapid.T) {
					w := rapid.SampledFrom(wallets).Draw(rt, "wallet")
					amt := rapid.Int64Range(1, 1000).Draw(rt, "amount")
					op := Op{ref: newRef()}
					op.in.Entry = &ledger.EntryInput{Reference: op.ref, Type: "deposit", Postings: []ledger.Posting{{Debit: world, Credit: w, Amount: amt, Currency: "USD"}}}
					history = append(history, op)
					run(rt, op, false)
				},
				"transfer": func(rt *rapid.T) {
					from := rapid.SampledFrom(all).Draw(rt, "from")
					to := rapid.SampledFrom(all).Filter(func(x int64) bool { return x != from }).Draw(rt, "to")
					amt := rapid.Int64Range(1, 800).Draw(rt, "amount")
					pending := rapid.Bool().Draw(rt, "pending")
					op := Op{ref: newRef()}
					op.in.Entry = &ledger.EntryInput{Reference: op.ref, Type: "transfer", Pending: pending, Postings: []ledger.Posting{{Debit: from, Credit: to, Amount: amt, Currency: "USD"}}}
					history = append(history, op)
					run(rt, op, false)
				},
				"resolve": func(rt *rapid.T) {
					var ids []int64
					for id := range m.pending {
						ids = append(ids, id)
					}
					if len(ids) == 0 {
						rt.Skip("no holds")
					}
					slicesSort(ids)
					id := rapid.SampledFrom(ids).Draw(rt, "hold")
					op := Op{ref: newRef()}
					in := &ledger.ResolveInput{Reference: op.ref, PendingID: id, Void: rapid.Bool().Draw(rt, "void")}
					if !in.Void && rapid.Bool().Draw(rt, "partly") {
						for _, p := range m.pending[id] {
							in.Amounts = append(in.Amounts, rapid.Int64Range(0, p.Amount).Draw(rt, "amt"))
						}
					}
					op.in.Resolve = in
					history = append(history, op)
					run(rt, op, false)
				},
				"reverse": func(rt *rapid.T) {
					var ids []int64
					for id := range m.posted {
						ids = append(ids, id)
					}
					if len(ids) == 0 {
						rt.Skip("nothing posted")
					}
					slicesSort(ids)
					op := Op{ref: newRef()}
					op.in.Reverse = &ledger.ReverseInput{Reference: op.ref, EntryID: rapid.SampledFrom(ids).Draw(rt, "entry")}
					history = append(history, op)
					run(rt, op, false)
				},
				"retry": func(rt *rapid.T) {
					if len(history) == 0 {
						rt.Skip("nothing to retry")
					}
					op := rapid.SampledFrom(history).Draw(rt, "op")
					_, succeeded := m.results[op.ref]
					// A retry of a success returns the original entry; a retry
					// of a failure is decided afresh against today's balances.
					run(rt, op, succeeded)
				},
				"conflict": func(rt *rapid.T) {
					var refs []string
					for _, op := range history {
						if _, ok := m.results[op.ref]; ok && op.in.Entry != nil {
							refs = append(refs, op.ref)
						}
					}
					if len(refs) == 0 {
						rt.Skip("no entries")
					}
					ref := rapid.SampledFrom(refs).Draw(rt, "ref")
					in := *m.results[ref].op.in.Entry
					in.Postings = []ledger.Posting{in.Postings[0]}
					in.Postings[0].Amount++
					_, err := f.l.Post(ctx, in)
					if okpay.ErrorCode(err) != ledger.EReferenceConflict {
						rt.Fatalf("conflicting reuse of %s: %v", ref, err)
					}
				},
				"": func(rt *rapid.T) {
					for id, want := range m.bal {
						got := f.balance(t, id)
						if got != *want {
							rt.Fatalf("account %d: ledger %+v, model %+v", id, got, *want)
						}
					}
					r, err := f.l.Verify(ctx)
					if err != nil {
						rt.Fatal(err)
					}
					if !r.OK() {
						rt.Fatalf("invariants broken:\n%s", r)
					}
				},
			})
		})
	})
}

func slicesSort(s []int64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
