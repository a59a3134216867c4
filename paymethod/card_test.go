package paymethod_test

import (
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// A card goes from pending to verified on the provider's webhook; the
// owner hears of the addition and of the verification; the card is shown
// as brand •••• last4 (CRD-03); a payout to it waits for the 24 h hold
// (RSK-02), to the microsecond.
func TestCRD04_AddCardVerifiedByWebhook(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		added := e.clock.Now()
		m := e.addCard(u, "4242 4242 4242 4242")
		// Pending, unless the sandbox's webhook already came back while
		// AddCard was finishing (a loaded machine).
		if (m.Status != paymethod.StatusPending && m.Status != paymethod.StatusVerified) || m.Kind != paymethod.KindCard {
			t.Fatalf("after AddCard: %s %s", m.Kind, m.Status)
		}
		if m.Label != "visa •••• 4242" || m.Card == nil || m.Card.Brand != "visa" || m.Card.Last4 != "4242" || m.Card.ExpMonth != 12 || m.Card.ExpYear != 2030 {
			t.Fatalf("card facts: %q %+v", m.Label, m.Card)
		}
		if !m.HoldUntil.Equal(added.Add(24*time.Hour)) || m.Shared || m.Provider != "sandbox" {
			t.Fatalf("hold %v shared %v provider %q", m.HoldUntil, m.Shared, m.Provider)
		}
		if !strings.HasPrefix(m.PublicID(), "pm_") {
			t.Fatalf("public id %q", m.PublicID())
		}
		if id, ok := paymethod.ParseID(m.PublicID()); !ok || id != m.ID {
			t.Fatalf("ParseID(%q) = %d, %v", m.PublicID(), id, ok)
		}
		v := e.waitStatus(u, m.ID, paymethod.StatusVerified)
		if v.VerifiedAt.IsZero() || v.FailureCode != "" {
			t.Fatalf("verified: %+v", v)
		}
		ev := e.waitEvents(e.reference(m.ID), 1)
		if len(ev) != 1 || ev[0].Type != psp.EventChargeSucceeded {
			t.Fatalf("events: %+v", ev)
		}
		if got := e.kinds(u); !slices.Equal(got, []string{paymethod.NoteAdded, paymethod.NoteVerified}) {
			t.Fatalf("notifications %v", got)
		}
		list, err := e.svc.List(e.ctx, u)
		if err != nil || len(list) != 1 || list[0].ID != m.ID {
			t.Fatalf("List: %v %v", list, err)
		}

		// RSK-02, CRD-06: the 24 h hold, exactly.
		_, _, err = e.svc.ForPayout(e.ctx, nil, u, m.ID)
		wantCode(t, err, paymethod.EMethodHold)
		var hold *paymethod.HoldError
		if !errors.As(err, &hold) || !hold.Until.Equal(added.Add(24*time.Hour)) {
			t.Fatalf("hold error %v", err)
		}
		if !strings.Contains(okpay.ErrorMessage(err), hold.Until.Format("2006-01-02 15:04 UTC")) {
			t.Fatalf("message %q lacks the hold end", okpay.ErrorMessage(err))
		}
		e.clock.Set(added.Add(24*time.Hour - time.Microsecond))
		_, _, err = e.svc.ForPayout(e.ctx, nil, u, m.ID)
		wantCode(t, err, paymethod.EMethodHold)
		e.clock.Set(added.Add(24 * time.Hour))
		err = e.db.InTx(e.ctx, func(tx *sql.Tx) error {
			d, pm, err := e.svc.ForPayout(e.ctx, tx, u, m.ID)
			if err != nil {
				return err
			}
			var token string
			if err := tx.QueryRowContext(e.ctx, `SELECT psp_token FROM payment_cards WHERE method_id = $1`, m.ID).Scan(&token); err != nil {
				return err
			}
			if d.Kind != psp.DestCard || d.Token != token || !strings.HasPrefix(token, "tok_") || pm.ID != m.ID {
				t.Errorf("destination %+v (token %q)", d, token)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("ForPayout at exactly 24 h: %v", err)
		}
		// Deposits need no hold, only a verified card.
		tok, _, err := e.svc.ForCharge(e.ctx, nil, u, m.ID)
		if err != nil || !strings.HasPrefix(tok, "tok_") {
			t.Fatalf("ForCharge: %q %v", tok, err)
		}
		// Another customer cannot use or see it (BOLA).
		other := e.user()
		_, _, err = e.svc.ForPayout(e.ctx, nil, other, m.ID)
		wantCode(t, err, okpay.ENotFound)
		_, err = e.svc.Get(e.ctx, other, m.ID)
		wantCode(t, err, okpay.ENotFound)
	})
}

// A declined card fails on the webhook and may be added again; the third
// failure of the same card in 24 hours stops further tries (CRD-04).
func TestCRD04_DeclinedCard(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{MaxAddsPerDay: 10})
		u := e.user()
		for i := 0; i < 3; i++ {
			m := e.addCard(u, "4000000000000002")
			f := e.waitStatus(u, m.ID, paymethod.StatusFailed)
			if f.FailureCode != "card_declined" {
				t.Fatalf("failure code %q", f.FailureCode)
			}
			_, _, err := e.svc.ForPayout(e.ctx, nil, u, m.ID)
			wantCode(t, err, paymethod.ENotVerified)
			_, _, err = e.svc.ForCharge(e.ctx, nil, u, m.ID)
			wantCode(t, err, paymethod.ENotVerified)
		}
		if n := e.count(u, paymethod.NoteFailed); n != 3 {
			t.Fatalf("%d failure notifications, want 3", n)
		}
		_, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: e.token("4000000000000002"), StepUp: e.stepUp()})
		wantCode(t, err, paymethod.ERateLimited)
		// On another account too: the limit is per card.
		_, err = e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: e.user(), Token: e.token("4000000000000002"), StepUp: e.stepUp()})
		wantCode(t, err, paymethod.ERateLimited)
		e.clock.Advance(24*time.Hour + time.Second)
		e.addCard(u, "4000000000000002")
	})
}

// 3-D Secure: the method waits with the challenge's URL; passing it
// verifies the card, failing it fails the card.
func TestCRD04_ThreeDSecure(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		for _, pass := range []bool{true, false} {
			m := e.addCard(u, "4000 0000 0000 3220")
			if m.Status != paymethod.StatusRequiresAction || !strings.HasPrefix(m.ActionURL, "https://okpay.test/sandbox/3ds/ch_") {
				t.Fatalf("after AddCard: %s %q", m.Status, m.ActionURL)
			}
			chargeID := m.ActionURL[strings.LastIndexByte(m.ActionURL, '/')+1:]
			if _, err := e.sb.CompleteChallenge(e.ctx, chargeID, pass); err != nil {
				t.Fatal(err)
			}
			if pass {
				v := e.waitStatus(u, m.ID, paymethod.StatusVerified)
				if v.ActionURL != "" {
					t.Fatalf("a verified card keeps its challenge URL %q", v.ActionURL)
				}
				// Delete it so the same card can be added again.
				if err := e.svc.Delete(e.ctx, u, m.ID, e.stepUp()); err != nil {
					t.Fatal(err)
				}
			} else {
				f := e.waitStatus(u, m.ID, paymethod.StatusFailed)
				if f.FailureCode == "" {
					t.Fatal("no failure code")
				}
			}
		}
		// A challenge never completed fails the card after a day.
		m := e.addCard(u, "4000 0000 0000 3220")
		e.clock.Advance(24*time.Hour - time.Microsecond)
		if n, err := e.svc.ExpireStale(e.ctx, 0); err != nil || n != 0 {
			t.Fatalf("ExpireStale early: %d %v", n, err)
		}
		e.clock.Advance(time.Microsecond)
		if n, err := e.svc.ExpireStale(e.ctx, 0); err != nil || n != 1 {
			t.Fatalf("ExpireStale: %d %v", n, err)
		}
		if got, _ := e.svc.Get(e.ctx, u, m.ID); got.Status != paymethod.StatusFailed || got.FailureCode != paymethod.FailExpired || got.ActionURL != "" {
			t.Fatalf("abandoned challenge: %s %s %q", got.Status, got.FailureCode, got.ActionURL)
		}
	})
}

// CRD-07: the same card twice on one account is a duplicate; on another
// account it is accepted and both are flagged, and the accounts linked to
// the fingerprint are counted for the mule rule (RSK-04).
func TestCRD07_DuplicatesAndSharedCards(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		a, b, c := e.user(), e.user(), e.user()
		m := e.addVerifiedCard(a, "5555 5555 5555 4444")
		_, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: a, Token: e.token("5555555555554444"), StepUp: e.stepUp()})
		wantCode(t, err, paymethod.EDuplicateMethod)
		if n := e.count(a, paymethod.NoteAdded); n != 1 {
			t.Fatalf("%d added notifications after a duplicate", n)
		}

		mb := e.addCard(b, "5555-5555-5555-4444")
		if !mb.Shared {
			t.Fatal("the card on a second account is not flagged")
		}
		if ma, _ := e.svc.Get(e.ctx, a, m.ID); !ma.Shared {
			t.Fatal("the first account's card is not flagged")
		}
		n, err := e.svc.AccountsForFingerprint(e.ctx, nil, m.Fingerprint)
		if err != nil || n != 2 {
			t.Fatalf("AccountsForFingerprint = %d, %v", n, err)
		}
		e.addCard(c, "5555555555554444")
		users, err := e.svc.UsersForFingerprint(e.ctx, nil, m.Fingerprint)
		if err != nil || !slices.Equal(users, sortedIDs(a, b, c)) {
			t.Fatalf("UsersForFingerprint = %v, %v", users, err)
		}
		// A deleted card still links its account (disputes, risk) and may
		// be added again.
		if err := e.svc.Delete(e.ctx, a, m.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.svc.AccountsForFingerprint(e.ctx, nil, m.Fingerprint); n != 3 {
			t.Fatalf("after delete: %d accounts", n)
		}
		e.addCard(a, "5555555555554444")
	})
}

func sortedIDs(ids ...int64) []int64 {
	slices.Sort(ids)
	return ids
}

// CRD-05: the optional statement code. The right code verifies the card;
// wrong ones count down, the fifth disables it.
func TestCRD05_StatementCode(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{StatementCode: true})
		u := e.user()
		m := e.addCard(u, "4242424242424242")
		w := e.waitStatus(u, m.ID, paymethod.StatusAwaitingCode)
		if w.AttemptsLeft != 5 {
			t.Fatalf("attempts left %d", w.AttemptsLeft)
		}
		code := e.statementCode(m.ID)
		if len(code) != 4 {
			t.Fatalf("statement code %q", code)
		}
		// Only a hash of the code is stored.
		var mac []byte
		if err := db.Read.QueryRowContext(e.ctx, `SELECT code_mac FROM payment_methods WHERE id = $1`, m.ID).Scan(&mac); err != nil || len(mac) != 32 || strings.Contains(string(mac), code) {
			t.Fatalf("code_mac %x, %v", mac, err)
		}
		_, err := e.svc.ConfirmStatementCode(e.ctx, u, m.ID, "12a4")
		wantCode(t, err, okpay.EInvalid)
		for left := 4; left >= 3; left-- {
			_, err := e.svc.ConfirmStatementCode(e.ctx, u, m.ID, wrongCode(code))
			wantCode(t, err, paymethod.EInvalidCode)
			var oe *okpay.Error
			if !errors.As(err, &oe) || oe.Fields["attempts_left"] != string(rune('0'+left)) {
				t.Fatalf("attempts left in %v", err)
			}
		}
		v, err := e.svc.ConfirmStatementCode(e.ctx, u, m.ID, " "+code+" ")
		if err != nil || v.Status != paymethod.StatusVerified {
			t.Fatalf("right code: %+v %v", v, err)
		}
		_, err = e.svc.ConfirmStatementCode(e.ctx, u, m.ID, code)
		wantCode(t, err, paymethod.ENoCodeExpected)

		// Five wrong codes disable the card.
		m2 := e.addCard(u, "6200000000000005")
		e.waitStatus(u, m2.ID, paymethod.StatusAwaitingCode)
		code2 := e.statementCode(m2.ID)
		for i := 0; i < 4; i++ {
			_, err := e.svc.ConfirmStatementCode(e.ctx, u, m2.ID, wrongCode(code2))
			wantCode(t, err, paymethod.EInvalidCode)
		}
		_, err = e.svc.ConfirmStatementCode(e.ctx, u, m2.ID, wrongCode(code2))
		wantCode(t, err, paymethod.ETooManyAttempts)
		d, _ := e.svc.Get(e.ctx, u, m2.ID)
		if d.Status != paymethod.StatusDisabled || d.FailureCode != paymethod.FailTooManyAttempts {
			t.Fatalf("after 5 wrong codes: %s %s", d.Status, d.FailureCode)
		}
		_, err = e.svc.ConfirmStatementCode(e.ctx, u, m2.ID, code2)
		wantCode(t, err, paymethod.ETooManyAttempts)
		// A disabled card is still on the account: adding it again is a
		// duplicate until it is deleted.
		_, err = e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: e.token("6200000000000005"), StepUp: e.stepUp()})
		wantCode(t, err, paymethod.EDuplicateMethod)
		if got := e.kinds(u); !slices.Equal(got, []string{paymethod.NoteAdded, paymethod.NoteVerified, paymethod.NoteAdded, paymethod.NoteFailed}) {
			t.Fatalf("notifications %v", got)
		}

		// An unconfirmed code expires after 75 days.
		e.clock.Advance(24 * time.Hour)
		m3 := e.addCard(u, "3566 0020 2036 0505")
		e.waitStatus(u, m3.ID, paymethod.StatusAwaitingCode)
		e.clock.Advance(75*24*time.Hour - time.Second)
		if n, err := e.svc.ExpireStale(e.ctx, 0); err != nil || n != 0 {
			t.Fatalf("ExpireStale before the end: %d %v", n, err)
		}
		e.clock.Advance(time.Second)
		_, err = e.svc.ConfirmStatementCode(e.ctx, u, m3.ID, e.statementCode(m3.ID))
		wantCode(t, err, paymethod.EVerificationExpired)
		x, _ := e.svc.Get(e.ctx, u, m3.ID)
		if x.Status != paymethod.StatusFailed || x.FailureCode != paymethod.FailExpired {
			t.Fatalf("expired: %s %s", x.Status, x.FailureCode)
		}
	})
}

// statementCode reads the code the sandbox put on the card statement.
func (e *env) statementCode(methodID int64) string {
	e.t.Helper()
	var code string
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT statement_code FROM psp_sandbox_charges WHERE reference = $1`, e.reference(methodID)).Scan(&code); err != nil {
		e.t.Fatal(err)
	}
	return code
}

func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// CRD-09: a webhook event delivered twice, an older event after a newer
// one, and a "pending" after a final status change nothing; events of
// other operations are left to other handlers.
func TestCRD09_EventsIdempotentAndForwardOnly(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		m := e.addVerifiedCard(u, "4242424242424242")
		ref := e.reference(m.ID)
		ev := e.waitEvents(ref, 1)[0]

		// The sandbox delivers the same event again: dropped as a replay.
		if err := e.sb.Redeliver(e.ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		e.waitEvents(ref, 2)
		apply := func(ev psp.Event) bool {
			t.Helper()
			var handled bool
			if err := db.InTx(e.ctx, func(tx *sql.Tx) error {
				var err error
				handled, err = e.svc.ApplyEvent(e.ctx, tx, ev)
				return err
			}); err != nil {
				t.Fatalf("ApplyEvent(%+v): %v", ev, err)
			}
			return handled
		}
		// A failure with a new id but older than the success: ignored.
		old := ev
		old.ID, old.Type, old.Status, old.Created, old.FailureCode = "evt_old", psp.EventChargeFailed, psp.StatusFailed, ev.Created.Add(-time.Second), "card_declined"
		if !apply(old) {
			t.Fatal("an event of a payment method was not handled")
		}
		// A newer pending event cannot move a final status back.
		late := ev
		late.ID, late.Status, late.Created, late.Type = "evt_late", psp.StatusPending, ev.Created.Add(time.Second), "charge.pending"
		apply(late)
		// Nor can a newer failure.
		fail := ev
		fail.ID, fail.Type, fail.Status, fail.Created = "evt_fail", psp.EventChargeFailed, psp.StatusFailed, ev.Created.Add(2*time.Second)
		apply(fail)
		apply(fail)
		got, _ := e.svc.Get(e.ctx, u, m.ID)
		if got.Status != paymethod.StatusVerified {
			t.Fatalf("status %s after stale, replayed and late events", got.Status)
		}
		if n := e.count(u, paymethod.NoteVerified); n != 1 {
			t.Fatalf("%d verified notifications", n)
		}
		// Another operation's event (a deposit) is not this package's.
		dep := ev
		dep.ID, dep.Reference = "evt_dep", "dep_123"
		if apply(dep) {
			t.Fatal("a deposit's event was taken")
		}
		unknown := ev
		unknown.ID, unknown.Reference = "evt_unknown", "pmv_0000000000000"
		if apply(unknown) {
			t.Fatal("an event of an unknown verification was taken")
		}
		if paymethod.OwnsReference("dep_1") || !paymethod.OwnsReference(ref) {
			t.Fatal("OwnsReference")
		}
	})
}

// Out of order from the start: the final event arrives before the
// provider's synchronous answer is recorded, which then changes nothing.
func TestCRD09_WebhookBeforeAnswer(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		m := e.addCard(u, "4000 0000 0000 3220") // requires_action, recorded
		ref := e.reference(m.ID)
		// A success event straight away (as if the challenge passed and the
		// webhook overtook everything), then a stale requires_action one.
		ok := psp.Event{ID: "evt_a", Type: psp.EventChargeSucceeded, Created: e.clock.Now(), Reference: ref, ObjectID: "ch_x", Status: psp.StatusSucceeded}
		stale := psp.Event{ID: "evt_b", Type: "charge.requires_action", Created: e.clock.Now().Add(time.Second), Reference: ref, ObjectID: "ch_x", Status: psp.StatusRequiresAction}
		for _, ev := range []psp.Event{ok, stale} {
			if err := db.InTx(e.ctx, func(tx *sql.Tx) error { _, err := e.svc.ApplyEvent(e.ctx, tx, ev); return err }); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := e.svc.Get(e.ctx, u, m.ID)
		if got.Status != paymethod.StatusVerified {
			t.Fatalf("status %s", got.Status)
		}
	})
}

// The expiry of a card is checked against the clock: a card that expired
// since it was tokenised is refused.
func TestAddCardExpired(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		c, err := e.sb.Tokenize(e.ctx, "4242424242424242", 12, 2026, "123")
		if err != nil {
			t.Fatal(err)
		}
		// A second token of the same card, for adding it again once
		// expired (the first is detached when the card is deleted).
		c2, err := e.sb.Tokenize(e.ctx, "4242424242424242", 12, 2026, "123")
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Set(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)) // still good on its last day
		m, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: c.Token, StepUp: e.stepUp()})
		if err != nil {
			t.Fatalf("last day of validity: %v", err)
		}
		e.waitStatus(u, m.ID, paymethod.StatusVerified)
		if tok, err := e.svc.DepositToken(e.ctx, u, m.ID); err != nil || tok != c.Token {
			t.Fatalf("DepositToken: %q %v", tok, err)
		}
		// Once expired, it can neither be charged nor paid out to.
		e.clock.Set(time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC))
		_, err = e.svc.DepositToken(e.ctx, u, m.ID)
		wantCode(t, err, paymethod.ECardExpired)
		_, _, err = e.svc.ForPayout(e.ctx, nil, u, m.ID)
		wantCode(t, err, paymethod.ECardExpired)
		if err := e.svc.Delete(e.ctx, u, m.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: c2.Token, StepUp: e.stepUp()})
		wantCode(t, err, paymethod.ECardExpired)
	})
}

// Input checks before anything is stored: a missing or unknown token, a
// card number where the token belongs (CRD-01), and no recent second
// factor (SES-08).
func TestAddCardRefusals(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		tok := e.token("4242424242424242")
		for _, tc := range []struct {
			name string
			in   paymethod.NewCard
			code string
		}{
			{"no step-up", paymethod.NewCard{UserID: u, Token: tok}, paymethod.EStepUpRequired},
			{"old step-up", paymethod.NewCard{UserID: u, Token: tok, StepUp: e.clock.Now().Add(-10*time.Minute - time.Microsecond)}, paymethod.EStepUpRequired},
			{"empty token", paymethod.NewCard{UserID: u, StepUp: e.stepUp()}, okpay.EInvalid},
			{"a PAN", paymethod.NewCard{UserID: u, Token: "4242 4242 4242 4242", StepUp: e.stepUp()}, okpay.EInvalid},
			{"unknown token", paymethod.NewCard{UserID: u, Token: "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa", StepUp: e.stepUp()}, psp.ETokenNotFound},
			{"no such user", paymethod.NewCard{UserID: 42, Token: tok, StepUp: e.stepUp()}, okpay.ENotFound},
		} {
			_, err := e.svc.AddCard(e.ctx, tc.in)
			if okpay.ErrorCode(err) != tc.code {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
			}
			if strings.Contains(okpay.ErrorMessage(err), "4242") {
				t.Errorf("%s: the message echoes the input: %q", tc.name, okpay.ErrorMessage(err))
			}
		}
		// Exactly 10 minutes is still inside the sudo window.
		if _, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: tok, StepUp: e.clock.Now().Add(-10 * time.Minute)}); err != nil {
			t.Fatalf("step-up 10 min ago: %v", err)
		}
		var n int
		if err := db.Read.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM payment_methods`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d methods stored, %v", n, err)
		}
	})
}

// CRD-04's account limits: 3 additions a day, 5 active cards.
func TestCRD04_Limits(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		cards := []string{"4242424242424242", "5555555555554444", "6200000000000005", "378282246310005", "3566002020360505", "4000000000000077"}
		for _, c := range cards[:3] {
			e.addCard(u, c)
		}
		_, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: e.token(cards[3]), StepUp: e.stepUp()})
		wantCode(t, err, paymethod.ERateLimited)
		e.clock.Advance(24*time.Hour + time.Second)
		for _, c := range cards[3:5] {
			e.addCard(u, c)
		}
		e.clock.Advance(24*time.Hour + time.Second)
		_, err = e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: e.token(cards[5]), StepUp: e.stepUp()})
		wantCode(t, err, paymethod.ETooManyMethods)
		// Other kinds have their own limits.
		if _, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: "DE89370400440532013000", Holder: "Erika Mustermann", StepUp: e.stepUp()}); err != nil {
			t.Fatal(err)
		}
	})
}

// NOT-02: the notification is written in the same transaction as the
// change: when it cannot be written, nothing is added or deleted.
func TestNOT02_NotificationInSameTransaction(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		m := e.addVerifiedCard(u, "4242424242424242")
		e.notes.mu.Lock()
		e.notes.fail = true
		e.notes.mu.Unlock()
		_, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: e.token("5555555555554444"), StepUp: e.stepUp()})
		wantCode(t, err, okpay.EInternal)
		wantCode(t, e.svc.Delete(e.ctx, u, m.ID, e.stepUp()), okpay.EInternal)
		list, _ := e.svc.List(e.ctx, u)
		if len(list) != 1 || list[0].ID != m.ID {
			t.Fatalf("after failed notifications: %d methods", len(list))
		}
	})
}

// SetDefault takes only a verified method, and one default at a time.
func TestSetDefault(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		a := e.addVerifiedCard(u, "4242424242424242")
		b := e.addVerifiedCard(u, "5555555555554444")
		p := e.addCard(u, "4000 0000 0000 3220")
		wantCode(t, e.svc.SetDefault(e.ctx, u, p.ID), paymethod.ENotVerified)
		wantCode(t, e.svc.SetDefault(e.ctx, e.user(), a.ID), okpay.ENotFound)
		for _, id := range []int64{a.ID, b.ID, b.ID} {
			if err := e.svc.SetDefault(e.ctx, u, id); err != nil {
				t.Fatal(err)
			}
			list, _ := e.svc.List(e.ctx, u)
			for _, m := range list {
				if m.Default != (m.ID == id) {
					t.Fatalf("default of %s is %v after SetDefault(%d)", m.Label, m.Default, id)
				}
			}
		}
		if err := e.svc.Delete(e.ctx, u, b.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.svc.SetDefault(e.ctx, u, b.ID), paymethod.EMethodDeleted)
		if err := e.svc.SetDefault(e.ctx, u, a.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// Concurrent requests cannot get around the rules: the same card added
// many times at once is added once, and many codes tried at once use no
// more than the allowed attempts.
func TestConcurrentAddsAndAttempts(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{MaxAddsPerDay: 20})
		u := e.user()
		const n = 8
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = e.token("4242424242424242")
		}
		codes := make(chan string, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(tok string) {
				defer wg.Done()
				_, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: u, Token: tok, StepUp: e.stepUp()})
				codes <- okpay.ErrorCode(err)
			}(tokens[i])
		}
		wg.Wait()
		close(codes)
		got := map[string]int{}
		for c := range codes {
			got[c]++
		}
		if got[""] != 1 || got[paymethod.EDuplicateMethod] != n-1 {
			t.Fatalf("concurrent adds: %v", got)
		}

		w, err := e.svc.AddEWallet(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "paypal", Account: "jane@example.com", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		wrong := wrongCode(e.ewalletCode(w.ID))
		results := make(chan string, 12)
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.svc.ConfirmEWalletCode(e.ctx, u, w.ID, wrong)
				results <- okpay.ErrorCode(err)
			}()
		}
		wg.Wait()
		close(results)
		got = map[string]int{}
		for c := range results {
			got[c]++
		}
		if got[paymethod.EInvalidCode] != 4 || got[paymethod.ETooManyAttempts] != 8 {
			t.Fatalf("concurrent codes: %v", got)
		}
		var attempts int
		if err := db.Read.QueryRowContext(e.ctx, `SELECT code_attempts FROM payment_methods WHERE id = $1`, w.ID).Scan(&attempts); err != nil || attempts != 5 {
			t.Fatalf("%d attempts recorded, %v", attempts, err)
		}
	})
}
