-- The portal: demo campus data (一卡通, 工资, 校园网, 邮箱, 办件, 消息), the bot's own records (★ favorites,
-- 最近使用, 意见反馈/工单, service ratings) and notices kept for users who were not connected.
-- Portable SQL (SQLite and PostgreSQL): TEXT/INTEGER/REAL only, ids made by the application, RFC 3339 UTC text times.

CREATE TABLE campus_cards (
    user_id           TEXT PRIMARY KEY,
    balance_cents     INTEGER NOT NULL,
    transition_cents  INTEGER NOT NULL
);

CREATE TABLE campus_spending (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    at            TEXT NOT NULL,
    place         TEXT NOT NULL,
    amount_cents  INTEGER NOT NULL
);

CREATE INDEX campus_spending_user ON campus_spending (user_id, at);

CREATE TABLE campus_payslips (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    month             TEXT NOT NULL,
    gross_cents       INTEGER NOT NULL,
    deductions_cents  INTEGER NOT NULL,
    net_cents         INTEGER NOT NULL,
    items_json        TEXT NOT NULL,
    position          INTEGER NOT NULL
);

CREATE TABLE campus_network (
    user_id        TEXT PRIMARY KEY,
    balance_cents  INTEGER NOT NULL,
    traffic_mb     REAL NOT NULL
);

CREATE TABLE campus_mail (
    user_id  TEXT PRIMARY KEY,
    address  TEXT NULL,
    unread   INTEGER NOT NULL
);

CREATE TABLE campus_affairs (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    service     TEXT NULL,
    status      TEXT NOT NULL,
    steps_json  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX campus_affairs_user ON campus_affairs (user_id, kind, updated_at);

CREATE TABLE campus_messages (
    id        TEXT PRIMARY KEY,
    user_id   TEXT NOT NULL,
    title     TEXT NOT NULL,
    body      TEXT NOT NULL,
    sender    TEXT NOT NULL,
    sent_at   TEXT NOT NULL,
    is_read   INTEGER NOT NULL
);

CREATE INDEX campus_messages_user ON campus_messages (user_id, sent_at);

CREATE TABLE portal_favorites (
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    url         TEXT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, item_id)
);

CREATE TABLE portal_recent (
    user_id  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    item_id  TEXT NOT NULL,
    name     TEXT NOT NULL,
    url      TEXT NULL,
    used_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, item_id)
);

CREATE TABLE portal_feedback (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    content     TEXT NOT NULL,
    contact     TEXT NULL,
    status      TEXT NOT NULL,
    answer      TEXT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX portal_feedback_user ON portal_feedback (user_id, created_at);

CREATE TABLE portal_ratings (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    service_id  TEXT NOT NULL,
    stars       INTEGER NOT NULL,
    comment     TEXT NULL,
    created_at  TEXT NOT NULL
);

-- Notices for users with no open connection, delivered (and marked) after the next welcome.
CREATE TABLE portal_notices (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    text        TEXT NOT NULL,
    cards_json  TEXT NOT NULL,
    delivered   INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE INDEX portal_notices_user ON portal_notices (user_id, delivered, created_at);
