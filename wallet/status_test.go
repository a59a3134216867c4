package wallet_test

import (
	"testing"

	"github.com/okpay/okpay/wallet"
)

// TestTXN03_CanTransitionAllPairs checks every (from, to) pair of
// statuses against the state machine written out by hand: draft →
// awaiting_auth → authorized → executing → completed | failed | reversed,
// with the withdrawal review in between.
func TestTXN03_CanTransitionAllPairs(t *testing.T) {
	allowed := map[[2]wallet.Status]bool{
		{wallet.StatusDraft, wallet.StatusAwaitingAuth}:       true,
		{wallet.StatusDraft, wallet.StatusAuthorized}:         true,
		{wallet.StatusDraft, wallet.StatusFailed}:             true,
		{wallet.StatusAwaitingAuth, wallet.StatusAuthorized}:  true,
		{wallet.StatusAwaitingAuth, wallet.StatusFailed}:      true,
		{wallet.StatusAuthorized, wallet.StatusExecuting}:     true,
		{wallet.StatusAuthorized, wallet.StatusPendingReview}: true,
		{wallet.StatusAuthorized, wallet.StatusFailed}:        true,
		{wallet.StatusPendingReview, wallet.StatusApproved}:   true,
		{wallet.StatusPendingReview, wallet.StatusRejected}:   true,
		{wallet.StatusPendingReview, wallet.StatusFailed}:     true,
		{wallet.StatusApproved, wallet.StatusExecuting}:       true,
		{wallet.StatusApproved, wallet.StatusFailed}:          true,
		{wallet.StatusExecuting, wallet.StatusCompleted}:      true,
		{wallet.StatusExecuting, wallet.StatusFailed}:         true,
		{wallet.StatusCompleted, wallet.StatusReversed}:       true,
	}
	if len(wallet.Statuses) != 10 {
		t.Fatalf("%d statuses; update this test's table", len(wallet.Statuses))
	}
	n := 0
	for _, from := range wallet.Statuses {
		for _, to := range wallet.Statuses {
			n++
			if got, want := wallet.CanTransition(from, to), allowed[[2]wallet.Status{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if n != 100 {
		t.Fatalf("checked %d pairs", n)
	}
	// Unknown statuses go nowhere.
	if wallet.CanTransition("bogus", wallet.StatusFailed) || wallet.CanTransition(wallet.StatusDraft, "bogus") {
		t.Error("an unknown status has a transition")
	}
}

// TestTXN03_FinalStatusesStay: nothing leaves failed, rejected or
// reversed; completed only to reversed (a dispute), and nothing returns to
// an earlier step.
func TestTXN03_FinalStatusesStay(t *testing.T) {
	for _, from := range []wallet.Status{wallet.StatusFailed, wallet.StatusRejected, wallet.StatusReversed} {
		if !from.Final() {
			t.Errorf("%s is not final", from)
		}
		for _, to := range wallet.Statuses {
			if wallet.CanReach(from, to) {
				t.Errorf("%s can reach %s", from, to)
			}
		}
	}
	if !wallet.CanReach(wallet.StatusDraft, wallet.StatusCompleted) || !wallet.CanReach(wallet.StatusAwaitingAuth, wallet.StatusCompleted) {
		t.Error("a deposit cannot reach completed along legal steps")
	}
	if wallet.CanReach(wallet.StatusCompleted, wallet.StatusExecuting) || wallet.CanReach(wallet.StatusExecuting, wallet.StatusDraft) {
		t.Error("a status moves backwards")
	}
	for _, s := range wallet.Statuses {
		if wallet.CanReach(s, s) {
			t.Errorf("%s reaches itself (a cycle)", s)
		}
	}
}
