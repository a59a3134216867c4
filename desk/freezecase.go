package desk

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
)

// Support cases opened by an account freeze (SECURITY.md RSK-04: "a freeze
// does all of: … and open a support case"). The freeze runs them inside
// its own transaction (identity.Service.OnFreeze), so the case commits or
// rolls back with the freeze. A case is a security conversation of the
// customer, high priority, routed to the security team, marked in
// desk_channel_meta (name caseOriginMeta, value caseOriginFreeze) as
// opened by a freeze.
//
// No live event is published: the freeze's transaction belongs to the
// caller and the bus cannot wait for its commit, and publishing before the
// commit could announce a case that rolls back. Agents see the case in the
// inbox on its next load (and in the security team's queue).

const (
	caseOriginMeta   = "opened_by"
	caseOriginFreeze = "freeze"
)

// CaseInput describes the support case of a freeze.
type CaseInput struct {
	// CustomerID is the frozen account's user id.
	CustomerID int64
	// FreezeKey identifies the freeze event (e.g. the freeze's time):
	// opening the case again with the same key adds nothing.
	FreezeKey string
	// Reason is why the account was frozen (a rule id, "self:…", a
	// staff reason): it goes to an internal note customers never see.
	Reason string
	// Subject and CustomerMessage are what the customer sees, in their
	// language (Lang), written by the caller.
	Subject         string
	CustomerMessage string
	Lang            i18n.Lang
}

// OpenCaseTx opens, inside tx, the support case of a freeze of
// in.CustomerID, or reuses the customer's open case opened by an earlier
// freeze (any status but resolved or closed): a conversation of category
// security_privacy, priority high, team security, with an internal note
// of the reason and, when new, a message to the customer. It is idempotent
// per freeze: the same FreezeKey adds no second note. It publishes nothing
// (see above). It ignores Config.MaxOpenPerOwner: a freeze must not fail
// because the customer has chats open.
func (s *Service) OpenCaseTx(ctx context.Context, tx *sql.Tx, in CaseInput) (int64, error) {
	if in.CustomerID <= 0 || in.FreezeKey == "" {
		return 0, okpay.Invalid(map[string]string{"customer_id": "Say whose account was frozen and which freeze."})
	}
	if in.Lang == "" {
		in.Lang = i18n.Default
	}
	if _, ok := i18n.ParseLang(string(in.Lang)); !ok {
		in.Lang = i18n.Default
	}
	subject := CleanLine(in.Subject)
	if r := []rune(subject); len(r) > s.cfg.MaxSubjectRunes {
		subject = string(r[:s.cfg.MaxSubjectRunes])
	}
	now := s.Clock.Now()
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT c.id FROM desk_conversations c
		JOIN desk_channel_meta m ON m.conversation_id = c.id AND m.name = $2 AND m.value = $3
		WHERE c.customer_id = $1 AND c.visitor_id = '' AND c.status NOT IN ('resolved', 'closed')
		ORDER BY c.id DESC LIMIT 1`+s.DB.ForUpdate(), in.CustomerID, caseOriginMeta, caseOriginFreeze).Scan(&id)
	created := false
	switch {
	case errors.Is(err, sql.ErrNoRows):
		id = s.IDs.Next()
		created = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_conversations
			(id, channel, category, priority, status, subject, lang, customer_id, visitor_id, start_key, team, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, '', $8, $9, $10, $10)`,
			id, ChannelChat, CategorySecurityPrivacy, PriorityHigh, subject, string(in.Lang), in.CustomerID,
			"freeze:"+in.FreezeKey, TeamSecurity, micros(now)); err != nil {
			return 0, okpay.Internal(err, "open support case")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_channel_meta (conversation_id, channel, name, value) VALUES ($1, $2, $3, $4)`,
			id, ChannelChat, caseOriginMeta, caseOriginFreeze); err != nil {
			return 0, okpay.Internal(err, "open support case")
		}
		if err := s.record(ctx, tx, id, System, "created", "freeze case "+string(CategorySecurityPrivacy), now); err != nil {
			return 0, okpay.Internal(err, "open support case")
		}
	case err != nil:
		return 0, okpay.Internal(err, "find support case")
	}
	if !created {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_messages WHERE conversation_id = $1 AND idem_key = $2`,
			id, "freeze-note:"+in.FreezeKey).Scan(&n); err != nil {
			return 0, okpay.Internal(err, "find case note")
		}
		if n > 0 {
			return id, nil // this freeze is on the case already
		}
	}
	note := "Account frozen (" + in.Reason + "). Support case opened by the freeze; the customer cannot see this note."
	if !created {
		note = "Account frozen again (" + in.Reason + "). This open freeze case was reused."
	}
	d, err := s.draft(System, MessageInput{Body: note, Internal: true, IdempotencyKey: "freeze-note:" + in.FreezeKey})
	if err != nil {
		return 0, err
	}
	if _, _, err := s.insertMessage(ctx, tx, id, System, d, now); err != nil {
		return 0, okpay.Internal(err, "write case note")
	}
	if created && in.CustomerMessage != "" {
		d, err := s.draft(System, MessageInput{Body: in.CustomerMessage, IdempotencyKey: "freeze-msg:" + in.FreezeKey})
		if err != nil {
			return 0, err
		}
		if _, _, err := s.insertMessage(ctx, tx, id, System, d, now); err != nil {
			return 0, okpay.Internal(err, "write case message")
		}
	}
	return id, nil
}

// FreezeKey formats a freeze's time (in Unix microseconds) as a CaseInput.FreezeKey.
func FreezeKey(userID, frozenAtMicros int64) string {
	return strconv.FormatInt(userID, 10) + ":" + strconv.FormatInt(frozenAtMicros, 10)
}
