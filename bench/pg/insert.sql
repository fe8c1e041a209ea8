-- pgbench: one task-like row per transaction, as CreateTask inserts it
-- (without its pg_notify). The insert floor.
INSERT INTO dtp.task (type, payload, max_attempts, timeout_ms)
    VALUES ('demo', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 3, 30000)
    RETURNING id;
