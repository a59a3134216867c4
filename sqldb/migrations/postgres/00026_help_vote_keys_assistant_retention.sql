-- +goose Up
-- Issue 7 leftovers.
--
-- "Was this helpful?" votes are now stored under an HMAC-SHA256 of the
-- voter (help.VoterKeys, a key of the secret keyring) instead of a plain
-- SHA-256 of the client's address, which anyone holding the table could
-- reverse by hashing every IPv4 address. The old keys cannot be converted
-- (SQL has no key, and the hash does not give the address back), so the
-- per-voter rows are dropped: the articles' tallies (help_articles.
-- helpful_yes/no) keep every vote, and the only loss is that a vote given
-- before the upgrade is counted afresh, not replaced, if the same visitor
-- votes again on that article, and the hourly limit starts empty.
DELETE FROM help_feedback;

-- The assistant's turns are purged after assistant.TurnRetention (by
-- created_at), and a visitor's turns carried over when the visitor signs
-- in are marked so the agent's transcript says which were asked before.
CREATE INDEX assistant_turns_created ON assistant_turns(created_at);
ALTER TABLE assistant_turns ADD COLUMN from_visitor INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE assistant_turns DROP COLUMN from_visitor;
DROP INDEX assistant_turns_created;
