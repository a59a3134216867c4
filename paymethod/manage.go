package paymethod

import (
	"context"
	"database/sql"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/psp"
)

// Delete removes one of the user's methods (CRD-08). It needs a recent
// second factor (EStepUpRequired) and is refused while a payout to the
// method is executing (EMethodInUse). The method is kept, marked deleted,
// with its label, last4 and fingerprint (for disputes and the risk
// rules); its sealed IBAN or account id is erased. The owner is notified.
// Deleting a deleted method does nothing; another user's is ENotFound.
func (s *Service) Delete(ctx context.Context, userID, methodID int64, stepUp time.Time) error {
	if err := s.checkStepUp(stepUp); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := s.load(ctx, tx, userID, methodID, true)
		if err != nil {
			return err
		}
		if r.Deleted() {
			return nil
		}
		if s.d.InUse != nil {
			busy, err := s.d.InUse.PayoutsExecuting(ctx, tx, r.ID)
			if err != nil {
				return okpay.Internal(err, "check payouts in progress")
			}
			if busy {
				return okpay.Errorf(EMethodInUse, "A payout to this method is in progress: you can delete it once the payout is finished.")
			}
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE payment_methods SET deleted_at = $1, is_default = 0, updated_at = $1 WHERE id = $2`, now, r.ID); err != nil {
			return okpay.Internal(err, "delete payment method")
		}
		switch r.Kind {
		case KindBankAccount:
			_, err = tx.ExecContext(ctx, `UPDATE payment_bank_accounts SET iban_sealed = NULL WHERE method_id = $1`, r.ID)
		case KindEWallet:
			_, err = tx.ExecContext(ctx, `UPDATE payment_ewallets SET account_sealed = NULL WHERE method_id = $1`, r.ID)
		}
		if err != nil {
			return okpay.Internal(err, "erase account")
		}
		return s.notify(ctx, tx, r, NoteRemoved, nil)
	})
}

// SetDefault makes a verified method the user's default (the one payouts
// offer first). Another user's method is ENotFound; a deleted one
// EMethodDeleted; one that is not verified ENotVerified.
func (s *Service) SetDefault(ctx context.Context, userID, methodID int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := s.load(ctx, tx, userID, methodID, true)
		if err != nil {
			return err
		}
		switch {
		case r.Deleted():
			return okpay.Errorf(EMethodDeleted, "This payment method was deleted.")
		case r.Status != StatusVerified:
			return okpay.Errorf(ENotVerified, "Only a verified payment method can be the default one.")
		case r.Default:
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payment_methods SET is_default = 0 WHERE user_id = $1 AND is_default = 1`, userID); err != nil {
			return okpay.Internal(err, "clear default method")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payment_methods SET is_default = 1, updated_at = $1 WHERE id = $2`, micros(s.now()), r.ID); err != nil {
			return okpay.Internal(err, "set default method")
		}
		return nil
	})
}

// ForPayout returns where a payout to one of the user's methods goes, for
// the wallet to call inside the transaction that starts the payout (or
// with tx nil to check beforehand). It fails with ENotFound (no such
// method of this user), EMethodDeleted, ENotVerified, ECardExpired, or a
// *HoldError
// (code EMethodHold, with the hold's end) while the method is younger than
// the payout hold (RSK-02, CRD-06). The account-level gate (freeze,
// holds) is identity's CanMoveMoneyOut, which the wallet calls too.
func (s *Service) ForPayout(ctx context.Context, tx *sql.Tx, userID, methodID int64) (psp.Destination, *Method, error) {
	var none psp.Destination
	r, err := s.load(ctx, s.querier(tx), userID, methodID, false)
	if err != nil {
		return none, nil, err
	}
	switch {
	case r.Deleted():
		return none, nil, okpay.Errorf(EMethodDeleted, "This payout method was deleted: choose another one.")
	case r.Status != StatusVerified:
		return none, nil, okpay.Errorf(ENotVerified, "This payout method is not verified yet: finish its verification first.")
	case s.now().Before(r.HoldUntil):
		return none, nil, &HoldError{Until: r.HoldUntil}
	case r.Kind == KindCard && s.cardExpired(r.Card):
		return none, nil, okpay.Errorf(ECardExpired, "This card has expired: choose another payout method.")
	}
	d := psp.Destination{}
	switch r.Kind {
	case KindCard:
		d = psp.Destination{Kind: psp.DestCard, Token: r.token}
	case KindBankAccount:
		iban, err := s.d.Sealer.Open(r.sealed, aad(KindBankAccount, r.ID))
		if err != nil {
			return none, nil, okpay.Internal(err, "open IBAN")
		}
		d = psp.Destination{Kind: psp.DestBankAccount, IBAN: string(iban), Holder: r.Bank.Holder}
	case KindEWallet:
		acc, err := s.d.Sealer.Open(r.sealed, aad(KindEWallet, r.ID))
		if err != nil {
			return none, nil, okpay.Internal(err, "open e-wallet account")
		}
		d = psp.Destination{Kind: psp.DestEWallet, Provider: r.EWallet.Provider, Account: string(acc)}
	}
	return d, s.public(r), nil
}
