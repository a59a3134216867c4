package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
)

const entryColumns = `id, reference, type, phase, pending_id, reverses_id, expires_at, metadata, effective_at, created_at`

func scanEntry(sc interface{ Scan(...any) error }) (*Entry, error) {
	e := &Entry{}
	var phase, meta string
	var pending, reverses, expires sql.NullInt64
	var eff, created int64
	if err := sc.Scan(&e.ID, &e.Reference, &e.Type, &phase, &pending, &reverses, &expires, &meta, &eff, &created); err != nil {
		return nil, err
	}
	e.Phase = Phase(phase)
	e.PendingID = pending.Int64
	e.ReversesID = reverses.Int64
	if expires.Valid {
		e.ExpiresAt = fromMicros(expires.Int64)
	}
	e.Metadata = decodeMeta(meta)
	e.EffectiveAt = fromMicros(eff)
	e.CreatedAt = fromMicros(created)
	return e, nil
}

// loadEntries reads the entries with the given ids and their postings,
// ordered by id descending.
func loadEntries(ctx context.Context, q querier, sc *stmtCache, idList []int64) ([]*Entry, error) {
	if len(idList) == 0 {
		return nil, nil
	}
	args := make([]any, len(idList))
	for i, id := range idList {
		args[i] = id
	}
	var rows *sql.Rows
	var err error
	query := `SELECT ` + entryColumns + ` FROM journal_entries WHERE id IN (?) ORDER BY id DESC`
	if sc != nil {
		rows, err = q.QueryContext(ctx, sc.inList(query, len(args)), args...)
	} else {
		rows, err = q.QueryContext(ctx, inList(query, len(args)), args...)
	}
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	var ents []*Entry
	byID := map[int64]*Entry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ents = append(ents, e)
		byID[e.ID] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	query = `SELECT entry_id, seq, debit_account, credit_account, amount, currency FROM postings WHERE entry_id IN (?) ORDER BY entry_id, seq`
	if sc != nil {
		rows, err = q.QueryContext(ctx, sc.inList(query, len(args)), args...)
	} else {
		rows, err = q.QueryContext(ctx, inList(query, len(args)), args...)
	}
	if err != nil {
		return nil, fmt.Errorf("read postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var p Posting
		var cur string
		if err := rows.Scan(&id, &p.Seq, &p.Debit, &p.Credit, &p.Amount, &cur); err != nil {
			return nil, err
		}
		p.Currency = money.Currency(cur)
		if e := byID[id]; e != nil {
			e.Postings = append(e.Postings, p)
		}
	}
	return ents, rows.Err()
}

func inList(query string, n int) string { return expandIn(query, n, false) }

// EntryStatus tells what became of an entry.
type EntryStatus struct {
	Entry *Entry
	// Resolution is the entry that posted, voided or expired a pending
	// entry (nil while it is still pending or for other phases).
	Resolution *Entry
	// Reversals are the entries that reverse this one.
	Reversals []*Entry
}

// FindEntryByID returns an entry with its resolution and reversals.
// It fails with EEntryNotFound when there is none.
func (l *Ledger) FindEntryByID(ctx context.Context, id int64) (*EntryStatus, error) {
	ents, err := loadEntries(ctx, l.db.Read, nil, []int64{id})
	if err != nil {
		return nil, okpay.Internal(err, "read entry")
	}
	if len(ents) == 0 {
		return nil, okpay.Errorf(EEntryNotFound, "there is no entry %s", EntryRef(id))
	}
	st := &EntryStatus{Entry: ents[0]}
	rows, err := l.db.Read.QueryContext(ctx, `SELECT id FROM journal_entries WHERE pending_id = $1 OR reverses_id = $1`, id)
	if err != nil {
		return nil, okpay.Internal(err, "read entry")
	}
	var rel []int64
	for rows.Next() {
		var x int64
		if err := rows.Scan(&x); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "read entry")
		}
		rel = append(rel, x)
	}
	rows.Close()
	if len(rel) > 0 {
		more, err := loadEntries(ctx, l.db.Read, nil, rel)
		if err != nil {
			return nil, okpay.Internal(err, "read entry")
		}
		slices.Reverse(more) // oldest first
		for _, e := range more {
			if e.PendingID == id {
				st.Resolution = e
			} else {
				st.Reversals = append(st.Reversals, e)
			}
		}
	}
	return st, nil
}

// Resolutions returns, for the pending entries among ents, the phase of
// the entry that resolved each (post, void or expire); pending entries
// still open are absent.
func (l *Ledger) Resolutions(ctx context.Context, ents []*Entry) (map[int64]Phase, error) {
	var pending []any
	for _, e := range ents {
		if e.Phase == PhasePending {
			pending = append(pending, e.ID)
		}
	}
	out := map[int64]Phase{}
	if len(pending) == 0 {
		return out, nil
	}
	rows, err := l.db.Read.QueryContext(ctx, inList(`SELECT pending_id, phase FROM journal_entries WHERE pending_id IN (?)`, len(pending)), pending...)
	if err != nil {
		return nil, okpay.Internal(err, "read resolutions")
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var phase string
		if err := rows.Scan(&id, &phase); err != nil {
			return nil, okpay.Internal(err, "read resolutions")
		}
		out[id] = Phase(phase)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read resolutions")
	}
	return out, nil
}

// EntryFilter selects entries of an account, newest first.
type EntryFilter struct {
	AccountID int64
	// Before, when non-zero, returns entries older than this entry id
	// (the cursor of the previous page).
	Before int64
	Limit  int // 1..100, default 20
}

// FindEntries lists the entries that touch an account, newest first,
// and reports whether more follow.
func (l *Ledger) FindEntries(ctx context.Context, f EntryFilter) ([]*Entry, bool, error) {
	if f.Limit <= 0 {
		f.Limit = 20
	}
	if f.Limit > 100 {
		f.Limit = 100
	}
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	var idList []int64
	var err error
	if l.hist != nil {
		idList, err = l.findEntryIDsSQLite(ctx, f.AccountID, before, f.Limit+1)
	} else {
		idList, err = entryIDs(ctx, l.db.Read, `
		SELECT entry_id FROM (
			SELECT entry_id FROM postings WHERE debit_account = $1 AND entry_id < $2
			UNION
			SELECT entry_id FROM postings WHERE credit_account = $1 AND entry_id < $2
		) AS x ORDER BY entry_id DESC LIMIT $3`, f.AccountID, before, f.Limit+1)
	}
	if err != nil {
		return nil, false, okpay.Internal(err, "list entries")
	}
	more := len(idList) > f.Limit
	if more {
		idList = idList[:f.Limit]
	}
	ents, err := loadEntries(ctx, l.db.Read, nil, idList)
	if err != nil {
		return nil, false, okpay.Internal(err, "list entries")
	}
	return ents, more, nil
}

// findEntryIDsSQLite returns up to limit ids of the entries that touch
// account below before, newest first: the postings above the history
// index's watermark, then the indexed ones. The index is read first: the
// journal read after it holds every entry it has indexed.
func (l *Ledger) findEntryIDsSQLite(ctx context.Context, account, before int64, limit int) ([]int64, error) {
	mark, indexed, err := l.hist.indexedBefore(ctx, account, before, limit)
	if err != nil {
		return nil, err
	}
	tail, err := entryIDs(ctx, l.db.Read, `
		SELECT DISTINCT entry_id FROM postings
		WHERE entry_id > $1 AND entry_id < $2 AND (debit_account = $3 OR credit_account = $3)
		ORDER BY entry_id DESC LIMIT $4`, mark, before, account, limit)
	if err != nil {
		return nil, err
	}
	return append(tail, indexed...)[:min(len(tail)+len(indexed), limit)], nil
}

// AccountInput describes a new account.
type AccountInput struct {
	Code     string // optional unique name
	Owner    string
	Currency money.Currency
	Kind     Kind
	Flags    Flags
	Metadata map[string]string
}

// CreateAccount opens an account with zero balances. When Code is set and
// an account with that code exists, it is returned if it matches and
// EConflict is returned otherwise.
func (l *Ledger) CreateAccount(ctx context.Context, in AccountInput) (*Account, error) {
	fields := map[string]string{}
	if !in.Currency.Valid() {
		fields["currency"] = "unknown currency"
	}
	if !in.Kind.Valid() {
		fields["kind"] = "unknown account kind"
	}
	if len(in.Owner) > 128 || !PlainText(in.Owner, false) {
		fields["owner"] = "the owner must be text of at most 128 bytes without control characters"
	}
	if len(in.Code) > 128 || (in.Code != "" && !printable(in.Code)) {
		fields["code"] = "the code must be printable ASCII of at most 128 bytes"
	}
	if in.Flags&^FlagNoOverdraft != 0 {
		fields["flags"] = "unknown flags"
	}
	checkMetadata(fields, in.Metadata)
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	if in.Code != "" {
		a, err := l.FindAccountByCode(ctx, in.Code)
		if err == nil {
			if a.Currency != in.Currency || a.Kind != in.Kind || a.Owner != in.Owner || a.Flags != in.Flags {
				return nil, okpay.Errorf(okpay.EConflict, "an account with code %q exists with other properties", in.Code)
			}
			return a, nil
		}
		if okpay.ErrorCode(err) != EAccountNotFound {
			return nil, err
		}
	}
	a := &Account{
		ID: l.ids.Next(), Code: in.Code, Owner: in.Owner, Currency: in.Currency, Kind: in.Kind,
		Flags: in.Flags, Metadata: in.Metadata, CreatedAt: l.clock.Now().UTC().Truncate(1000),
	}
	var code any
	if in.Code != "" {
		code = in.Code
	}
	err := l.withWriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts(id, code, owner, currency, kind, flags, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			a.ID, code, a.Owner, string(a.Currency), string(a.Kind), int64(a.Flags), encodeMeta(a.Metadata), micros(a.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO balances(account_id) VALUES ($1)`, a.ID)
		return err
	})
	if err != nil {
		if in.Code != "" && sqldb.IsUniqueViolation(err) {
			return l.CreateAccount(ctx, in) // lost a race for the code: return the winner
		}
		return nil, okpay.Internal(err, "create account")
	}
	return a, nil
}

const accountColumns = `a.id, a.code, a.owner, a.currency, a.kind, a.flags, a.metadata, a.created_at, b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits`

func scanAccount(sc interface{ Scan(...any) error }) (*Account, error) {
	a := &Account{}
	var code sql.NullString
	var cur, kind, meta string
	var created int64
	if err := sc.Scan(&a.ID, &code, &a.Owner, &cur, &kind, &a.Flags, &meta, &created,
		&a.Balance.PostedDebits, &a.Balance.PostedCredits, &a.Balance.PendingDebits, &a.Balance.PendingCredits); err != nil {
		return nil, err
	}
	a.Code, a.Currency, a.Kind = code.String, money.Currency(cur), Kind(kind)
	a.Metadata = decodeMeta(meta)
	a.CreatedAt = fromMicros(created)
	return a, nil
}

// FindAccountByID returns an account with its committed balance.
func (l *Ledger) FindAccountByID(ctx context.Context, id int64) (*Account, error) {
	a, err := scanAccount(l.db.Read.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts a JOIN balances b ON b.account_id = a.id WHERE a.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(EAccountNotFound, "account %s does not exist", AccountRef(id))
	}
	if err != nil {
		return nil, okpay.Internal(err, "read account")
	}
	return a, nil
}

// FindAccountByCode returns the account with a unique code.
func (l *Ledger) FindAccountByCode(ctx context.Context, code string) (*Account, error) {
	a, err := scanAccount(l.db.Read.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts a JOIN balances b ON b.account_id = a.id WHERE a.code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(EAccountNotFound, "there is no account with code %q", code)
	}
	if err != nil {
		return nil, okpay.Internal(err, "read account")
	}
	return a, nil
}

// AccountFilter selects accounts.
type AccountFilter struct {
	Owner  string // required
	Before int64  // cursor: accounts with a smaller id
	Limit  int
}

// FindAccounts lists an owner's accounts, newest first.
func (l *Ledger) FindAccounts(ctx context.Context, f AccountFilter) ([]*Account, bool, error) {
	if len(f.Owner) > 128 || !PlainText(f.Owner, false) {
		return nil, false, okpay.Invalid(map[string]string{"owner": "the owner must be text of at most 128 bytes without control characters"})
	}
	if f.Limit <= 0 {
		f.Limit = 20
	}
	if f.Limit > 100 {
		f.Limit = 100
	}
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := l.db.Read.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts a JOIN balances b ON b.account_id = a.id WHERE a.owner = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3`, f.Owner, before, f.Limit+1)
	if err != nil {
		return nil, false, okpay.Internal(err, "list accounts")
	}
	defer rows.Close()
	var out []*Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, false, okpay.Internal(err, "list accounts")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, false, okpay.Internal(err, "list accounts")
	}
	more := len(out) > f.Limit
	if more {
		out = out[:f.Limit]
	}
	return out, more, nil
}

// withWriteTx runs fn in a write transaction, retrying transient conflicts.
func (l *Ledger) withWriteTx(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var tx *sql.Tx
		tx, err = l.db.Write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err = fn(tx); err == nil {
			if err = tx.Commit(); err == nil {
				return nil
			}
		} else {
			tx.Rollback()
		}
		if !sqldb.IsRetryable(err) {
			return err
		}
	}
	return err
}
