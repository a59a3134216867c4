-- +goose Up
-- A rating request by email (maildesk.QueueSurveys): once an email
-- conversation has stayed resolved a while, its sender gets a mail with a
-- signed link to rate that resolution. kind 'csat' joins the outbox's
-- kinds; resolution is the resolved_at (Unix µs) the request asks about,
-- unique per conversation, so each resolution is asked about once (several
-- nodes scanning at once queue it once).
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_check CHECK (kind IN ('ack', 'reply', 'csat'));
ALTER TABLE email_outbox ADD COLUMN resolution BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX email_outbox_survey ON email_outbox(conversation_id, resolution) WHERE kind = 'csat';

-- +goose Down
DROP INDEX email_outbox_survey;
DELETE FROM email_outbox WHERE kind = 'csat';
ALTER TABLE email_outbox DROP COLUMN resolution;
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_check CHECK (kind IN ('ack', 'reply'));
