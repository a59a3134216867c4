package wallet

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
)

// Txn is one transaction of one customer, as the customer sees it. A
// transfer is two: the payer's transfer_out and the payee's transfer_in,
// linked by RelatedID.
type Txn struct {
	ID     int64
	UserID int64
	Type   Type
	Status Status
	// Amount is what the transaction is about: sent, received, deposited,
	// sold or withdrawn. Fee is charged on top of it for money sent (the
	// payer pays Amount + Fee) and taken from it for a deposit (the
	// wallet receives Amount − Fee).
	Amount  money.Amount
	Fee     money.Amount
	FeeRule string
	// Other is the other side of an exchange or remittance (bought or
	// delivered), at Rate; zero otherwise.
	Other money.Amount
	Rate  string
	// CounterpartyID is the other customer of a transfer (0 otherwise);
	// Counterparty is how they are shown (masked).
	CounterpartyID int64
	Counterparty   string
	RelatedID      int64
	MethodID       int64 // the card, bank account or e-wallet used
	Note           string
	// Key is the client's idempotency key ("" on rows made on another
	// customer's request, such as a transfer_in).
	Key     string
	EntryID int64 // the ledger entry that moved (or held) the money; 0 before
	// SettleEntryID is the entry that posted or voided a held entry (a
	// withdrawal's), 0 otherwise.
	SettleEntryID int64
	// ProviderRef is the payment provider's id of the charge or payout.
	ProviderRef string
	// ActionURL is where the customer completes 3-D Secure
	// (awaiting_auth deposits).
	ActionURL string
	// AuthMethod is the second factor this transaction waits for
	// (identity.MethodSMS or MethodTOTP), "" when none is needed.
	AuthMethod   string
	AuthAttempts int
	CodesSent    int
	NewPayee     bool
	// FailureCode is a stable code, FailureReason its English text; show
	// Service.FailureText, which translates it.
	FailureCode   string
	FailureReason string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// ExpiresAt is when an awaiting_auth transaction fails unconfirmed.
	ExpiresAt time.Time
}

// Ref is the transaction's id as the API shows it (txn_…).
func (t *Txn) Ref() string { return ids.Format(TxnPrefix, t.ID) }

// ParseTxnRef parses a txn_… id.
func ParseTxnRef(s string) (int64, bool) { return ids.Parse(TxnPrefix, s) }

// Total is what the transaction takes from the wallet (money sent:
// Amount + Fee) or adds to it (a deposit: Amount − Fee; received: Amount).
func (t *Txn) Total() money.Amount {
	switch t.Type {
	case TypeDeposit:
		return money.New(t.Amount.Minor-t.Fee.Minor, t.Amount.Currency)
	case TypeTransferIn:
		return t.Amount
	}
	return money.New(t.Amount.Minor+t.Fee.Minor, t.Amount.Currency)
}

const txnCols = `id, user_id, type, status, currency, amount, fee, fee_rule, other_currency, other_amount, rate,
	counterparty_id, counterparty, related_id, method_id, note, idem_key, entry_id, settle_entry_id, provider_ref, action_url,
	auth_method, auth_attempts, codes_sent, new_payee, failure_code, failure_reason, created_at, updated_at, expires_at`

// txnColsT is txnCols of the table named t.
var txnColsT = "t." + strings.ReplaceAll(strings.Join(strings.Fields(txnCols), " "), ", ", ", t.")

// txnColCount is the number of columns in txnCols.
const txnColCount = 30

// args returns the values of txnCols for an INSERT.
func (t *Txn) args() []any {
	var key any
	if t.Key != "" {
		key = t.Key
	}
	return []any{t.ID, t.UserID, string(t.Type), string(t.Status), string(t.Amount.Currency), t.Amount.Minor, t.Fee.Minor, t.FeeRule,
		string(t.Other.Currency), t.Other.Minor, t.Rate, t.CounterpartyID, t.Counterparty, t.RelatedID, t.MethodID, t.Note, key,
		t.EntryID, t.SettleEntryID, t.ProviderRef, t.ActionURL, t.AuthMethod, t.AuthAttempts, t.CodesSent, boolInt(t.NewPayee), t.FailureCode,
		t.FailureReason, micros(t.CreatedAt), micros(t.UpdatedAt), micros(t.ExpiresAt)}
}

func scanTxn(sc interface{ Scan(...any) error }) (*Txn, error) {
	t := &Txn{}
	var typ, status, cur, other string
	var amount, fee, otherAmt, created, updated, expires int64
	var key sql.NullString
	var newPayee int
	if err := sc.Scan(&t.ID, &t.UserID, &typ, &status, &cur, &amount, &fee, &t.FeeRule, &other, &otherAmt, &t.Rate,
		&t.CounterpartyID, &t.Counterparty, &t.RelatedID, &t.MethodID, &t.Note, &key, &t.EntryID, &t.SettleEntryID, &t.ProviderRef, &t.ActionURL,
		&t.AuthMethod, &t.AuthAttempts, &t.CodesSent, &newPayee, &t.FailureCode, &t.FailureReason, &created, &updated, &expires); err != nil {
		return nil, err
	}
	t.Type, t.Status = Type(typ), Status(status)
	t.Amount = money.New(amount, money.Currency(cur))
	t.Fee = money.New(fee, money.Currency(cur))
	if other != "" {
		t.Other = money.New(otherAmt, money.Currency(other))
	}
	t.Key = key.String
	t.NewPayee = newPayee != 0
	t.CreatedAt, t.UpdatedAt, t.ExpiresAt = fromMicros(created), fromMicros(updated), fromMicros(expires)
	return t, nil
}

// Hook statements on wallet_txns.
var (
	qInsertTxn     = `INSERT INTO wallet_txns (` + txnCols + `) VALUES ` + placeholders(1, txnColCount) + ` ON CONFLICT (user_id, idem_key) WHERE idem_key IS NOT NULL DO NOTHING`
	qInsertTxnPair = `INSERT INTO wallet_txns (` + txnCols + `) VALUES ` + placeholders(1, txnColCount) + `, ` + placeholders(txnColCount+1, txnColCount) +
		` ON CONFLICT (user_id, idem_key) WHERE idem_key IS NOT NULL DO NOTHING`
	// qCompleteOut completes an authorized transfer_out.
	qCompleteOut = `UPDATE wallet_txns SET status = 'completed', entry_id = $1, related_id = $2, updated_at = $3 WHERE id = $4 AND status = 'authorized'`
)

// placeholders returns "($from, …, $from+n-1)".
func placeholders(from, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	b.WriteByte(')')
	return b.String()
}

// insertTxn writes t unless its user already has a transaction under its
// key; it reports whether it wrote.
func (s *Service) insertTxn(ctx context.Context, tx *sql.Tx, t *Txn) (bool, error) {
	n, err := affected(s.st.exec(ctx, tx, qInsertTxn, t.args()...))
	if err != nil {
		return false, okpay.Internal(err, "record transaction")
	}
	return n == 1, nil
}

func errTxnNotFound() error {
	return okpay.Errorf(okpay.ENotFound, "There is no such transaction.")
}

// FindTransaction returns a transaction of userID (ENotFound for another
// customer's: objects are checked, not only routes).
func (s *Service) FindTransaction(ctx context.Context, userID, id int64) (*Txn, error) {
	t, err := scanTxn(s.db.Read.QueryRowContext(ctx, `SELECT `+txnCols+` FROM wallet_txns WHERE id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errTxnNotFound()
	}
	if err != nil {
		return nil, okpay.Internal(err, "read transaction")
	}
	return t, nil
}

// txnByKey reads userID's transaction with idempotency key key (nil when
// none) through q.
func (s *Service) txnByKey(ctx context.Context, q querier, userID int64, key string) (*Txn, error) {
	t, err := scanTxn(q.QueryRowContext(ctx, `SELECT `+txnCols+` FROM wallet_txns WHERE user_id = $1 AND idem_key = $2`, userID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "read transaction")
	}
	return t, nil
}

// querier is what *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Filter selects a customer's transactions, newest first.
type Filter struct {
	Type     Type
	Status   Status
	Currency money.Currency
	// From and To bound the creation time: From ≤ created < To (zero:
	// unbounded).
	From, To time.Time
	// Cursor is the NextCursor of the previous page ("" for the first).
	Cursor string
	// Limit is 1..100 (default 20).
	Limit int
}

// Page is one page of transactions.
type Page struct {
	Txns       []*Txn
	HasMore    bool
	NextCursor string // the last transaction's id, when HasMore
}

// MaxPage is the largest page.
const MaxPage = 100

// FindTransactions lists userID's transactions matching f, newest first,
// a page at a time (keyset pagination on the id: pages stay stable while
// new transactions arrive).
func (s *Service) FindTransactions(ctx context.Context, userID int64, f Filter) (*Page, error) {
	fields := map[string]string{}
	if f.Limit == 0 {
		f.Limit = 20
	}
	if f.Limit < 1 || f.Limit > MaxPage {
		fields["limit"] = "Ask for 1 to 100 transactions."
	}
	if f.Type != "" && !f.Type.Valid() {
		fields["type"] = "Unknown transaction type."
	}
	if f.Status != "" && !f.Status.Valid() {
		fields["status"] = "Unknown status."
	}
	if f.Currency != "" && !f.Currency.Valid() {
		fields["currency"] = "Unknown currency."
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		fields["to"] = "The end date must come after the start date."
	}
	var before int64
	if f.Cursor != "" {
		id, ok := ParseTxnRef(f.Cursor)
		if !ok {
			fields["cursor"] = "This is not a cursor of this list."
		}
		before = id
	}
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	// The conditions on the transaction (t), and the keyset bound on the
	// id where the list is read (u, the per-user table, on SQLite).
	conds, args := "", []any{userID}
	add := func(cond string, v any) {
		args = append(args, v)
		conds += " AND " + cond + " $" + strconv.Itoa(len(args))
	}
	if f.Type != "" {
		add("t.type =", string(f.Type))
	}
	if f.Status != "" {
		add("t.status =", string(f.Status))
	}
	if f.Currency != "" {
		add("t.currency =", string(f.Currency))
	}
	if !f.From.IsZero() {
		add("t.created_at >=", micros(f.From))
	}
	if !f.To.IsZero() {
		add("t.created_at <", micros(f.To))
	}
	if before > 0 {
		if s.db.Dialect == sqldb.SQLite {
			add("u.id <", before)
		} else {
			add("t.id <", before)
		}
	}
	args = append(args, f.Limit+1)
	limit := " LIMIT $" + strconv.Itoa(len(args))
	q := txnListQuery(s.db.Dialect, conds, limit)
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "list transactions")
	}
	defer rows.Close()
	p := &Page{}
	for rows.Next() {
		t, err := scanTxn(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list transactions")
		}
		p.Txns = append(p.Txns, t)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list transactions")
	}
	if len(p.Txns) > f.Limit {
		p.Txns = p.Txns[:f.Limit]
		p.HasMore = true
		p.NextCursor = p.Txns[len(p.Txns)-1].Ref()
	}
	return p, nil
}

// txnListQuery is FindTransactions' statement: a customer's ($1)
// transactions meeting conds, newest first, up to limit.
func txnListQuery(d sqldb.Dialect, conds, limit string) string {
	if d != sqldb.SQLite {
		return `SELECT ` + txnColsT + ` FROM wallet_txns t WHERE t.user_id = $1` + conds + ` ORDER BY t.id DESC` + limit
	}
	// SQLite: the per-user table and the queue of transactions not yet
	// moved there (sqldb.MoveQueued, migration 40), merged in id order in
	// one statement; each side is read newest first and the merge stops at
	// the page's end. The id is read as u.id (the same value): ordered by
	// it, SQLite walks the per-user table backwards instead of sorting all
	// of the customer's rows.
	cols := "u" + txnColsT[1:]
	return `SELECT ` + cols + ` FROM wallet_txns_by_user u JOIN wallet_txns t ON t.id = u.id WHERE u.user_id = $1` + conds +
		` UNION ALL SELECT ` + cols + ` FROM wallet_txns_unindexed u JOIN wallet_txns t ON t.id = u.id WHERE u.user_id = $1` + conds +
		` ORDER BY 1 DESC` + limit
}

// IndexTxns moves the transactions queued since the last run into the
// per-user table the history reads, sorted (SQLite; a no-op on
// PostgreSQL), and returns how many it moved. okpay serve runs it every
// second; until it runs, the queue answers for them.
func (s *Service) IndexTxns(ctx context.Context) (int64, error) {
	n, err := s.db.MoveQueued(ctx, "wallet_txns_unindexed", "wallet_txns_by_user")
	if err != nil {
		return 0, okpay.Internal(err, "index transactions")
	}
	return n, nil
}

// FailureText is why t failed, in lang: the catalog's text for its
// failure code ("wallet.failure.<code>") when there is one, else the
// stored English reason.
func (s *Service) FailureText(t *Txn, lang i18n.Lang) string {
	if t.FailureCode == "" {
		return ""
	}
	return s.errorText(lang, t.FailureCode, t.FailureReason, nil)
}

// errorText translates a code with data, falling back to msg.
func (s *Service) errorText(lang i18n.Lang, code, msg string, data map[string]any) string {
	if s.cat != nil {
		id := "wallet.failure." + code
		if s.cat.Has(id) {
			return s.cat.T(lang, id, data)
		}
		if strings.HasPrefix(code, "provider_") { // a provider's code we have no text for
			return s.cat.T(lang, "wallet.failure.provider", data)
		}
	}
	return msg
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
