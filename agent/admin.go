package agent

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
)

// Audit event names of staff administration (OWASP vocabulary where it
// has one: privilege_permissions_changed for role changes).
const (
	EventAgentCreated    = "agent_created"
	EventAgentUpdated    = "agent_updated"
	EventAgentDisabled   = "agent_disabled"
	EventAgentEnabled    = "agent_enabled"
	EventEnrollmentIssue = "agent_enrollment_issued"
	EventRolesChanged    = audit.PrivilegeChanged
)

// MaxReasonLen bounds the reason given for an administrative change.
const MaxReasonLen = 500

// NewAgent is what an administrator enters to create an agent.
type NewAgent struct {
	Email       string
	DisplayName string
	Roles       []Role
	Teams       []string
	Languages   []i18n.Lang
	Reason      string // optional
}

// Enrollment is a one-time enrolment link, shown once to whoever created
// it: the database keeps only the SHA-256 of its token.
type Enrollment struct {
	Token     string
	URL       string
	ExpiresAt time.Time
}

// EnrollmentURL is the link of an enrolment token: the configured base
// URL, never a request's Host.
func (s *Service) EnrollmentURL(tok string) string { return s.cfg.BaseURL + "/staff/enroll/" + tok }

// checkTeams fails unless every team exists.
func (s *Service) checkTeams(ctx context.Context, q querier, teams []string) error {
	for _, t := range teams {
		if _, err := s.loadTeam(ctx, q, t); err != nil {
			if okpay.ErrorCode(err) == okpay.ENotFound {
				return okpay.Invalid(map[string]string{"teams": "There is no team called " + quote(t) + "."})
			}
			return err
		}
	}
	return nil
}

func checkReason(reason string, required bool) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case required && reason == "":
		return "", okpay.Invalid(map[string]string{"reason": "Say why: the change is audited."})
	case len(reason) > MaxReasonLen:
		return "", okpay.Invalid(map[string]string{"reason": "Keep the reason under 500 characters."})
	}
	return reason, nil
}

// Create adds an agent and returns it with its enrolment link (agent:manage,
// sudo). Only an administrator can: an agent whose roles grant
// agent:manage, or the command line, which creates the first one. The
// agent signs in only after following the link (set a password, register
// a passkey). Errors: okpay.EInvalid, okpay.EConflict (the email is
// taken), okpay.EForbidden, EStepUpRequired.
func (s *Service) Create(ctx context.Context, by Actor, in NewAgent, m Meta) (*Agent, *Enrollment, error) {
	bad := map[string]string{}
	email, ok := normEmail(in.Email)
	if !ok {
		bad["email"] = "Enter an email address like name@example.com."
	}
	name, ok := normName(in.DisplayName)
	if !ok {
		bad["display_name"] = "Enter a name of 1 to 64 characters."
	}
	roles, msg := normRoles(in.Roles)
	if msg != "" {
		bad["roles"] = msg
	}
	if len(in.Languages) == 0 {
		bad["languages"] = "Choose at least one language."
	}
	teams, err := ParseTeams(strings.Join(in.Teams, ","))
	if err != nil {
		bad["teams"] = fieldsOf(err)["teams"]
	}
	reason, err := checkReason(in.Reason, false)
	if err != nil {
		bad["reason"] = fieldsOf(err)["reason"]
	}
	if len(bad) > 0 {
		return nil, nil, okpay.Invalid(bad)
	}
	var out *Agent
	var enr *Enrollment
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, by, PermAgentManage, m); err != nil {
			return err
		}
		if err := s.checkTeams(ctx, tx, teams); err != nil {
			return err
		}
		id := s.d.IDs.Next()
		// Agents' passkeys share the passkeys table with customers',
		// keyed by owner id: an id that already owns passkeys would
		// merge two people's credentials.
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkeys WHERE user_id = $1`, id).Scan(&taken); err != nil {
			return okpay.Internal(err, "check agent id")
		}
		if taken > 0 {
			return okpay.Internal(nil, "the id generator handed out an id that owns passkeys")
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO agents (id, email, display_name, languages, status, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'active', $5, $6, $6)`, id, email, name, joinLangs(in.Languages), by.ref(), now); err != nil {
			if sqldb.IsUniqueViolation(err) {
				return okpay.Errorf(okpay.EConflict, "An agent with this email address already exists.")
			}
			return okpay.Internal(err, "create agent")
		}
		if err := s.setRoles(ctx, tx, id, roles); err != nil {
			return err
		}
		if err := s.setTeams(ctx, tx, id, teams); err != nil {
			return err
		}
		r, err := s.loadAgent(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if enr, err = s.issueEnrollment(ctx, tx, id, by); err != nil {
			return err
		}
		d := map[string]string{"actor_roles": by.roles(), "enrollment_expires": enr.ExpiresAt.Format(time.RFC3339)}
		agentDetails(d, "after.", &r.Agent)
		if err := s.audit(ctx, tx, audit.Event{Name: EventAgentCreated, Actor: by.ref(), Subject: r.Ref(), Outcome: audit.Success, Reason: reason, Details: d}, m); err != nil {
			return err
		}
		out = &r.Agent
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, enr, nil
}

// issueEnrollment revokes the agent's outstanding links and makes a new
// one.
func (s *Service) issueEnrollment(ctx context.Context, tx *sql.Tx, agentID int64, by Actor) (*Enrollment, error) {
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE agent_enrollments SET revoked_at = $1 WHERE agent_id = $2 AND used_at = 0 AND revoked_at = 0`, micros(now), agentID); err != nil {
		return nil, okpay.Internal(err, "revoke enrolment links")
	}
	tok := token()
	exp := now.Add(s.cfg.EnrollmentTTL)
	if _, err := tx.ExecContext(ctx, `INSERT INTO agent_enrollments (id, agent_id, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.d.IDs.Next(), agentID, hashToken(tok), by.ref(), micros(now), micros(exp)); err != nil {
		return nil, okpay.Internal(err, "create enrolment link")
	}
	return &Enrollment{Token: tok, URL: s.EnrollmentURL(tok), ExpiresAt: exp}, nil
}

// normRoles maps role names to roles (deduplicated, in Roles() order), or
// says what is wrong.
func normRoles(in []Role) ([]Role, string) {
	var out []Role
	for _, r := range in {
		x, ok := ParseRole(string(r))
		if !ok {
			return nil, "Unknown role " + quote(string(r)) + ": use agent, supervisor, risk or admin."
		}
		out = append(out, x)
	}
	if out = sortRoles(out); len(out) == 0 {
		return nil, "Choose at least one role."
	}
	return out, ""
}

func (s *Service) setRoles(ctx context.Context, tx *sql.Tx, id int64, roles []Role) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM agent_roles WHERE agent_id = $1`, id); err != nil {
		return okpay.Internal(err, "set roles")
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_roles (agent_id, role) VALUES ($1, $2)`, id, string(r)); err != nil {
			return okpay.Internal(err, "set roles")
		}
	}
	return nil
}

func (s *Service) setTeams(ctx context.Context, tx *sql.Tx, id int64, teams []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM agent_team_members WHERE agent_id = $1`, id); err != nil {
		return okpay.Internal(err, "set teams")
	}
	for _, t := range teams {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_team_members (agent_id, team) VALUES ($1, $2)`, id, t); err != nil {
			return okpay.Internal(err, "set teams")
		}
	}
	return nil
}

func agentDetails(d map[string]string, prefix string, a *Agent) {
	d[prefix+"email"] = a.Email
	d[prefix+"display_name"] = a.DisplayName
	d[prefix+"roles"] = joinRoles(a.Roles)
	d[prefix+"teams"] = strings.Join(a.Teams, ",")
	d[prefix+"languages"] = joinLangs(a.Languages)
	d[prefix+"status"] = string(a.Status)
}

// Update is a change to an agent; nil fields stay as they are.
type Update struct {
	DisplayName *string
	Roles       *[]Role
	Teams       *[]string
	Languages   *[]i18n.Lang
	// Reason is required: the change is audited with it.
	Reason string
}

// errSelf refuses an administrator's change to their own account: roles
// and access are granted by someone else (no self-promotion, no locking
// oneself out).
func errSelf() error {
	return okpay.Errorf(ESelfChange, "You cannot change your own roles or access. Ask another administrator.")
}

// countOtherAdmins counts the active admins other than id.
func countOtherAdmins(ctx context.Context, tx *sql.Tx, id int64) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM agent_roles r JOIN agents a ON a.id = r.agent_id
		WHERE r.role = 'admin' AND a.status = 'active' AND a.id <> $1`, id).Scan(&n)
	if err != nil {
		return 0, okpay.Internal(err, "count admins")
	}
	return n, nil
}

func errLastAdmin() error {
	return okpay.Errorf(ELastAdmin, "This is the last active administrator. Make someone else an administrator first.")
}

// UpdateAgent changes an agent's name, roles, teams or languages
// (agent:manage, sudo), audited with the values before and after; a role
// change is a privilege_permissions_changed event. An administrator
// cannot change their own roles, and the last active admin keeps the
// admin role. Errors: okpay.EInvalid, okpay.ENotFound, okpay.EForbidden,
// ESelfChange, ELastAdmin, EStepUpRequired.
func (s *Service) UpdateAgent(ctx context.Context, by Actor, id int64, up Update, m Meta) (*Agent, error) {
	bad := map[string]string{}
	var name string
	if up.DisplayName != nil {
		var ok bool
		if name, ok = normName(*up.DisplayName); !ok {
			bad["display_name"] = "Enter a name of 1 to 64 characters."
		}
	}
	var roles []Role
	if up.Roles != nil {
		var msg string
		if roles, msg = normRoles(*up.Roles); msg != "" {
			bad["roles"] = msg
		}
	}
	var teams []string
	if up.Teams != nil {
		var err error
		if teams, err = ParseTeams(strings.Join(*up.Teams, ",")); err != nil {
			bad["teams"] = fieldsOf(err)["teams"]
		}
	}
	if up.Languages != nil && len(*up.Languages) == 0 {
		bad["languages"] = "Choose at least one language."
	}
	reason, err := checkReason(up.Reason, true)
	if err != nil {
		bad["reason"] = fieldsOf(err)["reason"]
	}
	if len(bad) > 0 {
		return nil, okpay.Invalid(bad)
	}
	var out *Agent
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, by, PermAgentManage, m); err != nil {
			return err
		}
		before, err := s.loadAgent(ctx, tx, id, true)
		if err != nil {
			return err
		}
		rolesChange := up.Roles != nil && !slices.Equal(roles, before.Roles)
		if rolesChange && by.Agent != nil && by.Agent.ID == id {
			return errSelf()
		}
		if rolesChange && before.Has(RoleAdmin) && !slices.Contains(roles, RoleAdmin) && before.Active() {
			n, err := countOtherAdmins(ctx, tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return errLastAdmin()
			}
		}
		now := micros(s.now())
		if up.DisplayName != nil || up.Languages != nil {
			if up.DisplayName == nil {
				name = before.DisplayName
			}
			langs := before.Languages
			if up.Languages != nil {
				langs = *up.Languages
			}
			if _, err := tx.ExecContext(ctx, `UPDATE agents SET display_name = $1, languages = $2, updated_at = $3 WHERE id = $4`,
				name, joinLangs(langs), now, id); err != nil {
				return okpay.Internal(err, "update agent")
			}
		}
		if up.Roles != nil {
			if err := s.setRoles(ctx, tx, id, roles); err != nil {
				return err
			}
		}
		if up.Teams != nil {
			if err := s.checkTeams(ctx, tx, teams); err != nil {
				return err
			}
			if err := s.setTeams(ctx, tx, id, teams); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET updated_at = $1 WHERE id = $2`, now, id); err != nil {
			return okpay.Internal(err, "update agent")
		}
		after, err := s.loadAgent(ctx, tx, id, false)
		if err != nil {
			return err
		}
		d := map[string]string{"actor_roles": by.roles()}
		agentDetails(d, "before.", &before.Agent)
		agentDetails(d, "after.", &after.Agent)
		ev := EventAgentUpdated
		if rolesChange {
			ev = EventRolesChanged
		}
		if err := s.audit(ctx, tx, audit.Event{Name: ev, Actor: by.ref(), Subject: after.Ref(), Outcome: audit.Success, Reason: reason, Details: d}, m); err != nil {
			return err
		}
		out = &after.Agent
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Disable closes an agent's account (agent:manage, sudo): every session
// ends at once and outstanding enrolment links die. An administrator
// cannot disable themselves, nor the last active admin. Errors:
// okpay.EInvalid (no reason), okpay.ENotFound, okpay.EForbidden,
// ESelfChange, ELastAdmin, okpay.EConflict (already disabled),
// EStepUpRequired.
func (s *Service) Disable(ctx context.Context, by Actor, id int64, reason string, m Meta) error {
	reason, err := checkReason(reason, true)
	if err != nil {
		return err
	}
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, by, PermAgentManage, m); err != nil {
			return err
		}
		if by.Agent != nil && by.Agent.ID == id {
			return errSelf()
		}
		before, err := s.loadAgent(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !before.Active() {
			return okpay.Errorf(okpay.EConflict, "This agent is already disabled.")
		}
		if before.Has(RoleAdmin) {
			n, err := countOtherAdmins(ctx, tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return errLastAdmin()
			}
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET status = 'disabled', disabled_at = $1, disabled_reason = $2, updated_at = $1 WHERE id = $3`,
			now, reason, id); err != nil {
			return okpay.Internal(err, "disable agent")
		}
		n, err := s.revokeSessions(ctx, tx, id, 0, "agent disabled")
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agent_enrollments SET revoked_at = $1 WHERE agent_id = $2 AND used_at = 0 AND revoked_at = 0`, now, id); err != nil {
			return okpay.Internal(err, "revoke enrolment links")
		}
		return s.audit(ctx, tx, audit.Event{Name: EventAgentDisabled, Actor: by.ref(), Subject: before.Ref(), Outcome: audit.Success, Reason: reason,
			Details: map[string]string{"actor_roles": by.roles(), "before.status": string(before.Status), "after.status": string(StatusDisabled),
				"roles": joinRoles(before.Roles), "sessions_ended": itoa(n)}}, m)
	})
}

// Enable reopens a disabled account (agent:manage, sudo). The agent signs
// in as before; an administrator may issue a new enrolment link with
// ResetSignIn if their factors are not to be trusted. Errors as Disable.
func (s *Service) Enable(ctx context.Context, by Actor, id int64, reason string, m Meta) error {
	reason, err := checkReason(reason, true)
	if err != nil {
		return err
	}
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, by, PermAgentManage, m); err != nil {
			return err
		}
		if by.Agent != nil && by.Agent.ID == id {
			return errSelf()
		}
		before, err := s.loadAgent(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if before.Active() {
			return okpay.Errorf(okpay.EConflict, "This agent is already active.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET status = 'active', disabled_at = 0, disabled_reason = '', failed_count = 0, failed_since = 0,
			locked_until = 0, updated_at = $1 WHERE id = $2`, micros(s.now()), id); err != nil {
			return okpay.Internal(err, "enable agent")
		}
		return s.audit(ctx, tx, audit.Event{Name: EventAgentEnabled, Actor: by.ref(), Subject: before.Ref(), Outcome: audit.Success, Reason: reason,
			Details: map[string]string{"actor_roles": by.roles(), "before.status": string(before.Status), "after.status": string(StatusActive)}}, m)
	})
}

// ResetSignIn issues a new enrolment link for an agent who lost their
// passkey or never used their first link (agent:manage, sudo). Their
// password, TOTP secret and passkeys are withdrawn and every session
// ends: until they follow the new link, nothing they had opens the desk.
// An administrator cannot reset their own sign-in. Errors as Disable.
func (s *Service) ResetSignIn(ctx context.Context, by Actor, id int64, reason string, m Meta) (*Enrollment, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	if by.Agent != nil && by.Agent.ID == id {
		return nil, errSelf()
	}
	var enr *Enrollment
	var passkeys int
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, by, PermAgentManage, m); err != nil {
			return err
		}
		before, err := s.loadAgent(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !before.Active() {
			return okpay.Errorf(okpay.EConflict, "This agent is disabled: enable the account first.")
		}
		passkeys = before.Passkeys
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET password_hash = '', totp_secret = NULL, totp_pending = NULL, totp_last_step = 0,
			failed_count = 0, failed_since = 0, locked_until = 0, updated_at = $1 WHERE id = $2`, micros(s.now()), id); err != nil {
			return okpay.Internal(err, "reset sign-in")
		}
		n, err := s.revokeSessions(ctx, tx, id, 0, "sign-in reset")
		if err != nil {
			return err
		}
		if enr, err = s.issueEnrollment(ctx, tx, id, by); err != nil {
			return err
		}
		return s.audit(ctx, tx, audit.Event{Name: EventEnrollmentIssue, Actor: by.ref(), Subject: before.Ref(), Outcome: audit.Success, Reason: reason,
			Details: map[string]string{"actor_roles": by.roles(), "passkeys_removed": itoa(passkeys), "totp_removed": boolText(before.TOTPEnabled),
				"sessions_ended": itoa(n), "enrollment_expires": enr.ExpiresAt.Format(time.RFC3339)}}, m)
	})
	if err != nil {
		return nil, err
	}
	if passkeys > 0 && s.d.Passkeys != nil {
		// After the commit: the passkey service writes on its own
		// connections. Until this finishes the password is gone anyway.
		list, err := s.d.Passkeys.List(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if err := s.d.Passkeys.Delete(ctx, id, c.ID); err != nil && okpay.ErrorCode(err) != okpay.ENotFound {
				return nil, err
			}
		}
	}
	return enr, nil
}
