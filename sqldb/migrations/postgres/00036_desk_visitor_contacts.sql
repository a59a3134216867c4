-- +goose Up
-- The address a visitor left on a chat conversation (desk/visitor_email.go):
-- requested_at names the request whose link confirms it (a new request
-- replaces the address and ends the old link), confirmed_at is when the
-- link was followed (0: not yet); mails and window_start count the
-- confirmation mails of the conversation's last day.
CREATE TABLE desk_visitor_contacts (
    conversation_id BIGINT PRIMARY KEY REFERENCES desk_conversations(id),
    email           TEXT NOT NULL,
    lang            TEXT NOT NULL,
    requested_at    BIGINT NOT NULL,
    confirmed_at    BIGINT NOT NULL DEFAULT 0,
    mails           INTEGER NOT NULL DEFAULT 1,
    window_start    BIGINT NOT NULL
);
-- The confirmation mails an address received lately (a cap per address).
CREATE INDEX desk_visitor_contacts_email ON desk_visitor_contacts(email, requested_at);

-- +goose Down
DROP TABLE desk_visitor_contacts;
