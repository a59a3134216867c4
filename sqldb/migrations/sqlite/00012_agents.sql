-- +goose Up
-- Staff ("agent") accounts of the support desk (package agent, SUP-01).
-- Agents are not customers: their own table, their own sessions and their
-- own cookie; nothing here references users. Timestamps are Unix
-- microseconds (UTC); 0 means "never". Secrets are never stored in clear:
-- the password as argon2id, session and enrolment-link tokens as SHA-256,
-- the TOTP secret (development fallback only) sealed with AES-GCM. An
-- agent's passkeys live in the passkeys table of package identity/passkey,
-- keyed by the agent's id (ids are unique across tables).
CREATE TABLE agents (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    languages       TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','disabled')),
    password_hash   TEXT NOT NULL DEFAULT '',
    enrolled_at     INTEGER NOT NULL DEFAULT 0,
    totp_secret     BLOB,
    totp_pending    BLOB,
    totp_last_step  INTEGER NOT NULL DEFAULT 0,
    failed_count    INTEGER NOT NULL DEFAULT 0,
    failed_since    INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    lock_count      INTEGER NOT NULL DEFAULT 0,
    last_locked_at  INTEGER NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    disabled_at     INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT NOT NULL DEFAULT ''
);

-- An agent's roles; what each role may do is a Go table (agent/rbac.go).
CREATE TABLE agent_roles (
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    role     TEXT NOT NULL CHECK (role IN ('agent','supervisor','risk','admin')),
    PRIMARY KEY (agent_id, role)
);
CREATE INDEX agent_roles_role ON agent_roles(role, agent_id);

-- Teams route conversations by topic and language. schedule is the weekly
-- working time in the team's time zone ("mon-fri 09:00-18:00; sat
-- 10:00-14:00"); always_open = 1 is a 24/7 team whatever the schedule.
CREATE TABLE agent_teams (
    name        TEXT PRIMARY KEY,
    languages   TEXT NOT NULL DEFAULT '',
    always_open INTEGER NOT NULL DEFAULT 0 CHECK (always_open IN (0, 1)),
    time_zone   TEXT NOT NULL DEFAULT 'UTC',
    schedule    TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE agent_team_members (
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    team     TEXT NOT NULL REFERENCES agent_teams(name),
    PRIMARY KEY (agent_id, team)
);
CREATE INDEX agent_team_members_team ON agent_team_members(team, agent_id);

-- One-time enrolment links: the agent sets a password and registers a
-- passkey. The link is used up when the passkey (the second factor) is in
-- place, not before, so a password alone never enrols a factor.
CREATE TABLE agent_enrollments (
    id         INTEGER PRIMARY KEY,
    agent_id   INTEGER NOT NULL REFERENCES agents(id),
    token_hash BLOB NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agent_enrollments_agent ON agent_enrollments(agent_id, id);

-- Staff sessions. purpose 'enroll' is the session an enrolment link opens
-- (it may only register the first factor); 'login' the ordinary one. aal 1
-- waits for the second factor, aal 2 is a full session.
CREATE TABLE agent_sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    agent_id      INTEGER NOT NULL REFERENCES agents(id),
    purpose       TEXT NOT NULL CHECK (purpose IN ('login','enroll')),
    enrollment_id INTEGER NOT NULL DEFAULT 0,
    aal           INTEGER NOT NULL,
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    mfa_at        INTEGER NOT NULL DEFAULT 0,
    mfa_method    TEXT NOT NULL DEFAULT '',
    revoked_at    INTEGER NOT NULL DEFAULT 0,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX agent_sessions_agent ON agent_sessions(agent_id, id);

-- Fixed-window counters for the staff sign-in limits (per IP).
CREATE TABLE agent_rate_counters (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- The teams every desk starts with.
INSERT INTO agent_teams (name, languages, always_open, time_zone, schedule, created_at, updated_at) VALUES
    ('general',  'zh-CN,en', 1, 'Asia/Shanghai', '', 0, 0),
    ('security', 'zh-CN,en', 1, 'Asia/Shanghai', '', 0, 0),
    ('payments', 'zh-CN,en', 0, 'Asia/Shanghai', 'mon-fri 09:00-18:00', 0, 0);

-- +goose Down
DROP TABLE agent_rate_counters;
DROP TABLE agent_sessions;
DROP TABLE agent_enrollments;
DROP TABLE agent_team_members;
DROP TABLE agent_teams;
DROP TABLE agent_roles;
DROP TABLE agents;
