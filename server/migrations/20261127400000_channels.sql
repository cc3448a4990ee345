-- Channels (WeCom self-built app, WeCom 智能机器人, 今日校园): state that must hold across replicas.
-- Portable SQL (SQLite and PostgreSQL): TEXT/INTEGER only, keys made by the application, RFC 3339 UTC text times
-- in one fixed format (seconds, `Z`), so that they compare as text.

-- Keys seen recently: WeCom retry dedup keys, 今日校园 nonces and event ids. A key is claimed by
-- INSERT … ON CONFLICT DO NOTHING (or by taking over an expired row); `response` keeps what was answered, for
-- deliveries that must get the same answer again (今日校园 idempotency, the 智能机器人 stream of a message id).
CREATE TABLE channel_dedup (
    dedup_key   TEXT PRIMARY KEY,
    response    TEXT NULL,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE INDEX channel_dedup_expires ON channel_dedup (expires_at);

-- A WeCom member whose UserID is not their 学工号, or whose role must be fixed: maps the UserID to the campus id
-- (and optionally a name and role: 学生 | 教师 | 职工). Members without a row are taken as UserID = 学工号.
CREATE TABLE wecom_bindings (
    wecom_user_id  TEXT PRIMARY KEY,
    campus_id      TEXT NOT NULL,
    name           TEXT NULL,
    role           TEXT NULL,
    created_at     TEXT NOT NULL
);

-- 智能机器人 streams: WeCom polls any replica for the rest of an answer, so the progress lives here.
CREATE TABLE aibot_streams (
    stream_id   TEXT PRIMARY KEY,
    content     TEXT NOT NULL,
    card_json   TEXT NULL,
    finished    INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE INDEX aibot_streams_expires ON aibot_streams (expires_at);
