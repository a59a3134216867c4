package support

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

// CustomerContext is what the console shows beside a conversation: the
// customer's profile, money and security, personal data masked (SUP-03).
// It never holds a password, a code, a secret or more of a card than its
// brand and last four digits.
type CustomerContext struct {
	Case *Case
	// UserRef is the customer's public id (usr_…).
	UserRef string
	// Email and Phone are masked ("j•••@example.com", "+86•••••••1234").
	Email, Phone                 string
	EmailVerified, PhoneVerified bool
	// Level is the verification level (0 without the wallet).
	Level     int
	LevelName string
	Lang      string
	Since     time.Time
	Frozen    bool
	FrozenAt  time.Time
	// HoldUntil is the end of a running money-out hold (zero: none).
	HoldUntil  time.Time
	HoldReason string
	TOTP       bool
	Passkeys   int

	Balances    []Balance
	Txns        []Txn
	Withdrawals []Withdrawal
	Methods     []Method
	Sessions    []Session
	Events      []Event
	Notices     []Notice
	// Requests are the customer's requests waiting for a checker.
	Requests []*Request
}

// Balance is one wallet's money.
type Balance struct {
	Currency                                 money.Currency
	Available, Posted, PendingIn, PendingOut money.Amount
}

// Txn is a transaction as the console lists it.
type Txn struct {
	Ref       string
	Type      wallet.Type
	Status    wallet.Status
	Amount    money.Amount
	Fee       money.Amount
	Failure   string // the failure code, "" when none
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Withdrawal is a withdrawal still in flight with its expected dates.
type Withdrawal struct {
	Ref                  string
	Status               wallet.Status
	Amount               money.Amount
	Method               string // masked label
	EarliestAt, LatestAt time.Time
}

// Method is a payment method, masked: its kind, brand and last four
// digits only (CRD-03).
type Method struct {
	Kind   string
	Brand  string
	Last4  string
	Status string
}

// Session is a live sign-in of the customer, IP masked.
type Session struct {
	Device     string
	IP         string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// Event is a security event of the customer (logins, sessions, factors,
// freezes, holds) from the audit log, IP masked.
type Event struct {
	At     time.Time
	Name   string
	Actor  string
	IP     string
	CaseID string
}

// Notice is one of the customer's last notifications (for a resend).
type Notice struct {
	ID        int64
	Kind      string
	Title     string
	CreatedAt time.Time
}

// Context is the customer context of conversation convID for agent a
// (customer:read; SUP-04 applies).
func (s *Service) Context(ctx context.Context, a *agent.Agent, convID int64) (*CustomerContext, error) {
	c, err := s.OpenCase(ctx, a, convID, agent.PermCustomerRead)
	if err != nil {
		return nil, err
	}
	u := c.Customer
	out := &CustomerContext{Case: c, UserRef: ids.Format(identity.UserPrefix, u.ID), Email: MaskEmail(u.Email), Phone: MaskPhone(u.Phone),
		EmailVerified: !u.EmailVerifiedAt.IsZero(), PhoneVerified: !u.PhoneVerifiedAt.IsZero(), Lang: string(u.Lang), Since: u.CreatedAt,
		Frozen: u.Frozen, FrozenAt: u.FrozenAt, TOTP: u.TOTPEnabled, Passkeys: u.Passkeys}
	if s.now().Before(u.HoldUntil) {
		out.HoldUntil, out.HoldReason = u.HoldUntil, u.HoldReason
	}
	if s.Wallet != nil {
		if err := s.moneyContext(ctx, u.ID, out); err != nil {
			return nil, err
		}
	}
	if s.Methods != nil {
		ms, err := s.Methods.List(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			out.Methods = append(out.Methods, maskMethod(m))
		}
	}
	sessions, err := s.Identity.Sessions(ctx, u.ID, 0)
	if err != nil {
		return nil, err
	}
	for _, ss := range sessions {
		out.Sessions = append(out.Sessions, Session{Device: ss.Device, IP: MaskIP(ss.IP), CreatedAt: ss.CreatedAt, LastSeenAt: ss.LastSeenAt})
	}
	entries, err := s.Audit.List(ctx, out.UserRef, 200, 0)
	if err != nil {
		return nil, okpay.Internal(err, "list security events")
	}
	for _, e := range entries {
		if !securityEvent(e.Name) {
			continue
		}
		out.Events = append(out.Events, Event{At: e.At, Name: e.Name, Actor: e.Actor, IP: MaskIP(e.IP), CaseID: e.CaseID})
		if len(out.Events) == 20 {
			break
		}
	}
	if s.Outbox != nil {
		ns, err := s.Outbox.ListInApp(ctx, u.ID, 5)
		if err != nil {
			return nil, okpay.Internal(err, "list notifications")
		}
		for _, n := range ns {
			out.Notices = append(out.Notices, Notice{ID: n.ID, Kind: n.Kind, Title: n.Title, CreatedAt: n.CreatedAt})
		}
	}
	if out.Requests, err = s.Requests(ctx, RequestFilter{CustomerID: u.ID, Status: StatusPending}); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) moneyContext(ctx context.Context, userID int64, out *CustomerContext) error {
	if lim, err := s.Wallet.Limits(ctx, userID); err == nil {
		out.Level, out.LevelName = lim.Level, lim.LevelName
	} else if okpay.ErrorCode(err) != okpay.ENotFound {
		return err
	}
	ws, err := s.Wallet.Wallets(ctx, userID)
	if err != nil {
		return err
	}
	for _, w := range ws {
		out.Balances = append(out.Balances, Balance{Currency: w.Currency, Available: w.Available, Posted: w.Posted, PendingIn: w.PendingIn, PendingOut: w.PendingOut})
	}
	page, err := s.Wallet.FindTransactions(ctx, userID, wallet.Filter{Limit: 10})
	if err != nil {
		return err
	}
	for _, t := range page.Txns {
		out.Txns = append(out.Txns, txnView(t))
	}
	wpage, err := s.Wallet.FindTransactions(ctx, userID, wallet.Filter{Type: wallet.TypeWithdrawal, Limit: 20})
	if err != nil {
		return err
	}
	for _, t := range wpage.Txns {
		if t.Status.Final() || t.Status == wallet.StatusDraft {
			continue
		}
		w := Withdrawal{Ref: t.Ref(), Status: t.Status, Amount: t.Amount}
		if s.Withdrawals != nil {
			if wd, err := s.Withdrawals.Find(ctx, userID, t.ID); err == nil {
				w.Method, w.EarliestAt, w.LatestAt = wd.MethodLabel, wd.EarliestAt, wd.LatestAt
			}
		}
		out.Withdrawals = append(out.Withdrawals, w)
	}
	return nil
}

func txnView(t *wallet.Txn) Txn {
	return Txn{Ref: t.Ref(), Type: t.Type, Status: t.Status, Amount: t.Amount, Fee: t.Fee, Failure: t.FailureCode, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// maskMethod keeps a method's kind, brand and last four digits (CRD-03).
func maskMethod(m *paymethod.Method) Method {
	out := Method{Kind: string(m.Kind), Status: string(m.Status)}
	switch {
	case m.Card != nil:
		out.Brand, out.Last4 = m.Card.Brand, last4(m.Card.Last4)
	case m.Bank != nil:
		out.Brand, out.Last4 = m.Bank.Country, last4(m.Bank.Last4)
	case m.EWallet != nil:
		out.Brand = m.EWallet.Provider
	}
	return out
}

func last4(s string) string {
	if r := []rune(s); len(r) > 4 {
		return string(r[len(r)-4:])
	}
	return s
}

// securityEvents are the audit events the context lists.
var securityEvents = []string{
	audit.AuthnLoginSuccess, audit.AuthnLoginSuccessAfterFail, audit.AuthnLoginFail, audit.AuthnLoginFailMax, audit.AuthnLoginLock,
	audit.AuthnPasswordChange, audit.AuthnPasswordReset, audit.AuthnImpossibleTravel, audit.AuthnMFAEnabled, audit.AuthnMFADisabled,
	audit.AuthnRecoveryCodeUsed, audit.AuthnTokenRevoked, audit.AuthnTokenReuse, audit.AccountFrozen, audit.AccountUnfrozen,
	audit.HoldStarted, audit.SessionCreated, "hold_lifted", "authn_password_reset_requested",
}

func securityEvent(name string) bool { return slices.Contains(securityEvents, name) }

// ---- masking (SUP-03) ----

const dots = "•••"

// MaskEmail keeps an address's first character and its domain.
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 {
		if e == "" {
			return ""
		}
		return dots
	}
	first := []rune(e[:at])[0]
	return string(first) + dots + e[at:]
}

// MaskPhone keeps a number's country prefix (up to 3 characters after
// "+") and its last four digits.
func MaskPhone(p string) string {
	r := []rune(p)
	if len(r) <= 4 {
		if p == "" {
			return ""
		}
		return dots
	}
	head := ""
	if r[0] == '+' && len(r) > 8 {
		head = string(r[:3])
	}
	return head + dots + string(r[len(r)-4:])
}

// MaskIP keeps the network part of an address: the first two bytes of
// IPv4 ("203.0.x.x"), the first 32 bits of IPv6.
func MaskIP(s string) string {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		if s == "" {
			return ""
		}
		return dots
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return itoa(int(b[0])) + "." + itoa(int(b[1])) + ".x.x"
	}
	b := ip.As16()
	return hex4(b[0], b[1]) + ":" + hex4(b[2], b[3]) + ":x:x:x:x:x:x"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [3]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func hex4(a, b byte) string {
	const h = "0123456789abcdef"
	out := []byte{h[a>>4], h[a&15], h[b>>4], h[b&15]}
	for len(out) > 1 && out[0] == '0' {
		out = out[1:]
	}
	return string(out)
}
