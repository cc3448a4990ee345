-- 统一身份认证 login: who has logged in (a chat session's `user_id` refers here by 学工号), and a lookup of the
-- sessions bound to a user. Portable SQL for SQLite and PostgreSQL, as in the initial migration.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    admin           INTEGER NOT NULL DEFAULT 0,
    first_login_at  TEXT NOT NULL,
    last_login_at   TEXT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
