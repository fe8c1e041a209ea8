-- finished_by: the node that moved the task to its final state (its worker,
-- its reaper, or its CancelTask of a PENDING task); NULL until then.
-- locked_by stays "the node running it, while RUNNING".
ALTER TABLE dtp.task ADD COLUMN finished_by text;

-- A task's own retry backoff (CreateTask backoff_base_ms/backoff_max_ms);
-- NULL: the node's --backoff-base-ms / --backoff-max-ms.
ALTER TABLE dtp.task
    ADD COLUMN backoff_base_ms bigint CHECK (backoff_base_ms >= 1),
    ADD COLUMN backoff_max_ms  bigint CHECK (backoff_max_ms >= 1),
    ADD CONSTRAINT task_backoff_order
        CHECK (backoff_max_ms IS NULL OR backoff_base_ms IS NULL
               OR backoff_max_ms >= backoff_base_ms);
