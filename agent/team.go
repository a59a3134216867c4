package agent

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
)

// Team is a group of agents the desk routes conversations to, by topic
// (general, security, payments...) and language, when the team is at
// work: always for a 24/7 team, else by its weekly schedule in its time
// zone.
type Team struct {
	Name       string
	Languages  []i18n.Lang
	AlwaysOpen bool
	TimeZone   string
	Schedule   Schedule
	Members    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// OpenAt reports whether the team is at work at t.
func (t *Team) OpenAt(at time.Time) bool {
	if t.AlwaysOpen {
		return true
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return t.Schedule.OpenAt(at, loc)
}

// Speaks reports whether the team works in language l.
func (t *Team) Speaks(l i18n.Lang) bool {
	for _, x := range t.Languages {
		if x == l {
			return true
		}
	}
	return false
}

const teamCols = `name, languages, always_open, time_zone, schedule, created_at, updated_at,
	(SELECT COUNT(*) FROM agent_team_members m WHERE m.team = t.name)`

func scanTeam(sc interface{ Scan(...any) error }) (*Team, error) {
	var t Team
	var langs, sched string
	var open int
	var created, updated int64
	if err := sc.Scan(&t.Name, &langs, &open, &t.TimeZone, &sched, &created, &updated, &t.Members); err != nil {
		return nil, err
	}
	t.Languages = splitLangs(langs)
	t.AlwaysOpen = open != 0
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	sc2, err := ParseSchedule(sched)
	if err != nil {
		return nil, err
	}
	t.Schedule = sc2
	return &t, nil
}

// Teams lists the teams by name.
func (s *Service) Teams(ctx context.Context) ([]*Team, error) {
	rows, err := s.d.DB.Read.QueryContext(ctx, `SELECT `+teamCols+` FROM agent_teams t ORDER BY name`)
	if err != nil {
		return nil, okpay.Internal(err, "list teams")
	}
	defer rows.Close()
	var out []*Team
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list teams")
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Team returns the team called name. Errors: okpay.ENotFound.
func (s *Service) Team(ctx context.Context, name string) (*Team, error) {
	return s.loadTeam(ctx, s.d.DB.Read, name)
}

func (s *Service) loadTeam(ctx context.Context, q querier, name string) (*Team, error) {
	t, err := scanTeam(q.QueryRowContext(ctx, `SELECT `+teamCols+` FROM agent_teams t WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(okpay.ENotFound, "No such team.")
	}
	if err != nil {
		return nil, okpay.Internal(err, "load team")
	}
	return t, nil
}

// TeamInput is a team's settings as an administrator enters them.
type TeamInput struct {
	Languages  []i18n.Lang
	AlwaysOpen bool
	TimeZone   string // IANA name, e.g. "Asia/Shanghai"
	Schedule   string // the text form, see Schedule
	Reason     string
}

// validate checks in and returns the parsed schedule.
func (in *TeamInput) validate() (Schedule, error) {
	bad := map[string]string{}
	if len(in.Languages) == 0 {
		bad["languages"] = "Choose at least one language."
	}
	if in.TimeZone == "" {
		in.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(in.TimeZone); err != nil || len(in.TimeZone) > 64 {
		bad["time_zone"] = "Use a time zone name such as Asia/Shanghai or UTC."
	}
	sc, err := ParseSchedule(in.Schedule)
	if err != nil {
		for k, v := range fieldsOf(err) {
			bad[k] = v
		}
	}
	if !in.AlwaysOpen && err == nil && sc.Empty() {
		bad["schedule"] = "A team that is not open around the clock needs working hours."
	}
	if len(bad) > 0 {
		return Schedule{}, okpay.Invalid(bad)
	}
	return sc, nil
}

// SaveTeam creates team name or changes its settings (team:manage). The
// change is audited with the values before and after.
func (s *Service) SaveTeam(ctx context.Context, by Actor, name string, in TeamInput, m Meta) (*Team, error) {
	if !validTeamName(name) {
		return nil, okpay.Invalid(map[string]string{"name": "Team names are 1 to 32 lower-case letters, digits, - or _, starting with a letter."})
	}
	sc, err := in.validate()
	if err != nil {
		return nil, err
	}
	var out *Team
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, by, PermTeamManage, m); err != nil {
			return err
		}
		now := micros(s.now())
		before, err := s.loadTeam(ctx, tx, name)
		created := okpay.ErrorCode(err) == okpay.ENotFound
		switch {
		case created:
			_, err = tx.ExecContext(ctx, `INSERT INTO agent_teams (name, languages, always_open, time_zone, schedule, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6)`, name, joinLangs(in.Languages), boolInt(in.AlwaysOpen), in.TimeZone, sc.String(), now)
		case err != nil:
			return err
		default:
			_, err = tx.ExecContext(ctx, `UPDATE agent_teams SET languages = $1, always_open = $2, time_zone = $3, schedule = $4, updated_at = $5 WHERE name = $6`,
				joinLangs(in.Languages), boolInt(in.AlwaysOpen), in.TimeZone, sc.String(), now, name)
		}
		if err != nil {
			if sqldb.IsUniqueViolation(err) {
				return okpay.Errorf(okpay.EConflict, "A team with this name already exists.")
			}
			return okpay.Internal(err, "save team")
		}
		if out, err = s.loadTeam(ctx, tx, name); err != nil {
			return err
		}
		d := map[string]string{"actor_roles": by.roles(), "team": name}
		teamDetails(d, "after.", out)
		ev := "agent_team_created"
		if !created {
			ev = "agent_team_updated"
			teamDetails(d, "before.", before)
		}
		return s.audit(ctx, tx, audit.Event{Name: ev, Actor: by.ref(), Subject: "team:" + name, Outcome: audit.Success, Reason: in.Reason, Details: d}, m)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func teamDetails(d map[string]string, prefix string, t *Team) {
	d[prefix+"languages"] = joinLangs(t.Languages)
	d[prefix+"always_open"] = boolText(t.AlwaysOpen)
	d[prefix+"time_zone"] = t.TimeZone
	d[prefix+"schedule"] = t.Schedule.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// fieldsOf returns the field errors of a validation error.
func fieldsOf(err error) map[string]string {
	var e *okpay.Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
