-- +goose Up
-- Routing and service levels of the support desk (package desk, issue 5).
-- Timestamps are Unix microseconds (UTC); 0 means "never".

-- An agent's availability for auto-assignment. status is what the agent
-- chose; an agent not seen for two minutes (last_seen_at) counts offline
-- whatever the status says. capacity caps the open+pending conversations
-- auto-assignment gives the agent.
CREATE TABLE desk_agent_presence (
    agent_id     BIGINT PRIMARY KEY REFERENCES agents(id),
    status       TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online','away','offline')),
    capacity     INTEGER NOT NULL DEFAULT 5 CHECK (capacity >= 0),
    last_seen_at BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX desk_agent_presence_status ON desk_agent_presence(status, last_seen_at);

-- SLA policies. A conversation gets the most specific policy matching its
-- channel, category and priority ('' matches any); ties go to the lower
-- rank. Durations are seconds (0 = no target for that metric); warn_pct is
-- the share of the duration after which the timer warns. business_hours
-- counts only the team's open hours (agent_teams schedule; an always-open
-- team counts wall-clock time).
CREATE TABLE desk_sla_policies (
    name               TEXT PRIMARY KEY,
    channel            TEXT NOT NULL DEFAULT '',
    category           TEXT NOT NULL DEFAULT '',
    priority           TEXT NOT NULL DEFAULT '',
    first_response_sec INTEGER NOT NULL DEFAULT 0 CHECK (first_response_sec >= 0),
    next_response_sec  INTEGER NOT NULL DEFAULT 0 CHECK (next_response_sec >= 0),
    resolution_sec     INTEGER NOT NULL DEFAULT 0 CHECK (resolution_sec >= 0),
    warn_pct           INTEGER NOT NULL DEFAULT 75 CHECK (warn_pct BETWEEN 1 AND 100),
    business_hours     INTEGER NOT NULL DEFAULT 0 CHECK (business_hours IN (0, 1)),
    rank               INTEGER NOT NULL DEFAULT 100
);
INSERT INTO desk_sla_policies (name, channel, category, priority, first_response_sec, next_response_sec, resolution_sec, warn_pct, business_hours, rank) VALUES
    ('urgent',       '',      '', 'urgent',    300,   600,  14400, 75, 0, 10),
    ('high',         '',      '', 'high',      600,   900,  28800, 75, 0, 20),
    ('normal',       '',      '', 'normal',    900,  1800,  86400, 75, 1, 30),
    ('low',          '',      '', 'low',      3600, 14400, 259200, 75, 1, 40),
    ('email_normal', 'email', '', 'normal',   7200,  7200, 172800, 75, 1, 25),
    ('email_low',    'email', '', 'low',     14400, 14400, 259200, 75, 1, 35);

-- The SLA clocks of a conversation: one row per metric, replaced when a new
-- cycle starts (next_response restarts at each customer message after an
-- agent reply). met_at is set when the metric is satisfied; compliance is
-- met_at > 0 AND met_at <= due_at. paused_at > 0 while the resolution clock
-- is paused (conversation pending or snoozed); resuming pushes due_at and
-- warn_at later by the paused time.
CREATE TABLE desk_sla_timers (
    conversation_id BIGINT NOT NULL REFERENCES desk_conversations(id),
    metric          TEXT NOT NULL CHECK (metric IN ('first_response','next_response','resolution')),
    policy          TEXT NOT NULL,
    started_at      BIGINT NOT NULL DEFAULT 0,
    due_at          BIGINT NOT NULL DEFAULT 0,
    warn_at         BIGINT NOT NULL DEFAULT 0,
    warned_at       BIGINT NOT NULL DEFAULT 0,
    breached_at     BIGINT NOT NULL DEFAULT 0,
    met_at          BIGINT NOT NULL DEFAULT 0,
    paused_at       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, metric)
);
-- the sweep: running timers by due time
CREATE INDEX desk_sla_timers_due ON desk_sla_timers(met_at, breached_at, due_at);
CREATE INDEX desk_sla_timers_warn ON desk_sla_timers(met_at, warned_at, warn_at);

-- +goose Down
DROP TABLE desk_sla_timers;
DROP TABLE desk_sla_policies;
DROP TABLE desk_agent_presence;
