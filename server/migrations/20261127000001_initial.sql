-- Sessions, the question log and ratings. Portable SQL: it runs unchanged on SQLite and PostgreSQL
-- (TEXT/INTEGER/REAL only, ids made by the application, timestamps as RFC 3339 UTC text, which sorts).

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NULL,
    state_json  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE question_log (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    channel     TEXT NOT NULL,
    text        TEXT NOT NULL,
    intent      TEXT NOT NULL,
    mode        TEXT NOT NULL,
    top_item    TEXT NULL,
    confidence  REAL NOT NULL,
    latency_ms  INTEGER NOT NULL,
    reply_id    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE INDEX question_log_session ON question_log (session_id, created_at);
CREATE INDEX question_log_created ON question_log (created_at);

CREATE TABLE ratings (
    reply_id    TEXT PRIMARY KEY REFERENCES question_log (reply_id),
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    helpful     INTEGER NOT NULL,
    comment     TEXT NULL,
    created_at  TEXT NOT NULL
);
