package identity

// What the wallet needs from identity to move money: finding a payee
// without enumeration, the money-out gate of the final execution step
// (TXN-03), transaction codes bound to a payment (TXN-01, TXN-02, MFA-11)
// and the notifications of money events (NOT-01, NOT-04), built before the
// ledger's transaction and written inside it (NOT-02).

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
)

// EPayeeNotFound: no verified account matches the payee given.
const EPayeeNotFound = "payee_not_found"

// How a payee is named.
const (
	PayeeEmail  = "email"
	PayeePhone  = "phone"
	PayeeUserID = "user_id" // "usr_…"
)

// Transaction codes (SECURITY.md "Default parameters": TTL 5 min, ≤5
// attempts, bound to amount and payee).
const (
	purposeTxn = "txn"
	// TxnCodeTTL is how long a transaction code works.
	TxnCodeTTL = 5 * time.Minute
	// TxnCodesPerTxn caps the codes sent for one payment: the first and
	// two resends; then the customer starts a new payment.
	TxnCodesPerTxn = 3
	// TxnCodeResend is the shortest time between two codes of a payment.
	TxnCodeResend = 60 * time.Second
	// txnCodesPerDay caps the transaction codes one account receives.
	txnCodesPerDay = 30
	txnCodeDigits  = 6
)

// Payee is an account money can be sent to (or the payer of a money
// event), as the wallet may know it: its id and a masked name (the only
// thing a payer is shown, so a lookup enumerates nothing new). Its
// contacts and language stay inside this package, for the notices
// PrepareNotice builds.
type Payee struct {
	UserID     int64
	MaskedName string

	email, phone     string
	emailOK, phoneOK bool
	lang             i18n.Lang
	totp             bool
}

// Lang is the payee's language (for texts the wallet renders).
func (p Payee) Lang() i18n.Lang { return p.lang }

// TxnAuthMethod is the second factor the account must confirm payments
// with (MFA-11: the enrolled strongest method is enforced, whatever the
// client asks): MethodTOTP when an authenticator app is enrolled, else
// MethodSMS. Passkey assertions for payments are not offered yet, so an
// account with only SMS and passkeys confirms by SMS.
func (p Payee) TxnAuthMethod() string {
	if p.totp {
		return MethodTOTP
	}
	return MethodSMS
}

const payeeCols = `id, email, phone, email_verified_at, phone_verified_at, lang, totp_enabled_at, CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END`

func scanPayee(row *sql.Row) (Payee, error) {
	var u User
	var emailV, phoneV, totpAt int64
	var lang string
	var secret int
	if err := row.Scan(&u.ID, &u.Email, &u.Phone, &emailV, &phoneV, &lang, &totpAt, &secret); err != nil {
		return Payee{}, err
	}
	u.EmailVerifiedAt, u.PhoneVerifiedAt = fromMicros(emailV), fromMicros(phoneV)
	u.Lang, _ = i18n.ParseLang(lang)
	u.TOTPEnabled = totpAt != 0 && secret != 0
	return PartyOf(&u), nil
}

func errPayeeNotFound() error {
	return okpay.Errorf(EPayeeNotFound, "No OKPay account matches that payee. Check the email address, phone number or id.")
}

// FindPayee finds the account named by an email address, a phone number
// in international form, or a user id ("usr_…"). Only accounts with both
// contacts verified can be paid; anything else is EPayeeNotFound. The
// masked name shows the kind of identifier used (a masked phone for a
// phone, a masked email otherwise).
func (s *Service) FindPayee(ctx context.Context, kind, value string) (Payee, error) {
	return (&Money{s: s}).FindPayee(ctx, kind, value)
}

// FindPayee is Service.FindPayee through prepared statements.
func (m *Money) FindPayee(ctx context.Context, kind, value string) (Payee, error) {
	var col string
	var arg any
	switch kind {
	case PayeeEmail:
		e, err := NormalizeEmail(value)
		if err != nil {
			return Payee{}, okpay.Invalid(map[string]string{"payee": "Enter an email address like name@example.com."})
		}
		col, arg = "email", e
	case PayeePhone:
		p, err := NormalizePhone(value)
		if err != nil {
			return Payee{}, okpay.Invalid(map[string]string{"payee": "Enter a mobile number with its country code, like +86 138 0013 8000."})
		}
		col, arg = "phone", p
	case PayeeUserID:
		id, ok := ids.Parse(UserPrefix, value)
		if !ok {
			return Payee{}, okpay.Invalid(map[string]string{"payee": "Enter an OKPay id like usr_0d4m8y2k3q1ag."})
		}
		col, arg = "id", id
	default:
		return Payee{}, okpay.Invalid(map[string]string{"payee_kind": "Name the payee by email, phone or id."})
	}
	var row *sql.Row
	if st := m.find[col]; st != nil {
		row = st.QueryRowContext(ctx, arg)
	} else {
		row = m.s.DB.Read.QueryRowContext(ctx, `SELECT `+payeeCols+` FROM users WHERE `+col+` = $1`, arg)
	}
	p, err := scanPayee(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Payee{}, errPayeeNotFound()
	}
	if err != nil {
		return Payee{}, okpay.Internal(err, "find payee")
	}
	if !p.emailOK || !p.phoneOK {
		return Payee{}, errPayeeNotFound()
	}
	if kind == PayeePhone {
		p.MaskedName = maskPhone(p.phone)
	}
	return p, nil
}

// LoadParty returns the account userID as a party of a money event (the
// payer of a transfer, the owner of a deposit), verified or not. Its
// masked name is its masked email.
func (s *Service) LoadParty(ctx context.Context, userID int64) (Payee, error) {
	return (&Money{s: s}).LoadParty(ctx, userID)
}

// PartyOf is the party of a money event a user is: LoadParty for a user
// already read — the caller as its session check found it — without
// reading the row again (LoadParty and FindPayee build theirs with it).
func PartyOf(u *User) Payee {
	return Payee{UserID: u.ID, MaskedName: maskEmail(u.Email), email: u.Email, phone: u.Phone,
		emailOK: !u.EmailVerifiedAt.IsZero(), phoneOK: !u.PhoneVerifiedAt.IsZero(), lang: u.Lang, totp: u.TOTPEnabled}
}

// LoadParty is Service.LoadParty through a prepared statement.
func (m *Money) LoadParty(ctx context.Context, userID int64) (Payee, error) {
	var row *sql.Row
	if st := m.find["id"]; st != nil {
		row = st.QueryRowContext(ctx, userID)
	} else {
		row = m.s.DB.Read.QueryRowContext(ctx, `SELECT `+payeeCols+` FROM users WHERE id = $1`, userID)
	}
	p, err := scanPayee(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Payee{}, okpay.Errorf(okpay.ENotFound, "no such user")
	}
	if err != nil {
		return Payee{}, okpay.Internal(err, "load user")
	}
	return p, nil
}

// Money runs what the wallet needs of identity on its hot path: the
// payee and party look-ups, and in its ledger hooks the money-out gate and
// the writing of notices. Those hooks run one at a time in the ledger's
// single writer, so on SQLite its statements are prepared once, on the
// writer connection (the look-ups on the readers'), with anonymous
// parameters (the driver looks named ones up at every call): nothing is
// parsed per payment. Make one with Service.Money before serving; Close
// it when done.
type Money struct {
	s    *Service
	gate *sql.Stmt // nil on PostgreSQL, whose driver caches statements
	// find holds the look-ups of users by "email", "phone" and "id"
	// (SQLite; nil elsewhere).
	find map[string]*sql.Stmt
	// devices caches when devices were first seen (RSK-01, risk_money.go;
	// nil: no cache).
	devices *deviceCache
}

const qGate = `SELECT status, email_verified_at, phone_verified_at, hold_until, hold_reason FROM users WHERE id = $1`

// Money prepares the statements of the wallet's hooks (the outbox's
// insert among them).
func (s *Service) Money(ctx context.Context) (*Money, error) {
	m := &Money{s: s, devices: newDeviceCache()}
	if s.DB.Dialect != "sqlite" {
		return m, nil
	}
	if err := s.Outbox.PrepareStatements(ctx); err != nil {
		return nil, err
	}
	var err error
	if m.gate, err = s.DB.Write.PrepareContext(ctx, strings.ReplaceAll(qGate, "$1", "?")); err != nil {
		return nil, err
	}
	m.find = map[string]*sql.Stmt{}
	for _, col := range []string{"email", "phone", "id"} {
		st, err := s.DB.Read.PrepareContext(ctx, `SELECT `+payeeCols+` FROM users WHERE `+col+` = ?`)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.find[col] = st
	}
	return m, nil
}

// Close releases the prepared statements.
func (m *Money) Close() {
	if m.gate != nil {
		m.gate.Close()
	}
	for _, st := range m.find {
		st.Close()
	}
}

// CheckMoneyOut is the money-out gate of TXN-03's final step, run inside
// the transaction that moves the money (the ledger's): it fails with
// EAccountFrozen, EContactUnverified, or a HoldError when a cooling-off
// hold is active and applies. holdApplies says whether it does: RSK-02
// blocks withdrawals and transfers to new payees during a hold, not
// payments to people paid before. On PostgreSQL the user row is read FOR
// SHARE, so a freeze committing meanwhile waits for this transaction and
// never lets a payment slip past it (SES-07).
func (m *Money) CheckMoneyOut(ctx context.Context, tx *sql.Tx, userID int64, holdApplies bool) error {
	var row *sql.Row
	if m.gate != nil {
		row = tx.StmtContext(ctx, m.gate).QueryRowContext(ctx, userID)
	} else {
		row = tx.QueryRowContext(ctx, qGate+` FOR SHARE`, userID)
	}
	var status, reason string
	var emailV, phoneV, hold int64
	err := row.Scan(&status, &emailV, &phoneV, &hold, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return okpay.Errorf(okpay.ENotFound, "no such user")
	}
	if err != nil {
		return okpay.Internal(err, "check money out")
	}
	switch {
	case status == "frozen":
		return okpay.Errorf(EAccountFrozen, "This account is frozen: money cannot leave it. Contact support to unfreeze it.")
	case emailV == 0 || phoneV == 0:
		return okpay.Errorf(EContactUnverified, "Verify your email address and phone number before moving money.")
	case holdApplies && m.s.now().Before(fromMicros(hold)):
		return &HoldError{Until: fromMicros(hold), Reason: reason}
	}
	return nil
}

// CheckMoneyOut is Money.CheckMoneyOut without prepared statements.
func (s *Service) CheckMoneyOut(ctx context.Context, tx *sql.Tx, userID int64, holdApplies bool) error {
	return (&Money{s: s}).CheckMoneyOut(ctx, tx, userID, holdApplies)
}

// TxnAuth is what a transaction code confirms (TXN-01 dynamic linking):
// the payment, its exact amount and currency, and the payee. A code is
// stored bound to all of them; any other value (one minor unit more,
// another payee) finds no code and fails.
type TxnAuth struct {
	TxnID  int64
	Amount money.Amount
	// PayeeID is the account paid (or a payout method's id).
	PayeeID int64
	// PayeeLabel is how the SMS names the payee (masked).
	PayeeLabel string
	// PayeeName, when set, names the payee in the SMS instead, in the
	// customer's language (a payout method's paymethod.Label).
	PayeeName localizer
}

// owner is the code's binding: the payment's canonical form.
func (a TxnAuth) owner() string {
	b := make([]byte, 0, 64)
	b = append(b, "txn:"...)
	b = strconv.AppendInt(b, a.TxnID, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, a.Amount.Minor, 10)
	b = append(b, ':')
	b = append(b, a.Amount.Currency...)
	b = append(b, ':')
	b = strconv.AppendInt(b, a.PayeeID, 10)
	return string(b)
}

// SendTxnCode sends, inside tx, an SMS code that confirms the payment a
// and states its amount and payee (TXN-01). A new code replaces the
// payment's earlier one. At most TxnCodesPerTxn codes go out per payment,
// TxnCodeResend apart, and a daily cap per account applies. It returns
// the masked number the code went to.
func (s *Service) SendTxnCode(ctx context.Context, tx *sql.Tx, userID int64, a TxnAuth, m Meta) (string, error) {
	u, err := s.loadUser(ctx, tx, userID, true)
	if err != nil {
		return "", err
	}
	if u.PhoneVerifiedAt.IsZero() {
		return "", okpay.Errorf(EContactUnverified, "Verify your phone number before moving money.")
	}
	owner := a.owner()
	now := s.now()
	var n, last int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(created_at), 0) FROM otp_codes WHERE owner = $1 AND purpose = $2`, owner, purposeTxn).Scan(&n, &last); err != nil {
		return "", okpay.Internal(err, "count codes")
	}
	if n >= TxnCodesPerTxn {
		return "", okpay.Errorf(ERateLimited, "No more codes can be sent for this payment. Start the payment again.")
	}
	if since := now.Sub(fromMicros(last)); last != 0 && since < TxnCodeResend {
		return "", &RateLimitError{RetryAfter: TxnCodeResend - since}
	}
	if err := s.hit(ctx, tx, "txncode:"+strconv.FormatInt(userID, 10), 24*time.Hour, txnCodesPerDay); err != nil {
		return "", err
	}
	code, err := otp.NewCode(txnCodeDigits)
	if err != nil {
		return "", okpay.Internal(err, "generate code")
	}
	mac := s.codeMAC.Sum([]byte(owner), []byte(purposeTxn), []byte(code))
	id, err := s.storeCode(ctx, tx, owner, purposeTxn, u.ID, MethodSMS, u.Phone, m.IP, mac, s.codeMAC.KeyID(), TxnCodeTTL)
	if err != nil {
		return "", err
	}
	data := map[string]any{"Code": code, "Minutes": int(TxnCodeTTL / time.Minute), "Amount": a.Amount.Format(string(u.Lang)), "Payee": a.PayeeLabel}
	if a.PayeeName != nil {
		data["Payee"] = a.PayeeName.Localize(s.Catalog, u.Lang)
	}
	msg := notify.Message{DedupeKey: "code:" + strconv.FormatInt(id, 10) + ":sms", UserID: u.ID, Channel: notify.ChannelSMS, Kind: "code_" + purposeTxn,
		To: u.Phone, Body: s.Catalog.T(u.Lang, "notify.code.txn.sms", data)}
	if err := s.Outbox.Enqueue(ctx, tx, msg); err != nil {
		return "", okpay.Internal(err, "queue code")
	}
	return maskPhone(u.Phone), nil
}

// CheckTxnCode checks, inside tx, the second factor confirming payment a:
// with MethodSMS the code sent for exactly a (a code works once, and dies
// after the configured attempts); with MethodTOTP the authenticator's
// current code (each step once). A failure is EInvalidCode, whose attempt
// must be committed: the caller commits tx anyway.
func (s *Service) CheckTxnCode(ctx context.Context, tx *sql.Tx, userID int64, a TxnAuth, method, code string) error {
	switch method {
	case MethodSMS:
		_, _, err := s.checkCodeTo(ctx, tx, a.owner(), purposeTxn, code, txnCodeDigits)
		return err
	case MethodTOTP:
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		return s.checkTOTP(ctx, tx, u, code)
	}
	return okpay.Errorf(EFactorUnavailable, "This way of confirming a payment is not available.")
}

// MoneyNotice describes a notification of a money event (NOT-01). The
// catalog holds "notify.<Kind>.subject", ".body" and ".sms"; their
// placeholders are Data's keys plus Time, and Device and IP when Meta is
// set, and Link when FreezeLink is.
type MoneyNotice struct {
	Kind string
	// Event identifies the event (a transaction id): with Kind and the
	// channel it makes the dedupe key, so the user gets one per channel.
	Event string
	// Data fills the texts (NOT-04: amount and counterparty); money.Amount
	// values are formatted in the recipient's language.
	Data map[string]any
	// Channels are notify.ChannelEmail, ChannelSMS and ChannelInApp; email
	// goes only to a verified address.
	Channels []string
	// FreezeLink adds a "Not you? Freeze my account" link (NOT-05): for
	// money leaving the account.
	FreezeLink bool
	// Meta is the request that caused the event, when the recipient made
	// it (its device and address are shown); nil otherwise.
	Meta *Meta
}

// Notice is a rendered MoneyNotice, its messages sealed for the outbox,
// waiting to be written in the event's transaction by WriteNotices or
// StageNotices.
type Notice struct {
	msgs  []notify.Sealed
	inapp []notify.Direct // written beside the outbox, not sent
}

// localizer is a notice value written in the customer's language when the
// notice is rendered (paymethod.Label).
type localizer interface {
	Localize(cat *i18n.Catalog, lang i18n.Lang) string
}

// PrepareNotice renders n for p and seals its messages without touching
// the database, so the work is done before the transaction that records
// the event (where only the inserts remain).
func (s *Service) PrepareNotice(p Payee, n MoneyNotice) (*Notice, error) {
	now := s.now()
	data := make(map[string]any, len(n.Data)+4)
	for k, v := range n.Data {
		switch x := v.(type) {
		case money.Amount:
			v = x.Format(string(p.lang))
		case localizer:
			v = x.Localize(s.Catalog, p.lang)
		}
		data[k] = v
	}
	data["Time"] = now.Format("2006-01-02 15:04 UTC")
	if n.Meta != nil {
		data["Device"] = deviceLabel(n.Meta.UserAgent)
		data["IP"] = orUnknown(n.Meta.IP)
	}
	out := &Notice{}
	var msgs, inapp []notify.Message
	if n.FreezeLink {
		data["Link"] = s.freezeLink(p.UserID, now)
	}
	var subject, body string
	for _, ch := range n.Channels {
		m := notify.Message{DedupeKey: n.Kind + ":" + n.Event + ":" + ch, UserID: p.UserID, Channel: ch, Kind: n.Kind}
		switch ch {
		case notify.ChannelEmail:
			if !p.emailOK {
				continue
			}
			m.To = p.email
		case notify.ChannelSMS:
			if p.phone == "" {
				continue
			}
			m.To = p.phone
			m.Body = s.Catalog.T(p.lang, "notify."+n.Kind+".sms", data)
			msgs = append(msgs, m)
			continue
		case notify.ChannelInApp:
			// Shown to the signed-in customer, and stored as it is shown:
			// so no freeze token (no token is stored, only its hash in
			// freeze_links) but the account's own freeze page.
			m.Subject = s.Catalog.T(p.lang, "notify."+n.Kind+".subject", data)
			if n.FreezeLink {
				d := maps.Clone(data)
				d["Link"] = s.freezePageURL()
				m.Body = s.Catalog.T(p.lang, "notify."+n.Kind+".body", d)
			} else {
				m.Body = s.Catalog.T(p.lang, "notify."+n.Kind+".body", data)
			}
			inapp = append(inapp, m)
			continue
		default:
			return nil, okpay.Errorf(okpay.EInvalid, "unknown notification channel %q", ch)
		}
		if subject == "" {
			subject = s.Catalog.T(p.lang, "notify."+n.Kind+".subject", data)
			body = s.Catalog.T(p.lang, "notify."+n.Kind+".body", data)
		}
		m.Subject, m.Body = subject, body
		msgs = append(msgs, m)
	}
	sealed, err := s.Outbox.Seal(msgs...)
	if err != nil {
		return nil, okpay.Internal(err, "seal notification")
	}
	out.msgs = sealed
	if out.inapp, err = s.Outbox.PrepareInApp(inapp...); err != nil {
		return nil, okpay.Internal(err, "prepare in-app notification")
	}
	return out, nil
}

// freezeURL is the link that carries a freeze token (host from
// configuration only, REC-03).
func (s *Service) freezeURL(token string) string {
	return s.baseURL() + "/freeze/" + token
}

// freezePageURL is the signed-in freeze page, which in-app notices link
// instead of a one-click link: they are stored as shown, and no freeze
// token may be stored (migration 30 cleaned the old ones).
func (s *Service) freezePageURL() string {
	return s.baseURL() + "/account/freeze"
}

// baseURL is the configured base URL without a trailing slash.
func (s *Service) baseURL() string {
	return strings.TrimRight(s.cfg.BaseURL, "/")
}

// WriteNotices queues the notices' messages and stores their in-app copies
// inside tx, the transaction of the event (NOT-02). Nil notices are
// skipped. Call WakeNotices after the commit.
func (m *Money) WriteNotices(ctx context.Context, tx *sql.Tx, ns ...*Notice) error {
	var msgs []notify.Sealed
	var inapp []notify.Direct
	for _, n := range ns {
		if n == nil {
			continue
		}
		msgs = append(msgs, n.msgs...)
		inapp = append(inapp, n.inapp...)
	}
	if err := m.s.Outbox.WriteInApp(ctx, tx, inapp...); err != nil {
		return okpay.Internal(err, "store in-app notification")
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := m.s.Outbox.Write(ctx, tx, msgs...); err != nil {
		return okpay.Internal(err, "queue notification")
	}
	return nil
}

// StageNotices is WriteNotices for a ledger hook that defers its inserts
// (ledger.TxHook): the in-app copies go to ins, to be inserted in the
// event's transaction with the batch's other rows, and the messages as one
// bundle (notify.Outbox.StageBundle), which a dispatcher sends after the
// commit and then writes to the outbox.
func (m *Money) StageNotices(ins notify.Inserter, ns ...*Notice) {
	var msgs []notify.Sealed
	for _, n := range ns {
		if n == nil {
			continue
		}
		msgs = append(msgs, n.msgs...)
		m.s.Outbox.StageInApp(ins, n.inapp...)
	}
	m.s.Outbox.StageBundle(ins, msgs...)
}

// WriteNotices is Money.WriteNotices without prepared statements.
func (s *Service) WriteNotices(ctx context.Context, tx *sql.Tx, ns ...*Notice) error {
	return (&Money{s: s}).WriteNotices(ctx, tx, ns...)
}

// WakeNotices has the dispatcher send queued notices now; call it after
// the transaction that wrote them committed.
func (s *Service) WakeNotices() { s.Outbox.Wake() }
