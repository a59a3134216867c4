package agent

import (
	"context"
	"database/sql"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
)

// row is an agents row with what never leaves the package.
type row struct {
	Agent
	passwordHash string
	totpSecret   []byte
	totpPending  []byte
	totpLastStep int64
	failedCount  int
	failedSince  int64
	lockCount    int
	lastLockedAt int64
}

const agentCols = `id, email, display_name, languages, status, password_hash, enrolled_at, totp_secret, totp_pending, totp_last_step,
	failed_count, failed_since, locked_until, lock_count, last_locked_at, created_by, created_at, updated_at, disabled_at, disabled_reason`

func scanAgent(sc interface{ Scan(...any) error }) (*row, error) {
	var r row
	var langs, status string
	var enrolled, locked, created, updated, disabled int64
	if err := sc.Scan(&r.ID, &r.Email, &r.DisplayName, &langs, &status, &r.passwordHash, &enrolled, &r.totpSecret, &r.totpPending, &r.totpLastStep,
		&r.failedCount, &r.failedSince, &locked, &r.lockCount, &r.lastLockedAt, &r.CreatedBy, &created, &updated, &disabled, &r.DisabledReason); err != nil {
		return nil, err
	}
	r.Status = Status(status)
	r.Languages = splitLangs(langs)
	r.EnrolledAt, r.LockedUntil = fromMicros(enrolled), fromMicros(locked)
	r.CreatedAt, r.UpdatedAt, r.DisabledAt = fromMicros(created), fromMicros(updated), fromMicros(disabled)
	r.TOTPEnabled = len(r.totpSecret) > 0
	return &r, nil
}

func errNoAgent() error { return okpay.Errorf(okpay.ENotFound, "No such agent.") }

// loadAgent reads agent id with its roles and teams through q (a
// transaction sees its own writes); lock takes the row lock on
// PostgreSQL (SQLite has a single writer).
func (s *Service) loadAgent(ctx context.Context, q querier, id int64, lock bool) (*row, error) {
	query := `SELECT ` + agentCols + ` FROM agents WHERE id = $1`
	if lock && s.d.DB.Dialect == sqldb.Postgres {
		query += ` FOR UPDATE`
	}
	r, err := scanAgent(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoAgent()
	}
	if err != nil {
		return nil, okpay.Internal(err, "load agent")
	}
	if err := s.loadMembership(ctx, q, &r.Agent); err != nil {
		return nil, err
	}
	return r, nil
}

// findByEmail returns the agent with email (normalised), or nil.
func (s *Service) findByEmail(ctx context.Context, q querier, email string) (*row, error) {
	email, ok := normEmail(email)
	if !ok {
		return nil, nil
	}
	r, err := scanAgent(q.QueryRowContext(ctx, `SELECT `+agentCols+` FROM agents WHERE email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "find agent")
	}
	if err := s.loadMembership(ctx, q, &r.Agent); err != nil {
		return nil, err
	}
	return r, nil
}

// loadMembership fills a's roles and teams, and its passkey count.
func (s *Service) loadMembership(ctx context.Context, q querier, a *Agent) error {
	a.Roles, a.Teams = nil, nil
	rows, err := q.QueryContext(ctx, `SELECT role FROM agent_roles WHERE agent_id = $1`, a.ID)
	if err != nil {
		return okpay.Internal(err, "load roles")
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return okpay.Internal(err, "load roles")
		}
		a.Roles = append(a.Roles, Role(r))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return okpay.Internal(err, "load roles")
	}
	a.Roles = sortRoles(a.Roles)
	rows, err = q.QueryContext(ctx, `SELECT team FROM agent_team_members WHERE agent_id = $1 ORDER BY team`, a.ID)
	if err != nil {
		return okpay.Internal(err, "load teams")
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return okpay.Internal(err, "load teams")
		}
		a.Teams = append(a.Teams, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return okpay.Internal(err, "load teams")
	}
	if s.d.Passkeys != nil {
		n, err := s.d.Passkeys.Count(ctx, a.ID)
		if err != nil {
			return err
		}
		a.Passkeys = n
	}
	return nil
}

// Find returns agent id. Errors: okpay.ENotFound.
func (s *Service) Find(ctx context.Context, id int64) (*Agent, error) {
	r, err := s.loadAgent(ctx, s.d.DB.Read, id, false)
	if err != nil {
		return nil, err
	}
	return &r.Agent, nil
}

// FindByEmail returns the agent with email. Errors: okpay.ENotFound.
func (s *Service) FindByEmail(ctx context.Context, email string) (*Agent, error) {
	r, err := s.findByEmail(ctx, s.d.DB.Read, email)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errNoAgent()
	}
	return &r.Agent, nil
}

// Filter selects agents in List; zero fields select all.
type Filter struct {
	Status Status
	Role   Role
	Team   string
}

// List returns the agents that match f, oldest first.
func (s *Service) List(ctx context.Context, f Filter) ([]*Agent, error) {
	q := `SELECT ` + agentCols + ` FROM agents a WHERE ($1 = '' OR a.status = $1)
		AND ($2 = '' OR EXISTS (SELECT 1 FROM agent_roles r WHERE r.agent_id = a.id AND r.role = $2))
		AND ($3 = '' OR EXISTS (SELECT 1 FROM agent_team_members m WHERE m.agent_id = a.id AND m.team = $3))
		ORDER BY a.created_at, a.id LIMIT 1000`
	rows, err := s.d.DB.Read.QueryContext(ctx, q, string(f.Status), string(f.Role), f.Team)
	if err != nil {
		return nil, okpay.Internal(err, "list agents")
	}
	var out []*Agent
	for rows.Next() {
		r, err := scanAgent(rows)
		if err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "list agents")
		}
		out = append(out, &r.Agent)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list agents")
	}
	for _, a := range out {
		if err := s.loadMembership(ctx, s.d.DB.Read, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ---- values ----

// MaxNameLen is the longest display name, in characters.
const MaxNameLen = 64

// normEmail lower-cases and checks an email address.
func normEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 254 {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", false
	}
	return s, true
}

// normName trims a display name and checks it is printable and short.
func normName(s string) (string, bool) {
	s = strings.Join(strings.Fields(s), " ")
	n := utf8.RuneCountInString(s)
	if n == 0 || n > MaxNameLen || !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", false
		}
	}
	return s, true
}

// ParseRoles reads a comma- or space-separated list of roles ("agent,
// risk"). Duplicates collapse; the result is in Roles() order.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, f := range splitList(s) {
		r, ok := ParseRole(f)
		if !ok {
			return nil, okpay.Invalid(map[string]string{"roles": "Unknown role " + quote(f) + ": use agent, supervisor, risk or admin."})
		}
		out = append(out, r)
	}
	return sortRoles(out), nil
}

// ParseLanguages reads a comma- or space-separated list of languages
// ("zh-CN,en"); duplicates collapse.
func ParseLanguages(s string) ([]i18n.Lang, error) {
	var out []i18n.Lang
	for _, f := range splitList(s) {
		l, ok := i18n.ParseLang(f)
		if !ok {
			return nil, okpay.Invalid(map[string]string{"languages": "Unknown language " + quote(f) + ": use zh-CN or en."})
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// ParseTeams reads a comma- or space-separated list of team names; it
// checks their form, not that they exist.
func ParseTeams(s string) ([]string, error) {
	var out []string
	for _, f := range splitList(s) {
		f = strings.ToLower(f)
		if !validTeamName(f) {
			return nil, okpay.Invalid(map[string]string{"teams": "Team names are 1 to 32 letters, digits, - or _, starting with a letter: " + quote(f) + "."})
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

func splitList(s string) []string {
	if len(s) > 1024 {
		s = s[:1024]
	}
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

func quote(s string) string {
	s = clip(s, 40)
	return "\"" + strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s) + "\""
}

func validTeamName(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// sortRoles returns roles deduplicated, in Roles() order.
func sortRoles(in []Role) []Role {
	var out []Role
	for _, r := range Roles() {
		if slices.Contains(in, r) {
			out = append(out, r)
		}
	}
	return out
}

func joinRoles(rs []Role) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, ",")
}

func joinLangs(ls []i18n.Lang) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = string(l)
	}
	return strings.Join(parts, ",")
}

func splitLangs(s string) []i18n.Lang {
	var out []i18n.Lang
	for _, f := range strings.Split(s, ",") {
		if l, ok := i18n.ParseLang(f); ok {
			out = append(out, l)
		}
	}
	return out
}
