package wallet

import "github.com/okpay/okpay"

// Type is the kind of a transaction, from its owner's side.
type Type string

// Transaction types.
const (
	TypeDeposit     Type = "deposit"
	TypeTransferOut Type = "transfer_out"
	TypeTransferIn  Type = "transfer_in"
	TypeExchange    Type = "exchange"
	TypeRemittance  Type = "remittance"
	TypeWithdrawal  Type = "withdrawal"
)

// Types lists every type.
var Types = []Type{TypeDeposit, TypeTransferOut, TypeTransferIn, TypeExchange, TypeRemittance, TypeWithdrawal}

// Valid reports whether t is a known type.
func (t Type) Valid() bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

// Outgoing reports whether money leaves the owner's wallets in this type
// (an exchange moves it between two of them).
func (t Type) Outgoing() bool {
	return t == TypeTransferOut || t == TypeRemittance || t == TypeWithdrawal
}

// Status is where a transaction is in its life (TXN-03).
//
//	draft ──▶ awaiting_auth ──▶ authorized ──▶ executing ──▶ completed ──▶ reversed
//	  │             │               │    │          │
//	  │             │               │    └▶ pending_review ──▶ approved ──▶ executing
//	  │             │               │              │      └──▶ rejected
//	  └─────────────┴───────────────┴──────────────┴──▶ failed (also from approved, executing)
//
// A transaction starts as a draft. One that needs a second factor (a
// transfer above the step-up threshold or to a new payee, every
// withdrawal; a card deposit that needs 3-D Secure) waits in
// awaiting_auth until it is given; then it is authorized. A withdrawal
// then waits for review (pending_review; funds held) and is approved or
// rejected. executing is the final gate and the movement itself: a P2P
// transfer passes through it inside one database transaction, a deposit
// or a payout stays in it until the provider answers. completed,
// failed and rejected are final; only a completed transaction can be
// reversed later (a dispute).
type Status string

// Statuses.
const (
	StatusDraft         Status = "draft"
	StatusAwaitingAuth  Status = "awaiting_auth"
	StatusAuthorized    Status = "authorized"
	StatusPendingReview Status = "pending_review"
	StatusApproved      Status = "approved"
	StatusExecuting     Status = "executing"
	StatusCompleted     Status = "completed"
	StatusFailed        Status = "failed"
	StatusRejected      Status = "rejected"
	StatusReversed      Status = "reversed"
)

// Statuses lists every status.
var Statuses = []Status{StatusDraft, StatusAwaitingAuth, StatusAuthorized, StatusPendingReview, StatusApproved,
	StatusExecuting, StatusCompleted, StatusFailed, StatusRejected, StatusReversed}

// transitions is the state machine: the statuses each status may move to
// in one step.
var transitions = map[Status][]Status{
	StatusDraft:         {StatusAwaitingAuth, StatusAuthorized, StatusFailed},
	StatusAwaitingAuth:  {StatusAuthorized, StatusFailed},
	StatusAuthorized:    {StatusPendingReview, StatusExecuting, StatusFailed},
	StatusPendingReview: {StatusApproved, StatusRejected, StatusFailed},
	StatusApproved:      {StatusExecuting, StatusFailed},
	StatusExecuting:     {StatusCompleted, StatusFailed},
	StatusCompleted:     {StatusReversed},
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, x := range Statuses {
		if x == s {
			return true
		}
	}
	return false
}

// CanTransition reports whether a transaction may move from one status to
// the other in one step.
func CanTransition(from, to Status) bool {
	for _, x := range transitions[from] {
		if x == to {
			return true
		}
	}
	return false
}

// CanReach reports whether to can follow from in one or more legal
// steps: an event that skips steps (a provider's "succeeded" for a
// deposit still in draft, because its webhook overtook the provider's
// answer) is applied only along a legal path.
func CanReach(from, to Status) bool {
	seen := map[Status]bool{from: true}
	next := []Status{from}
	for len(next) > 0 {
		s := next[0]
		next = next[1:]
		for _, x := range transitions[s] {
			if x == to {
				return true
			}
			if !seen[x] {
				seen[x] = true
				next = append(next, x)
			}
		}
	}
	return false
}

// Final reports whether the transaction's money has settled: completed
// (which a dispute may still reverse), failed, rejected or reversed.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusRejected || s == StatusReversed
}

// open lists, as SQL, the statuses that are not final.
const openStatuses = `('draft','awaiting_auth','authorized','pending_review','approved','executing')`

// checkTransition returns EIllegalTransition for a move the state machine
// does not allow.
func checkTransition(from, to Status) error {
	if !CanReach(from, to) {
		return okpay.Errorf(EIllegalTransition, "A transaction cannot go from %s to %s.", from, to)
	}
	return nil
}
