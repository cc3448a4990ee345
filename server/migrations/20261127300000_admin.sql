-- The knowledge base as the source of truth at run time, the admin audit trail and the review loop.
-- Portable SQL (SQLite and PostgreSQL): TEXT/INTEGER only, ids made by the application, RFC 3339 UTC text times.

-- One row per knowledge record. `kind` is service, app, faq, department, news, lexicon, texts or systems; the
-- last three are single records with id 'all'. `body_json` is the record exactly as its data/ TOML entry.
CREATE TABLE knowledge_items (
    kind              TEXT NOT NULL,
    id                TEXT NOT NULL,
    body_json         TEXT NOT NULL,
    questions_json    TEXT NOT NULL,
    owner_department  TEXT NULL,
    last_reviewed     TEXT NOT NULL,
    retired           INTEGER NOT NULL,
    position          INTEGER NOT NULL,
    updated_at        TEXT NOT NULL,
    updated_by        TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Who changed what, when: before and after as JSON (NULL for a creation's before).
CREATE TABLE admin_audit (
    id           TEXT PRIMARY KEY,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    before_json  TEXT NULL,
    after_json   TEXT NULL,
    created_at   TEXT NOT NULL
);

CREATE INDEX admin_audit_created ON admin_audit (created_at);

-- Unanswered questions an admin has dealt with (by normalized text), so they leave the review list.
CREATE TABLE review_resolved (
    text_key     TEXT PRIMARY KEY,
    item_id      TEXT NULL,
    resolved_by  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
