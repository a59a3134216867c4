package paymethod

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
)

// methodCols are the columns scanRow reads, from payment_methods m joined
// with its detail tables c (card), b (bank account) and e (e-wallet).
const methodCols = `m.id, m.user_id, m.kind, m.status, m.failure_code, m.fingerprint, m.shared, m.is_default, m.label, m.psp,
	m.verify_kind, m.reference, m.action_url, m.code_mac, m.code_attempts, m.event_at, m.verify_expires_at,
	m.created_at, m.verified_at, m.hold_until, m.deleted_at, m.auth_fallback, m.auth_voided_at,
	COALESCE(c.psp_token, ''), COALESCE(c.brand, ''), COALESCE(c.last4, ''), COALESCE(c.exp_month, 0), COALESCE(c.exp_year, 0),
	COALESCE(c.funding, ''), COALESCE(c.issuer_country, ''),
	COALESCE(b.country, ''), COALESCE(b.last4, ''), COALESCE(b.holder_name, ''), COALESCE(b.currency, ''), b.iban_sealed,
	COALESCE(b.name_check, ''), COALESCE(b.name_check_held, ''), COALESCE(b.name_check_ack, 0),
	COALESCE(e.provider, ''), COALESCE(e.account_masked, ''), e.account_sealed, COALESCE(e.linked_by, '')`

const methodFrom = ` FROM payment_methods m
	LEFT JOIN payment_cards c ON c.method_id = m.id
	LEFT JOIN payment_bank_accounts b ON b.method_id = m.id
	LEFT JOIN payment_ewallets e ON e.method_id = m.id`

// row is a method with what only this package may see.
type row struct {
	Method
	reference string
	codeMAC   []byte
	attempts  int
	eventAt   int64
	token     string // card
	sealed    []byte // IBAN or e-wallet account
}

type scanner interface{ Scan(dest ...any) error }

func scanRow(sc scanner) (*row, error) {
	var (
		r                                         row
		kind, status                              string
		shared, isDefault                         int64
		expires, created, verified, hold, deleted int64
		authFallback                              string
		authVoided                                int64
		brand, last4, funding, issuer             string
		expMonth, expYear                         int64
		country, bankLast4, holder, currency      string
		ibanSealed, accountSealed                 []byte
		nameCheck, nameHeld                       string
		nameAck                                   int64
		ewProvider, ewMasked, ewLinked            string
	)
	err := sc.Scan(&r.ID, &r.UserID, &kind, &status, &r.FailureCode, &r.Fingerprint, &shared, &isDefault, &r.Label, &r.Provider,
		&r.VerifyKind, &r.reference, &r.ActionURL, &r.codeMAC, &r.attempts, &r.eventAt, &expires,
		&created, &verified, &hold, &deleted, &authFallback, &authVoided,
		&r.token, &brand, &last4, &expMonth, &expYear, &funding, &issuer,
		&country, &bankLast4, &holder, &currency, &ibanSealed, &nameCheck, &nameHeld, &nameAck,
		&ewProvider, &ewMasked, &accountSealed, &ewLinked)
	if err != nil {
		return nil, err
	}
	r.Kind, r.Status = Kind(kind), Status(status)
	r.Shared, r.Default = shared != 0, isDefault != 0
	r.VerifyExpiresAt = fromMicros(expires)
	r.AuthFallback, r.AuthVoidedAt = authFallback != "", fromMicros(authVoided)
	r.CreatedAt, r.VerifiedAt, r.HoldUntil, r.DeletedAt = fromMicros(created), fromMicros(verified), fromMicros(hold), fromMicros(deleted)
	switch r.Kind {
	case KindCard:
		r.Card = &Card{Brand: brand, Last4: last4, ExpMonth: int(expMonth), ExpYear: int(expYear), Funding: funding, IssuerCountry: issuer}
	case KindBankAccount:
		r.Bank = &BankAccount{Country: country, Last4: bankLast4, Masked: r.Label, Holder: holder, Currency: money.Currency(currency),
			NameCheck: NameResult(nameCheck), NameHeld: nameHeld, NameConfirmed: nameAck != 0}
		r.sealed = ibanSealed
	case KindEWallet:
		r.EWallet = &EWallet{Provider: ewProvider, Masked: ewMasked, LinkedBy: ewLinked}
		r.sealed = accountSealed
	}
	return &r, nil
}

// public returns the owner's view of r.
func (s *Service) public(r *row) *Method {
	m := r.Method
	if m.Status == StatusAwaitingCode {
		m.AttemptsLeft = max(0, s.maxAttempts(r)-r.attempts)
	}
	if m.Status != StatusRequiresAction {
		m.ActionURL = ""
	}
	if m.Status.Final() {
		m.VerifyExpiresAt = time.Time{}
	}
	return &m
}

// maxAttempts is how many codes the verification of r allows.
func (s *Service) maxAttempts(r *row) int {
	switch r.VerifyKind {
	case VerifyMicroDeposits:
		return s.cfg.MicroDepositAttempts
	case VerifyEWalletCode:
		return s.cfg.EWalletCodeAttempts
	}
	return s.cfg.StatementCodeAttempts
}

func (s *Service) querier(tx *sql.Tx) Querier {
	if tx != nil {
		return tx
	}
	return s.d.DB.Read
}

// load reads a method by id; lock takes the row lock on PostgreSQL. A
// method of another user is ENotFound, as is an unknown one.
func (s *Service) load(ctx context.Context, q Querier, userID, id int64, lock bool) (*row, error) {
	query := `SELECT ` + methodCols + methodFrom + ` WHERE m.id = $1`
	if lock {
		query += s.forUpdateOf()
	}
	r, err := scanRow(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) || err == nil && r.UserID != userID {
		return nil, okpay.Errorf(okpay.ENotFound, "There is no such payment method.")
	}
	if err != nil {
		return nil, okpay.Internal(err, "load payment method")
	}
	return r, nil
}

// loadByReference reads the method whose verification has reference ref
// (nil when there is none).
func (s *Service) loadByReference(ctx context.Context, tx *sql.Tx, ref string) (*row, error) {
	r, err := scanRow(tx.QueryRowContext(ctx, `SELECT `+methodCols+methodFrom+` WHERE m.reference = $1`+s.forUpdateOf(), ref))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "load payment method by reference")
	}
	return r, nil
}

// forUpdateOf locks only the payment_methods row of a joined query on
// PostgreSQL (the outer-joined detail rows cannot be locked).
func (s *Service) forUpdateOf() string {
	if f := s.d.DB.ForUpdate(); f != "" {
		return f + ` OF m`
	}
	return ""
}

// List returns the user's methods that are not deleted, oldest first.
func (s *Service) List(ctx context.Context, userID int64) ([]*Method, error) {
	rows, err := s.d.DB.Read.QueryContext(ctx, `SELECT `+methodCols+methodFrom+` WHERE m.user_id = $1 AND m.deleted_at = 0 ORDER BY m.created_at, m.id`, userID)
	if err != nil {
		return nil, okpay.Internal(err, "list payment methods")
	}
	defer rows.Close()
	var out []*Method
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list payment methods")
		}
		out = append(out, s.public(r))
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list payment methods")
	}
	return out, nil
}

// Get returns one of the user's methods, deleted ones included (a
// withdrawal's history still names its destination). Another user's
// method is ENotFound.
func (s *Service) Get(ctx context.Context, userID, methodID int64) (*Method, error) {
	r, err := s.load(ctx, s.d.DB.Read, userID, methodID, false)
	if err != nil {
		return nil, err
	}
	return s.public(r), nil
}

// AccountsForFingerprint counts the distinct accounts that hold or held
// (deleted methods count) an instrument, for the mule rule (RSK-04: a
// payout fingerprint linked to 3 or more accounts). q is a transaction or
// nil for the read pool.
func (s *Service) AccountsForFingerprint(ctx context.Context, q Querier, fingerprint string) (int, error) {
	if q == nil {
		q = s.d.DB.Read
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(DISTINCT user_id) FROM payment_methods WHERE fingerprint = $1`, fingerprint).Scan(&n); err != nil {
		return 0, okpay.Internal(err, "count accounts for fingerprint")
	}
	return n, nil
}

// UsersForFingerprint lists the accounts that hold or held an instrument
// (the risk rules' Context.FingerprintUsers), in id order.
func (s *Service) UsersForFingerprint(ctx context.Context, q Querier, fingerprint string) ([]int64, error) {
	if q == nil {
		q = s.d.DB.Read
	}
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT user_id FROM payment_methods WHERE fingerprint = $1 ORDER BY user_id`, fingerprint)
	if err != nil {
		return nil, okpay.Internal(err, "list accounts for fingerprint")
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, okpay.Internal(err, "list accounts for fingerprint")
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list accounts for fingerprint")
	}
	return out, nil
}

// notify queues a notification of kind about r.
func (s *Service) notify(ctx context.Context, tx *sql.Tx, r *row, kind string, extra map[string]any) error {
	data := map[string]any{"Method": Label(r.Label), "Kind": string(r.Kind), "MethodID": r.PublicID()}
	for k, v := range extra {
		data[k] = v
	}
	if err := s.d.Notifier.Notify(ctx, tx, r.UserID, kind, data); err != nil {
		return okpay.Internal(err, "notify "+kind)
	}
	return nil
}

// aad binds a sealed account to its method and kind.
func aad(kind Kind, methodID int64) []byte {
	return []byte("okpay.paymethod.v1:" + string(kind) + ":" + strconv.FormatInt(methodID, 10))
}
