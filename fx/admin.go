package fx

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/money"
)

// Rates changed by people — an operator's rate on the staff page or the
// command line, an uploaded or imported file — are audited: the change and
// its record in the security audit log (package audit) commit in one
// transaction or not at all, as every other staff action does.

// Audit event names of rate administration.
const (
	EventRateSet       = "fx_rate_set"
	EventRatesImported = "fx_rates_imported"
)

// MaxReasonRunes bounds the reason given for a change (a rate's note is at
// most 200 characters, see SetRateInput).
const MaxReasonRunes = 200

// Change says who changes rates, why, and from where, for the audit log.
type Change struct {
	// Actor is who acts: an agent reference ("agt_…") or "cli:NAME" for
	// the command line; required, at most 100 characters.
	Actor string
	// Reason says why. SetRateAudited requires it (it is also the rate's
	// note); ImportAudited does not.
	Reason string
	// IP and RequestID locate the request (optional).
	IP, RequestID string
}

func (c Change) check(reasonRequired bool) error {
	fields := map[string]string{}
	if strings.TrimSpace(c.Actor) == "" || len(c.Actor) > 100 {
		fields["by"] = "Name the operator who changes the rates (at most 100 characters)."
	}
	switch n := len([]rune(strings.TrimSpace(c.Reason))); {
	case reasonRequired && n == 0:
		fields["reason"] = "Say why the rate changes: it is recorded in the audit log."
	case n > MaxReasonRunes:
		fields["reason"] = "The reason must be at most 200 characters."
	}
	if len(fields) > 0 {
		return okpay.Invalid(fields)
	}
	return nil
}

// SetRateAudited stores an operator's rate base→quote, valid from now (as
// SetRate does: By is c.Actor, Note is c.Reason), and appends an
// fx_rate_set event to the audit log in the same transaction: actor,
// subject "fx:BASE/QUOTE", reason, and the details pair, rate (exact),
// previous rate and its source ("" when the pair had none).
//
// Returns EInvalid for a bad pair or rate (fields base, quote, rate), a
// missing actor (by) or a missing or long reason (reason); EConflict when
// the same pair was set at the same microsecond.
func (s *Service) SetRateAudited(ctx context.Context, base, quote money.Currency, rate string, c Change) (*RateRecord, error) {
	// Every problem at once, for the form that shows them.
	fields := map[string]string{}
	for _, err := range []error{checkPair(base, quote), c.check(true)} {
		maps.Copy(fields, fieldsOf(err))
	}
	if _, msg := parseDecimal(rate); msg != "" {
		fields["rate"] = msg
	}
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	prev, err := s.History(ctx, Pair{base, quote}, 1)
	if err != nil {
		return nil, err
	}
	in := SetRateInput{Base: base, Quote: quote, Rate: rate, By: strings.TrimSpace(c.Actor), Note: strings.TrimSpace(c.Reason)}
	return s.setRate(ctx, in, func(tx *sql.Tx, rec *RateRecord) error {
		d := map[string]string{"pair": Pair{base, quote}.String(), "rate": rec.Rate.Exact(), "previous": "", "previous_source": ""}
		if len(prev) > 0 {
			d["previous"], d["previous_source"] = prev[0].Rate.Exact(), prev[0].Source
		}
		return s.audit(ctx, tx, audit.Event{At: rec.ImportedAt, Name: EventRateSet, Actor: in.By, Subject: "fx:" + Pair{base, quote}.String(),
			Reason: in.Note, IP: c.IP, RequestID: c.RequestID, Outcome: audit.Success, Details: d})
	})
}

// ImportAudited stores a parsed batch under source (see Import) and, when
// it stored at least one new rate, appends an fx_rates_imported event to
// the audit log in the same transaction: actor, subject "fx:SOURCE",
// reason, and the details source, inserted, unchanged, skipped, pairs (the
// pairs stored, comma-separated) and as_of (the latest as_of stored). An
// import that stores nothing new changes nothing and leaves no record.
//
// Returns EInvalid for a bad source, batch (see Import), actor (by) or a
// long reason (reason).
func (s *Service) ImportAudited(ctx context.Context, source string, b *Batch, c Change) (ImportResult, error) {
	if err := c.check(false); err != nil {
		return ImportResult{Skipped: b.Skipped}, err
	}
	actor, reason := strings.TrimSpace(c.Actor), strings.TrimSpace(c.Reason)
	return s.importBatch(ctx, source, b, func(tx *sql.Tx, res ImportResult) error {
		if res.Inserted == 0 {
			return nil
		}
		var pairs []string
		seen := map[Pair]bool{}
		var latest time.Time
		for _, o := range b.Rates {
			p := Pair{o.Rate.Base, o.Rate.Quote}
			if !seen[p] {
				seen[p] = true
				pairs = append(pairs, p.String())
			}
			if o.AsOf.After(latest) {
				latest = o.AsOf
			}
		}
		d := map[string]string{
			"source": source, "inserted": strconv.Itoa(res.Inserted), "unchanged": strconv.Itoa(res.Unchanged),
			"skipped": strconv.Itoa(len(res.Skipped)), "pairs": strings.Join(pairs, ","), "as_of": latest.UTC().Format(time.RFC3339),
		}
		return s.audit(ctx, tx, audit.Event{At: s.now(), Name: EventRatesImported, Actor: actor, Subject: "fx:" + source,
			Reason: reason, IP: c.IP, RequestID: c.RequestID, Outcome: audit.Success, Details: d})
	})
}

// ImportECBAudited parses an ECB reference-rate document (ParseECB; a
// malformed one is EInvalid, nothing stored) and stores it under SourceECB
// with ImportAudited.
func (s *Service) ImportECBAudited(ctx context.Context, r io.Reader, c Change) (ImportResult, error) {
	b, err := ParseECB(r)
	if err != nil {
		return ImportResult{}, okpay.Errorf(okpay.EInvalid, "%s", err.Error())
	}
	return s.ImportAudited(ctx, SourceECB, b, c)
}

// ImportFileAudited parses a rates file (ParseRatesFile; a malformed one
// is EInvalid, nothing stored) and stores it under SourceFile with
// ImportAudited.
func (s *Service) ImportFileAudited(ctx context.Context, r io.Reader, c Change) (ImportResult, error) {
	b, err := ParseRatesFile(r)
	if err != nil {
		return ImportResult{}, okpay.Errorf(okpay.EInvalid, "%s", err.Error())
	}
	return s.ImportAudited(ctx, SourceFile, b, c)
}

// RateStatus is a latest rate as the staff page shows it: how old it is
// and whether it is too old to price a quote.
type RateStatus struct {
	*RateRecord
	// Age is how long ago the rate became valid (0 for a rate dated
	// ahead of the clock).
	Age time.Duration
	// Stale: older than Config.MaxAge, so no quote uses it directly.
	Stale bool
}

// LatestStatus returns Latest with each rate's age and staleness, and the
// time they were measured at.
func (s *Service) LatestStatus(ctx context.Context) ([]RateStatus, time.Time, error) {
	recs, err := s.Latest(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := s.now()
	out := make([]RateStatus, len(recs))
	for i, r := range recs {
		age := max(now.Sub(r.AsOf), 0)
		out[i] = RateStatus{RateRecord: r, Age: age, Stale: age > s.cfg.MaxAge}
	}
	return out, now, nil
}

// fieldsOf returns the field messages of a validation error.
func fieldsOf(err error) map[string]string {
	var e *okpay.Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

func (s *Service) audit(ctx context.Context, tx *sql.Tx, ev audit.Event) error {
	if _, err := audit.Append(ctx, tx, s.db.Dialect, ev); err != nil {
		return okpay.Internal(err, "audit")
	}
	return nil
}
