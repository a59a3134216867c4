package desk

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Canned responses: texts agents insert into the reply composer by
// typing "/" and a shortcut ("/refund-time"). Each has a body per
// language; the console inserts the one of the conversation's language
// (the other when that one is empty). A response belongs to a team or
// is global (Team ""); a team's own response wins over a global one of
// the same shortcut for the team's members.
//
// Every change (create, edit, delete) is written to the audit log in the
// transaction of the change, with the agent, the request and the fields
// before and after (AUD-01).

// CannedPrefix is the public id prefix of a canned response.
const CannedPrefix = "cnd"

// ECannedShortcutTaken: another response of the same team has the
// shortcut.
const ECannedShortcutTaken = "canned_shortcut_taken"

// Limits of canned responses.
const (
	MaxCannedShortcut = 40
	MaxCannedTitle    = 100
	MaxCannedBody     = 5000
)

// Canned is a canned response.
type Canned struct {
	ID        int64
	Shortcut  string
	Title     string
	BodyEn    string
	BodyZh    string
	Team      string
	CreatedBy int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Ref is the response's public id.
func (c *Canned) Ref() string { return ids.Format(CannedPrefix, c.ID) }

// Body returns the body in lang, or in the other language when that one
// is empty.
func (c *Canned) Body(lang i18n.Lang) string {
	if lang == i18n.ZhCN {
		if c.BodyZh != "" {
			return c.BodyZh
		}
		return c.BodyEn
	}
	if c.BodyEn != "" {
		return c.BodyEn
	}
	return c.BodyZh
}

// ParseCannedRef reads a reference made by Canned.Ref.
func ParseCannedRef(s string) (int64, bool) {
	return ids.Parse(CannedPrefix, s)
}

// CannedInput is what an agent writes for a canned response.
type CannedInput struct {
	Shortcut string
	Title    string
	BodyEn   string
	BodyZh   string
	Team     string
}

// ValidShortcut reports whether s is a shortcut: 1 to 40 of a-z, 0-9 and
// "-", starting with a letter or digit.
func ValidShortcut(s string) bool {
	if s == "" || len(s) > MaxCannedShortcut || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// cleanCanned checks and cleans in.
func cleanCanned(in CannedInput) (CannedInput, error) {
	out := CannedInput{Shortcut: strings.ToLower(strings.TrimPrefix(strings.TrimSpace(in.Shortcut), "/")),
		Title: CleanLine(in.Title), BodyEn: CleanText(in.BodyEn), BodyZh: CleanText(in.BodyZh), Team: strings.TrimSpace(in.Team)}
	bad := map[string]string{}
	if !ValidShortcut(out.Shortcut) {
		bad["shortcut"] = "Use 1 to 40 lower-case letters, digits and dashes."
	}
	if out.Title == "" || runeLen(out.Title) > MaxCannedTitle {
		bad["title"] = "Give a title of at most 100 characters."
	}
	if out.BodyEn == "" && out.BodyZh == "" {
		bad["body_en"] = "Write the response in at least one language."
	}
	if runeLen(out.BodyEn) > MaxCannedBody {
		bad["body_en"] = "The response is too long."
	}
	if runeLen(out.BodyZh) > MaxCannedBody {
		bad["body_zh"] = "The response is too long."
	}
	if len(out.Team) > 64 {
		bad["team"] = "Choose a team."
	}
	if len(bad) > 0 {
		return out, okpay.Invalid(bad)
	}
	return out, nil
}

const cannedCols = `id, shortcut, title, body_en, body_zh, team, created_by, created_at, updated_at`

func scanCanned(row interface{ Scan(...any) error }) (*Canned, error) {
	var c Canned
	var created, updated int64
	if err := row.Scan(&c.ID, &c.Shortcut, &c.Title, &c.BodyEn, &c.BodyZh, &c.Team, &c.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

func cannedTaken() error {
	return okpay.Errorf(ECannedShortcutTaken, "Another response of this team has that shortcut.")
}

var errNoCanned = okpay.Errorf(okpay.ENotFound, "There is no such canned response.")

// Audit events of canned responses: the subject is the response's
// reference, the details its fields before and after ("before_title",
// "after_title", ...; an edit names the changed fields only).
const (
	EventCannedCreated = "canned_created"
	EventCannedUpdated = "canned_updated"
	EventCannedDeleted = "canned_deleted"
)

// StaffActor is the agent who changes the desk's settings (canned
// responses, SLA policies, capacities) and their request, as the audit
// log records them.
type StaffActor struct {
	AgentID   int64
	IP        string
	RequestID string
}

// cannedFields are a response's audited fields by name.
func cannedFields(c *Canned) map[string]string {
	if c == nil {
		return nil
	}
	return map[string]string{"shortcut": c.Shortcut, "title": c.Title, "body_en": c.BodyEn, "body_zh": c.BodyZh, "team": c.Team}
}

// auditCanned appends the event of a change from before to after (nil for
// none) of response id in tx.
func (s *Service) auditCanned(ctx context.Context, tx *sql.Tx, name string, by StaffActor, id int64, before, after *Canned, at time.Time) error {
	b, a := cannedFields(before), cannedFields(after)
	d := map[string]string{}
	for _, k := range []string{"shortcut", "title", "body_en", "body_zh", "team"} {
		if before != nil && after != nil && b[k] == a[k] {
			continue
		}
		if before != nil {
			d["before_"+k] = b[k]
		}
		if after != nil {
			d["after_"+k] = a[k]
		}
	}
	ev := audit.Event{At: at, Name: name, Actor: agent.Ref(by.AgentID), Subject: ids.Format(CannedPrefix, id), IP: by.IP,
		RequestID: by.RequestID, Outcome: audit.Success, Details: d}
	if _, err := audit.Append(ctx, tx, s.DB.Dialect, ev); err != nil {
		return okpay.Internal(err, "audit canned response")
	}
	return nil
}

// CreateCanned adds a canned response written by agent by.AgentID,
// audited in the same transaction.
func (s *Service) CreateCanned(ctx context.Context, by StaffActor, in CannedInput) (*Canned, error) {
	in, err := cleanCanned(in)
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	c := &Canned{ID: s.IDs.Next(), Shortcut: in.Shortcut, Title: in.Title, BodyEn: in.BodyEn, BodyZh: in.BodyZh, Team: in.Team,
		CreatedBy: by.AgentID, CreatedAt: now, UpdatedAt: now}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_canned (`+cannedCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.ID, c.Shortcut, c.Title, c.BodyEn, c.BodyZh, c.Team, c.CreatedBy, micros(now), micros(now)); err != nil {
			return err
		}
		return s.auditCanned(ctx, tx, EventCannedCreated, by, c.ID, nil, c, now)
	})
	if err != nil {
		return nil, cannedError(err, "create canned response")
	}
	return c, nil
}

// cannedError maps a failed change: a taken shortcut, an okpay error as
// it is, anything else internal.
func cannedError(err error, what string) error {
	if sqldb.IsUniqueViolation(err) {
		return cannedTaken()
	}
	return okpay.InternalUnlessCoded(err, what)
}

// UpdateCanned replaces a canned response's fields, audited with the
// changed fields before and after in the same transaction.
func (s *Service) UpdateCanned(ctx context.Context, by StaffActor, id int64, in CannedInput) (*Canned, error) {
	in, err := cleanCanned(in)
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	var after *Canned
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		before, err := scanCanned(tx.QueryRowContext(ctx, `SELECT `+cannedCols+` FROM desk_canned WHERE id = $1`+s.DB.ForUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNoCanned
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE desk_canned SET shortcut = $1, title = $2, body_en = $3, body_zh = $4, team = $5,
			updated_at = $6 WHERE id = $7`, in.Shortcut, in.Title, in.BodyEn, in.BodyZh, in.Team, micros(now), id); err != nil {
			return err
		}
		a := *before
		a.Shortcut, a.Title, a.BodyEn, a.BodyZh, a.Team, a.UpdatedAt = in.Shortcut, in.Title, in.BodyEn, in.BodyZh, in.Team, now
		after = &a
		return s.auditCanned(ctx, tx, EventCannedUpdated, by, id, before, after, now)
	})
	if err != nil {
		return nil, cannedError(err, "update canned response")
	}
	return after, nil
}

// DeleteCanned removes a canned response, audited with its fields in the
// same transaction.
func (s *Service) DeleteCanned(ctx context.Context, by StaffActor, id int64) error {
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		before, err := scanCanned(tx.QueryRowContext(ctx, `SELECT `+cannedCols+` FROM desk_canned WHERE id = $1`+s.DB.ForUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNoCanned
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM desk_canned WHERE id = $1`, id); err != nil {
			return err
		}
		return s.auditCanned(ctx, tx, EventCannedDeleted, by, id, before, nil, now)
	})
	if err != nil {
		return cannedError(err, "delete canned response")
	}
	return nil
}

// CannedByID reads one canned response.
func (s *Service) CannedByID(ctx context.Context, id int64) (*Canned, error) {
	c, err := scanCanned(s.DB.Read.QueryRowContext(ctx, `SELECT `+cannedCols+` FROM desk_canned WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoCanned
	}
	if err != nil {
		return nil, okpay.Internal(err, "read canned response")
	}
	return c, nil
}

// AllCanned lists every canned response (the management page), by team
// then shortcut.
func (s *Service) AllCanned(ctx context.Context) ([]*Canned, error) {
	return s.queryCanned(ctx, `SELECT `+cannedCols+` FROM desk_canned ORDER BY team, shortcut`)
}

// CannedFor lists the responses an agent of teams may use, by shortcut:
// the global ones and their teams' ones, a team's response hiding a
// global one of the same shortcut.
func (s *Service) CannedFor(ctx context.Context, teams []string) ([]*Canned, error) {
	all, err := s.queryCanned(ctx, `SELECT `+cannedCols+` FROM desk_canned ORDER BY shortcut, team DESC`)
	if err != nil {
		return nil, err
	}
	var out []*Canned
	for _, c := range all {
		if c.Team != "" && !slices.Contains(teams, c.Team) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Shortcut == c.Shortcut {
			if out[n-1].Team == "" && c.Team != "" {
				out[n-1] = c
			}
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Service) queryCanned(ctx context.Context, q string, args ...any) ([]*Canned, error) {
	rows, err := s.DB.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "list canned responses")
	}
	defer rows.Close()
	var out []*Canned
	for rows.Next() {
		c, err := scanCanned(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list canned responses")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list canned responses")
	}
	return out, nil
}
