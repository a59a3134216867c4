-- +goose Up
-- The report's CSAT response rate counts resolutions, not conversations:
-- every "-> resolved" status change in the period (desk_activity), so a
-- conversation resolved, rated, reopened and resolved again counts twice
-- with one rated. The index finds a period's status changes without
-- reading the whole activity log.
CREATE INDEX desk_activity_kind_time ON desk_activity(kind, created_at);

-- +goose Down
DROP INDEX desk_activity_kind_time;
