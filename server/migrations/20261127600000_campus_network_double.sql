-- 校园网 traffic as an 8-byte float on both databases. REAL is 8 bytes on SQLite but 4 on PostgreSQL (about seven
-- significant digits), where 99088.733 MB came back as 99088.734. DOUBLE PRECISION is float8 on PostgreSQL and
-- REAL (8 bytes) on SQLite. Portable SQL: the table is rebuilt, since SQLite cannot change a column's type.
-- Rows already written on PostgreSQL keep the value they were rounded to.

CREATE TABLE campus_network_f8 (
    user_id        TEXT PRIMARY KEY,
    balance_cents  INTEGER NOT NULL,
    traffic_mb     DOUBLE PRECISION NOT NULL
);

INSERT INTO campus_network_f8 (user_id, balance_cents, traffic_mb)
    SELECT user_id, balance_cents, traffic_mb FROM campus_network;

DROP TABLE campus_network;

ALTER TABLE campus_network_f8 RENAME TO campus_network;
