-- +goose Up
-- The agent console's canned responses and @mentions (package desk,
-- issue 5). Timestamps are Unix microseconds (UTC); 0 means "never".

-- Canned responses: a shortcut the composer completes after "/", a title
-- and the body in each language (one may be empty: the other is used).
-- team '' is a global response; a team's own response of the same
-- shortcut wins for its members. created_by is an agent id (0: OKPay's
-- defaults).
CREATE TABLE desk_canned (
    id         BIGINT PRIMARY KEY,
    shortcut   TEXT NOT NULL,
    title      TEXT NOT NULL,
    body_en    TEXT NOT NULL DEFAULT '',
    body_zh    TEXT NOT NULL DEFAULT '',
    team       TEXT NOT NULL DEFAULT '',
    created_by BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (body_en <> '' OR body_zh <> '')
);
CREATE UNIQUE INDEX desk_canned_shortcut ON desk_canned(team, shortcut);

INSERT INTO desk_canned (id, shortcut, title, body_en, body_zh, team, created_by, created_at, updated_at) VALUES
    (1000000001, 'greeting', 'Greeting',
     'Hello, thank you for contacting OKPay support. How can I help you today?',
     '您好，感谢您联系 OKPay 客服。请问有什么可以帮您？', '', 0, 0, 0),
    (1000000002, 'refund-time', 'Refund time',
     'Refunds reach your OKPay balance within 1 to 3 business days after the merchant confirms them.',
     '商户确认退款后，款项将在 1 至 3 个工作日内退回您的 OKPay 余额。', '', 0, 0, 0),
    (1000000003, 'verify-identity', 'Identity check',
     'For your security, please confirm the last four digits of the phone number on your account. We will never ask for your password or codes.',
     '为了您的账户安全，请提供账户绑定手机号的后四位。我们绝不会向您索要密码或验证码。', '', 0, 0, 0),
    (1000000004, 'closing', 'Closing',
     'Is there anything else I can help you with? If not, I will close this conversation. Have a nice day!',
     '请问还有其他可以帮您的吗？如果没有，我将结束本次会话。祝您生活愉快！', '', 0, 0, 0);

-- @mentions of agents in internal notes: each mentioned agent once per
-- note. seen_at is set when the agent opens the conversation.
CREATE TABLE desk_mentions (
    message_id      BIGINT NOT NULL REFERENCES desk_messages(id),
    agent_id        BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES desk_conversations(id),
    mentioned_by    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    seen_at         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, agent_id)
);
CREATE INDEX desk_mentions_agent ON desk_mentions(agent_id, seen_at, conversation_id);

-- +goose Down
DROP TABLE desk_mentions;
DROP TABLE desk_canned;
