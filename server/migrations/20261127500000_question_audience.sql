-- Who asked each logged question: the asker's audience (student, teacher, staff or guest), so that 热门问题 and
-- the welcome's 想问 are computed per audience. NULL for questions logged before this column existed (they count
-- only towards the overall list). Portable SQL (SQLite and PostgreSQL): a nullable TEXT column and an index.

ALTER TABLE question_log ADD COLUMN audience TEXT NULL;

CREATE INDEX question_log_audience ON question_log (audience, created_at);
