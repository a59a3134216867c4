package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Report is the outcome of Verify.
type Report struct {
	Entries    int64
	Postings   int64
	Accounts   int64
	Violations []string
}

// OK reports whether no invariant was violated.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d accounts, %d entries, %d postings\n", r.Accounts, r.Entries, r.Postings)
	if r.OK() {
		b.WriteString("OK: every invariant holds\n")
		return b.String()
	}
	fmt.Fprintf(&b, "FAILED: %d violation(s)\n", len(r.Violations))
	for _, v := range r.Violations {
		b.WriteString("  - ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.String()
}

var idWords = regexp.MustCompile(`\b(account|entry|resolves|pending entry) ([0-9]+)\b`)

// readableIDs shows the numeric ids of a violation as the acc_/ent_ ids
// the API uses.
func readableIDs(s string) string {
	return idWords.ReplaceAllStringFunc(s, func(m string) string {
		sub := idWords.FindStringSubmatch(m)
		id, err := strconv.ParseInt(sub[2], 10, 64)
		if err != nil {
			return m
		}
		if sub[1] == "account" {
			return "account " + AccountRef(id)
		}
		return sub[1] + " " + EntryRef(id)
	})
}

// maxReported caps the violations listed per check.
const maxReported = 20

// Verify checks the ledger's invariants in one read transaction:
//   - every posting belongs to an entry and moves a positive amount
//     between two distinct, existing accounts of its own currency, so
//     every entry balances per currency (PostgreSQL declares no foreign
//     keys on postings: see its migration 31);
//   - per currency, Σ debits = Σ credits for posted and for pending
//     counters, i.e. the balances sum to zero;
//   - every stored balance equals the replay of its postings;
//   - every pending entry is resolved at most once, only by post, void or
//     expire entries, and a post moves no more than was held;
//   - no account flagged no_overdraft has a negative available balance;
//   - on SQLite, the history index holds exactly the accounts and entries
//     of the postings up to its watermark.
func (l *Ledger) Verify(ctx context.Context) (*Report, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if l.db.Dialect == "postgres" {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := l.db.Read.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r := &Report{}
	for _, c := range []struct {
		q   string
		dst *int64
	}{
		{`SELECT count(*) FROM journal_entries`, &r.Entries},
		{`SELECT count(*) FROM postings`, &r.Postings},
		{`SELECT count(*) FROM accounts`, &r.Accounts},
	} {
		if err := tx.QueryRowContext(ctx, c.q).Scan(c.dst); err != nil {
			return nil, err
		}
	}
	checks := []struct {
		name string
		q    string
	}{
		{"posting does not balance within one currency", `
			SELECT 'entry ' || p.entry_id || ' posting ' || p.seq || ': ' || p.amount || ' ' || p.currency ||
			       ' from ' || p.debit_account || ' (' || COALESCE(d.currency, 'missing') || ') to ' || p.credit_account || ' (' || COALESCE(c.currency, 'missing') || ')'
			FROM postings p LEFT JOIN accounts d ON d.id = p.debit_account LEFT JOIN accounts c ON c.id = p.credit_account
			WHERE p.amount <= 0 OR p.debit_account = p.credit_account OR d.currency IS NULL OR c.currency IS NULL
			   OR d.currency <> p.currency OR c.currency <> p.currency
			ORDER BY p.entry_id, p.seq`},
		{"balances do not sum to zero", `
			SELECT a.currency || ': posted debits ' || SUM(b.posted_debits) || ' vs credits ' || SUM(b.posted_credits) ||
			       ', pending debits ' || SUM(b.pending_debits) || ' vs credits ' || SUM(b.pending_credits)
			FROM balances b JOIN accounts a ON a.id = b.account_id
			GROUP BY a.currency
			HAVING SUM(b.posted_debits) <> SUM(b.posted_credits) OR SUM(b.pending_debits) <> SUM(b.pending_credits)
			ORDER BY a.currency`},
		{"stored balance differs from the replay of its postings", `
			WITH moves AS (
				SELECT p.debit_account AS account_id,
				       CASE WHEN e.phase IN ('posted','post') THEN p.amount ELSE 0 END AS pd, 0 AS pc,
				       CASE WHEN e.phase = 'pending' AND NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.pending_id = e.id) THEN p.amount ELSE 0 END AS pnd, 0 AS pnc
				FROM postings p JOIN journal_entries e ON e.id = p.entry_id
				UNION ALL
				SELECT p.credit_account, 0, CASE WHEN e.phase IN ('posted','post') THEN p.amount ELSE 0 END,
				       0, CASE WHEN e.phase = 'pending' AND NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.pending_id = e.id) THEN p.amount ELSE 0 END
				FROM postings p JOIN journal_entries e ON e.id = p.entry_id
			), replay AS (
				SELECT account_id, SUM(pd) AS pd, SUM(pc) AS pc, SUM(pnd) AS pnd, SUM(pnc) AS pnc FROM moves GROUP BY account_id
			)
			SELECT 'account ' || b.account_id || ': stored ' || b.posted_debits || '/' || b.posted_credits || '/' || b.pending_debits || '/' || b.pending_credits ||
			       ', replayed ' || COALESCE(r.pd, 0) || '/' || COALESCE(r.pc, 0) || '/' || COALESCE(r.pnd, 0) || '/' || COALESCE(r.pnc, 0) ||
			       ' (posted debits/credits, pending debits/credits)'
			FROM balances b LEFT JOIN replay r ON r.account_id = b.account_id
			WHERE b.posted_debits <> COALESCE(r.pd, 0) OR b.posted_credits <> COALESCE(r.pc, 0)
			   OR b.pending_debits <> COALESCE(r.pnd, 0) OR b.pending_credits <> COALESCE(r.pnc, 0)
			ORDER BY b.account_id`},
		{"pending entry resolved more than once or wrongly", `
			SELECT 'entry ' || r.id || ' (' || r.phase || ') resolves ' || r.pending_id ||
			       CASE WHEN p.id IS NULL THEN ', which does not exist' ELSE ', which is ' || p.phase END
			FROM journal_entries r LEFT JOIN journal_entries p ON p.id = r.pending_id
			WHERE r.pending_id IS NOT NULL AND (p.id IS NULL OR p.phase <> 'pending' OR r.phase NOT IN ('post','void','expire'))
			UNION ALL
			SELECT 'entry ' || e.id || ' in phase ' || e.phase || ' names no pending entry'
			FROM journal_entries e WHERE e.phase IN ('post','void','expire') AND e.pending_id IS NULL
			UNION ALL
			SELECT 'pending entry ' || pending_id || ' resolved ' || count(*) || ' times'
			FROM journal_entries WHERE pending_id IS NOT NULL GROUP BY pending_id HAVING count(*) > 1`},
		{"post moves more than was held", `
			SELECT 'entry ' || r.id || ' posts ' || rp.amount || ' on posting ' || rp.seq || ' of pending entry ' || r.pending_id || ', which held ' || COALESCE(pp.amount, 0)
			FROM journal_entries r JOIN postings rp ON rp.entry_id = r.id
			LEFT JOIN postings pp ON pp.entry_id = r.pending_id AND pp.seq = rp.seq
			WHERE r.phase = 'post' AND (pp.amount IS NULL OR rp.amount > pp.amount
			   OR rp.debit_account <> pp.debit_account OR rp.credit_account <> pp.credit_account)`},
		{"void or expire entry moves money", `
			SELECT 'entry ' || e.id || ' (' || e.phase || ') has postings'
			FROM journal_entries e WHERE e.phase IN ('void','expire') AND EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = e.id)`},
		{"no_overdraft account below zero available", `
			SELECT 'account ' || a.id || ' (' || a.currency || '): available ' || (b.posted_credits - b.posted_debits - b.pending_debits)
			FROM accounts a JOIN balances b ON b.account_id = a.id
			WHERE (a.flags & 1) = 1 AND b.posted_credits - b.posted_debits - b.pending_debits < 0
			ORDER BY a.id`},
		{"balance counter negative", `
			SELECT 'account ' || account_id || ' has a negative counter'
			FROM balances WHERE posted_debits < 0 OR posted_credits < 0 OR pending_debits < 0 OR pending_credits < 0`},
		{"posting of a missing entry", `
			SELECT 'entry ' || p.entry_id || ' posting ' || p.seq || ' has no entry'
			FROM postings p WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = p.entry_id)
			ORDER BY p.entry_id, p.seq`},
		{"entry without postings", `
			SELECT 'entry ' || e.id || ' (' || e.phase || ') has no postings'
			FROM journal_entries e WHERE e.phase IN ('posted','pending') AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = e.id)`},
	}
	for _, c := range checks {
		rows, err := tx.QueryContext(ctx, c.q+" LIMIT "+fmt.Sprint(maxReported+1))
		if err != nil {
			return nil, fmt.Errorf("verify %q: %w", c.name, err)
		}
		n := 0
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			n++
			if n > maxReported {
				r.Violations = append(r.Violations, c.name+": (more not shown)")
				break
			}
			r.Violations = append(r.Violations, c.name+": "+readableIDs(s))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if l.hist != nil {
		v, err := l.hist.verify(ctx, tx)
		if err != nil {
			return nil, fmt.Errorf("verify the history index: %w", err)
		}
		for _, s := range v {
			r.Violations = append(r.Violations, "history index (derived data: delete "+l.hist.path+" to rebuild it) disagrees with the postings: "+readableIDs(s))
		}
	}
	return r, nil
}
