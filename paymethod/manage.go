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
//
// After the deletion commits, a card is detached at the provider, so its
// token can never be charged or paid out to again; when the provider
// cannot be reached, DetachDeleted retries later (the deletion itself
// stands). A card's token is cleared once the provider has detached it.
func (s *Service) Delete(ctx context.Context, userID, methodID int64, stepUp time.Time) error {
	if err := s.checkStepUp(stepUp); err != nil {
		return err
	}
	token := ""
	err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		token = ""
		r, err := s.load(ctx, tx, userID, methodID, true)
		if err != nil {
			return err
		}
		if r.Kind == KindCard {
			token = r.token
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
	if err != nil {
		return err
	}
	if token != "" {
		// A failure is retried by DetachDeleted; the customer's deletion
		// is done either way.
		_ = s.detach(ctx, methodID, token)
	}
	return nil
}

// detach detaches a deleted card's token at the provider and, once the
// provider has done so (or does not know the token), clears it.
func (s *Service) detach(ctx context.Context, methodID int64, token string) error {
	err := s.d.Provider.Detach(ctx, token)
	if err != nil && okpay.ErrorCode(err) != psp.ETokenNotFound {
		return pspError(err, "card removal")
	}
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE payment_cards SET psp_token = '' WHERE method_id = $1 AND psp_token = $2`, methodID, token)
		if err != nil {
			return okpay.Internal(err, "clear detached token")
		}
		return nil
	})
}

// DetachDeleted detaches at the provider the deleted cards whose detach
// has not succeeded yet (CRD-08: retried on failure), up to limit of them
// (100 when limit <= 0), oldest deletion first. It returns how many it
// detached and the first error; run it from a periodic job.
func (s *Service) DetachDeleted(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.d.DB.Read.QueryContext(ctx, `SELECT m.id, c.psp_token FROM payment_methods m
		JOIN payment_cards c ON c.method_id = m.id
		WHERE m.deleted_at > 0 AND c.psp_token <> ''
		ORDER BY m.deleted_at, m.id LIMIT $1`, limit)
	if err != nil {
		return 0, okpay.Internal(err, "find cards to detach")
	}
	type due struct {
		id    int64
		token string
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.token); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "find cards to detach")
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "find cards to detach")
	}
	n := 0
	var first error
	for _, d := range list {
		if err := s.detach(ctx, d.id, d.token); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}

// SetDefault makes a verified method the user's default (the one payouts
// offer first). Another user's method is ENotFound; a deleted one
// EMethodDeleted; one that is not verified ENotVerified.
func (s *Service) SetDefault(ctx context.Context, userID, methodID int64) error {
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
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
//
// For a card it also asks the provider whether the card can receive
// payouts (CRD-06: payout_eligible is the provider's current answer, so
// a card whose issuer stopped accepting payouts is refused): not, or a
// token the provider no longer knows, is ENotPayoutEligible; a provider
// that cannot be reached is EUnavailable (try again later). This is a
// provider call, quick for the built-in sandbox (a read of its own
// table); with a remote provider prefer a check with tx nil before the
// payout's transaction, and again inside it.
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
	case r.Kind == KindCard:
		c, err := s.d.Provider.Card(ctx, r.token)
		switch {
		case okpay.ErrorCode(err) == psp.ETokenNotFound:
			return none, nil, okpay.Errorf(ENotPayoutEligible, "The payment provider no longer accepts this card: delete it and add it again.")
		case err != nil:
			return none, nil, pspError(err, "card payout check")
		case !c.PayoutEligible:
			return none, nil, okpay.Errorf(ENotPayoutEligible, "This card cannot receive payouts: choose another payout method.")
		}
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
