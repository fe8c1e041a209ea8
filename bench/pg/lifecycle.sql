-- pgbench: a task's whole life as three transactions (autocommit): insert
-- PENDING, claim (RUNNING, attempt 1, lease), finish (SUCCEEDED), each
-- statement fenced on the state it expects. One pgbench transaction is one
-- task: the floor of a steady producer and of create->SUCCEEDED latency.
INSERT INTO dtp.task (type, payload, max_attempts, timeout_ms)
    VALUES ('demo', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 3, 30000)
    RETURNING id \gset
UPDATE dtp.task SET status = 'RUNNING', attempts = attempts + 1,
       started_at = now(), updated_at = now(), locked_by = 'bench',
       lease_expires_at = now() + interval '15 seconds'
    WHERE id = :id AND status = 'PENDING';
UPDATE dtp.task SET status = 'SUCCEEDED',
       result = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', finished_at = now(),
       locked_by = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = :id AND status = 'RUNNING' AND attempts = 1;
