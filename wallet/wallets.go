package wallet

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
)

// Wallet is a customer's balance in one currency: a user_wallet account of
// the ledger that can never go below zero (FlagNoOverdraft). Its id is the
// ledger account's, shown as wal_….
type Wallet struct {
	ID       int64
	UserID   int64
	Currency money.Currency
	// Hidden wallets are left off the home page while they hold nothing.
	Hidden bool
	// Posted is the settled balance; Available what can be spent
	// (Posted less money held for pending withdrawals); PendingOut the
	// money held; PendingIn money on its way in.
	Posted     money.Amount
	Available  money.Amount
	PendingOut money.Amount
	PendingIn  money.Amount
	CreatedAt  time.Time
}

// Ref is the wallet's id as the API shows it (wal_…).
func (w *Wallet) Ref() string { return ids.Format(WalletPrefix, w.ID) }

// Empty reports whether the wallet holds nothing, settled or pending.
func (w *Wallet) Empty() bool {
	return w.Posted.Minor == 0 && w.PendingOut.Minor == 0 && w.PendingIn.Minor == 0
}

// Shown reports whether the home page lists the wallet: a wallet is
// hidden only while it is empty. Money that reaches a hidden wallet (a
// payment, a returned withdrawal) shows it again at once, so a customer
// never has funds they cannot see; hiding it again needs it emptied.
func (w *Wallet) Shown() bool { return !w.Hidden || !w.Empty() }

// Ledger account codes of the wallets and system accounts. System
// accounts are per currency: the code is the name, ':', the currency.
const (
	SysFeeRevenue  = "fees:revenue"         // fees earned
	SysFeePending  = "fees:pending"         // fees of held withdrawals
	SysSuspense    = "suspense"             // money whose owner is unclear
	SysWithdrawals = "clearing:withdrawals" // withdrawals held for review and payout
	SysFXLiquidity = "fx:liquidity"         // the house's side of exchanges
	// SysExternal + provider: money at a payment provider (external:sandbox:USD).
	SysExternal = "external"
	// systemOwner owns the system accounts.
	systemOwner = "okpay"
)

var systemKinds = map[string]ledger.Kind{
	SysFeeRevenue:  ledger.KindFees,
	SysFeePending:  ledger.KindFees,
	SysSuspense:    ledger.KindSuspense,
	SysWithdrawals: ledger.KindClearing,
	SysFXLiquidity: ledger.KindFX,
}

// SystemAccount returns the id of the system account name (one of the Sys
// constants, or SysExternal+":"+provider) in currency c, creating it the
// first time (idempotently: accounts are found by their codes).
func (s *Service) SystemAccount(ctx context.Context, name string, c money.Currency) (int64, error) {
	code := name + ":" + string(c)
	s.mu.RLock()
	id, ok := s.system[code]
	s.mu.RUnlock()
	if ok {
		return id, nil
	}
	kind, ok := systemKinds[name]
	if !ok {
		if len(name) > len(SysExternal)+1 && name[:len(SysExternal)+1] == SysExternal+":" {
			kind = ledger.KindExternal
		} else {
			return 0, okpay.Errorf(okpay.EInvalid, "unknown system account %q", name)
		}
	}
	a, err := s.ledger.CreateAccount(ctx, ledger.AccountInput{Code: code, Owner: systemOwner, Currency: c, Kind: kind})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	if len(s.system) > maxCache {
		clear(s.system)
	}
	s.system[code] = a.ID
	s.mu.Unlock()
	return a.ID, nil
}

// externalAccount is the provider's settlement account in c.
func (s *Service) externalAccount(ctx context.Context, c money.Currency) (int64, error) {
	return s.SystemAccount(ctx, SysExternal+":"+s.psp.Name(), c)
}

func userOwner(userID int64) string { return ids.Format("usr", userID) }

// reservedCodes are the prefixes of the codes of the accounts the wallet
// opens: customers' wallets and the system accounts.
var reservedCodes = []string{"wallet:", "fees:", "suspense:", "clearing:", "fx:", SysExternal + ":"}

// KeepsAccount reports whether an account of this owner, or with this
// code, is (or would be) one the wallet keeps: a customer's wallet or a
// system account. Other programs (the raw ledger API) must keep off them:
// money moved there skips the wallet's rules and its history, and an
// account opened under one of its codes would stop the wallet opening
// its own.
func KeepsAccount(owner, code string) bool {
	if owner == systemOwner || strings.HasPrefix(owner, "usr_") {
		return true
	}
	for _, p := range reservedCodes {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return false
}

// walletAccount returns the account of userID's wallet in c, opening the
// wallet when it does not exist yet.
func (s *Service) walletAccount(ctx context.Context, userID int64, c money.Currency) (int64, error) {
	k := walletKey{userID, c}
	s.mu.RLock()
	id, ok := s.wallets[k]
	s.mu.RUnlock()
	if ok {
		return id, nil
	}
	err := s.db.Read.QueryRowContext(ctx, `SELECT account_id FROM wallets WHERE user_id = $1 AND currency = $2`, userID, string(c)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		id, err = s.openWallet(ctx, userID, c)
	}
	if err != nil {
		return 0, okpay.Internal(err, "find wallet")
	}
	s.mu.Lock()
	if len(s.wallets) > maxCache {
		clear(s.wallets)
	}
	s.wallets[k] = id
	s.mu.Unlock()
	return id, nil
}

// openWallet creates the ledger account (found by its code if a previous
// attempt made it) and the wallet row.
func (s *Service) openWallet(ctx context.Context, userID int64, c money.Currency) (int64, error) {
	a, err := s.ledger.CreateAccount(ctx, ledger.AccountInput{
		Code: "wallet:" + itoa(userID) + ":" + string(c), Owner: userOwner(userID), Currency: c,
		Kind: ledger.KindUserWallet, Flags: ledger.FlagNoOverdraft,
	})
	if err != nil {
		return 0, err
	}
	now := micros(s.now())
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO wallets (account_id, user_id, currency, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (user_id, currency) DO NOTHING`, a.ID, userID, string(c), now); err != nil {
		return 0, err
	}
	return a.ID, nil
}

// OpenWallet opens userID's wallet in c (or shows it again if hidden) and
// returns it.
func (s *Service) OpenWallet(ctx context.Context, userID int64, c money.Currency) (*Wallet, error) {
	if err := s.checkCurrency(c); err != nil {
		return nil, err
	}
	if _, err := s.walletAccount(ctx, userID, c); err != nil {
		return nil, err
	}
	if err := s.setHidden(ctx, userID, c, false); err != nil {
		return nil, err
	}
	return s.FindWallet(ctx, userID, c)
}

// HideWallet hides userID's wallet in c from the home page. Only an empty
// wallet can be hidden (EWalletNotEmpty otherwise); see Wallet.Shown.
func (s *Service) HideWallet(ctx context.Context, userID int64, c money.Currency) error {
	w, err := s.FindWallet(ctx, userID, c)
	if err != nil {
		return err
	}
	if !w.Empty() {
		return okpay.Errorf(EWalletNotEmpty, "Only an empty wallet can be hidden: this one holds %s.", w.Posted.String()+" "+string(c))
	}
	return s.setHidden(ctx, userID, c, true)
}

// ShowWallet shows a hidden wallet again.
func (s *Service) ShowWallet(ctx context.Context, userID int64, c money.Currency) error {
	if _, err := s.FindWallet(ctx, userID, c); err != nil {
		return err
	}
	return s.setHidden(ctx, userID, c, false)
}

func (s *Service) setHidden(ctx context.Context, userID int64, c money.Currency, hidden bool) error {
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE wallets SET hidden = $1, updated_at = $2 WHERE user_id = $3 AND currency = $4`,
		boolInt(hidden), micros(s.now()), userID, string(c)); err != nil {
		return okpay.Internal(err, "update wallet")
	}
	return nil
}

// FindWallet returns userID's wallet in c with its balances (ENotFound
// when it was never opened).
func (s *Service) FindWallet(ctx context.Context, userID int64, c money.Currency) (*Wallet, error) {
	ws, err := s.Wallets(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.Currency == c {
			return w, nil
		}
	}
	return nil, okpay.Errorf(okpay.ENotFound, "You have no %s wallet.", string(c))
}

// Wallets returns userID's wallets with their balances, hidden ones
// included (see Wallet.Shown), in the order of the configured currencies.
func (s *Service) Wallets(ctx context.Context, userID int64) ([]*Wallet, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT account_id, currency, hidden, created_at FROM wallets WHERE user_id = $1`, userID)
	if err != nil {
		return nil, okpay.Internal(err, "list wallets")
	}
	byAcct := map[int64]*Wallet{}
	for rows.Next() {
		w := &Wallet{UserID: userID}
		var cur string
		var hidden int
		var created int64
		if err := rows.Scan(&w.ID, &cur, &hidden, &created); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "list wallets")
		}
		w.Currency, w.Hidden, w.CreatedAt = money.Currency(cur), hidden != 0, fromMicros(created)
		byAcct[w.ID] = w
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list wallets")
	}
	if len(byAcct) == 0 {
		return nil, nil
	}
	accts, _, err := s.ledger.FindAccounts(ctx, ledger.AccountFilter{Owner: userOwner(userID), Limit: 100})
	if err != nil {
		return nil, err
	}
	for _, a := range accts {
		if w := byAcct[a.ID]; w != nil {
			b := a.Balance
			w.Posted = money.New(b.Posted(), w.Currency)
			w.Available = money.New(b.Available(), w.Currency)
			w.PendingOut = money.New(b.PendingDebits, w.Currency)
			w.PendingIn = money.New(b.PendingCredits, w.Currency)
		}
	}
	out := make([]*Wallet, 0, len(byAcct))
	for _, w := range byAcct {
		if w.Available.Currency == "" { // no account read (cannot happen): zero balances
			w.Posted, w.Available, w.PendingOut, w.PendingIn = money.New(0, w.Currency), money.New(0, w.Currency), money.New(0, w.Currency), money.New(0, w.Currency)
		}
		out = append(out, w)
	}
	order := func(c money.Currency) int {
		if i := slices.Index(s.cfg.Currencies, c); i >= 0 {
			return i
		}
		return len(s.cfg.Currencies)
	}
	slices.SortFunc(out, func(a, b *Wallet) int {
		if d := order(a.Currency) - order(b.Currency); d != 0 {
			return d
		}
		if a.Currency < b.Currency {
			return -1
		}
		if a.Currency > b.Currency {
			return 1
		}
		return 0
	})
	return out, nil
}

// ResolveWallet returns the owner of wallet wal_… (for paying by wallet
// id); ENotFound when there is none.
func (s *Service) ResolveWallet(ctx context.Context, ref string) (userID int64, c money.Currency, err error) {
	id, ok := ids.Parse(WalletPrefix, ref)
	if !ok {
		return 0, "", okpay.Invalid(map[string]string{"payee": "Enter a wallet id like wal_0d4m8y2k3q1ag."})
	}
	var cur string
	err = s.db.Read.QueryRowContext(ctx, `SELECT user_id, currency FROM wallets WHERE account_id = $1`, id).Scan(&userID, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", okpay.Errorf(okpay.ENotFound, "There is no such wallet.")
	}
	if err != nil {
		return 0, "", okpay.Internal(err, "find wallet")
	}
	return userID, money.Currency(cur), nil
}
