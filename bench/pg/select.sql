-- pgbench: a task read by primary key, as GetTask reads it. The PK read
-- floor. :rows is the number of preloaded rows (pgbench -D rows=N).
\set id random(1, :rows)
SELECT id, type, payload, status, attempts, max_attempts, timeout_ms, run_at,
       idempotency_key, cancel_requested, locked_by, lease_expires_at, result,
       last_error, created_at, updated_at, started_at, finished_at
    FROM dtp.task WHERE id = :id;
