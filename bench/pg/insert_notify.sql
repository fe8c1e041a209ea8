-- pgbench: the insert floor with CreateTask's pg_notify in the same
-- statement. PostgreSQL serialises the commits of transactions that
-- notify (one global lock held until the commit is flushed), so this
-- shows what a NOTIFY per task costs next to insert.sql.
INSERT INTO dtp.task (type, payload, max_attempts, timeout_ms)
    VALUES ('demo', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 3, 30000)
    RETURNING id, pg_notify('dtp_task', '');
