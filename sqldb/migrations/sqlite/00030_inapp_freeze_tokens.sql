-- +goose Up
-- In-app notices written before 2026-11-27 carried the one-click freeze
-- link with its token in plain text (only its hash belongs in the
-- database). Point them at the signed-in freeze page, as new notices do.
-- ltrim drops the token: the base64url characters after "/freeze/".
-- Three passes cover a body with up to three links.
UPDATE inapp_notifications SET body = substr(body, 1, instr(body, '/freeze/') - 1) || '/account/freeze' ||
    ltrim(substr(body, instr(body, '/freeze/') + 8), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')
WHERE instr(body, '/freeze/') > 0;
UPDATE inapp_notifications SET body = substr(body, 1, instr(body, '/freeze/') - 1) || '/account/freeze' ||
    ltrim(substr(body, instr(body, '/freeze/') + 8), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')
WHERE instr(body, '/freeze/') > 0;
UPDATE inapp_notifications SET body = substr(body, 1, instr(body, '/freeze/') - 1) || '/account/freeze' ||
    ltrim(substr(body, instr(body, '/freeze/') + 8), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')
WHERE instr(body, '/freeze/') > 0;

-- +goose Down
-- The tokens are gone for good (and had to be).
SELECT 1;
