-- Every write of a session's row bumps its version, so a connection that remembers the state it wrote last can
-- prove, in the next turn's own UPDATE, that nobody (another replica, a login, a logout) changed it meanwhile.
ALTER TABLE sessions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
