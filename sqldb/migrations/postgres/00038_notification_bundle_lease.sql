-- +goose Up
-- Who sends bundles (notify/bundle.go): one dispatcher at a time leases
-- bundles, so a user's bundled messages leave in order even with several
-- nodes. The row is leased (locked_until, locked_by) in the claim's
-- transaction and released when the round's outcomes are recorded; a
-- dispatcher that dies loses it when the lease ends, with its bundles'.
CREATE TABLE notification_bundle_lease (
    id           SMALLINT PRIMARY KEY CHECK (id = 1),
    locked_until BIGINT NOT NULL DEFAULT 0,
    locked_by    TEXT NOT NULL DEFAULT ''
);
INSERT INTO notification_bundle_lease (id) VALUES (1);

-- +goose Down
DROP TABLE notification_bundle_lease;
