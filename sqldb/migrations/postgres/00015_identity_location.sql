-- +goose Up
-- Approximate location, the strength of a step-up, and the refresh grace
-- (SECURITY.md SES-05, MFA-09, SES-03).
--
-- geo_*: where a session's sign-in came from, from an optional GeoIP
-- database (--geoip-db): the city's English name, the ISO country code and
-- the coordinates in microdegrees; geo_known = 0 when nothing is known.
--
-- mfa_method: the second factor of the session's last step-up (the login's
-- own second factor counts as one): sms, totp, recovery_code, passkey; ''
-- before any. Removing or replacing a factor needs a step-up at least as
-- strong (recovery code, SMS < authenticator app < passkey).
ALTER TABLE sessions ADD COLUMN mfa_method TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN geo_city TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN geo_country TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN geo_lat_e6 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN geo_lon_e6 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN geo_known BIGINT NOT NULL DEFAULT 0;

-- A spent refresh token remembers what it was exchanged for: next_id, the
-- refresh token issued in its place, and next_sealed, the new session and
-- refresh tokens sealed with AES-GCM (never in clear). Presented again
-- within the grace period (30 s) while next_id is unused, it returns that
-- same pair (the client lost the response); otherwise it is reuse.
-- next_sealed is cleared once the new token is used and by the sweep.
ALTER TABLE refresh_tokens ADD COLUMN next_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN next_sealed BYTEA;

-- +goose Down
ALTER TABLE refresh_tokens DROP COLUMN next_sealed;
ALTER TABLE refresh_tokens DROP COLUMN next_id;
ALTER TABLE sessions DROP COLUMN geo_known;
ALTER TABLE sessions DROP COLUMN geo_lon_e6;
ALTER TABLE sessions DROP COLUMN geo_lat_e6;
ALTER TABLE sessions DROP COLUMN geo_country;
ALTER TABLE sessions DROP COLUMN geo_city;
ALTER TABLE sessions DROP COLUMN mfa_method;
