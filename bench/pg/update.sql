-- pgbench: one task's final update per transaction (RUNNING -> SUCCEEDED
-- shape, on a random preloaded row). The floor of a burn-down, which needs
-- at least one durable commit per task.
\set id random(1, :rows)
UPDATE dtp.task SET status = 'SUCCEEDED',
       result = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', finished_at = now(),
       locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = :id;
