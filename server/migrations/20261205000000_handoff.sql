-- Handoff to a person (docs/handoff.md): a conversation queued for the service desk, taken by an admin, and the
-- messages both sides wrote meanwhile (the user's masked by intents::pii::scrub before they are stored).
-- Portable SQL (SQLite and PostgreSQL): TEXT/INTEGER only, ids made by the application, RFC 3339 UTC text times.

CREATE TABLE handoffs (
    id                TEXT PRIMARY KEY,
    session_id        TEXT NOT NULL,
    user_id           TEXT NULL,
    user_name         TEXT NULL,
    channel           TEXT NOT NULL,
    status            TEXT NOT NULL,
    close_reason      TEXT NULL,
    agent_id          TEXT NULL,
    agent_name        TEXT NULL,
    ticket_id         TEXT NULL,
    created_at        TEXT NOT NULL,
    taken_at          TEXT NULL,
    closed_at         TEXT NULL,
    last_activity_at  TEXT NOT NULL,
    user_seen_at      TEXT NOT NULL
);

-- At most one open (waiting or active) handoff per session, even when two requests race.
CREATE UNIQUE INDEX handoffs_one_open_per_session ON handoffs (session_id) WHERE status <> 'closed';
CREATE INDEX handoffs_by_status ON handoffs (status, created_at);

CREATE TABLE handoff_messages (
    handoff_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    name        TEXT NULL,
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (handoff_id, seq)
);
