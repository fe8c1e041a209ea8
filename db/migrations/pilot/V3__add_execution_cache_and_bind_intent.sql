-- The execution status TaskPilot last saw of a web task's DTP task, and when
-- (TaskPilot's clock), so a list shows progress without a DTP call per task;
-- when TaskPilot last asked DTP about it, answered or not (the refresher
-- takes the least recently asked first); and the bind intent: set before
-- DTP is called, so a bind cut short by a crash is finished by the
-- reconciler with the same idempotency key (pilot/README.md).
ALTER TABLE pilot.web_task
    ADD COLUMN execution_status text
        CONSTRAINT web_task_execution_status_check CHECK (execution_status IN
            ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    ADD COLUMN execution_seen_at timestamptz,
    ADD COLUMN execution_checked_at timestamptz,
    ADD COLUMN bind_requested_at timestamptz,
    ADD CONSTRAINT web_task_execution_seen_check
        CHECK ((execution_status IS NULL) = (execution_seen_at IS NULL));

-- The reconciler's queue: binds asked for and not finished, oldest first.
CREATE INDEX web_task_bind_pending_idx
    ON pilot.web_task (bind_requested_at, id)
    WHERE scheduler_task_id IS NULL AND bind_requested_at IS NOT NULL;

-- The refresher's queue: bound web tasks whose execution may still change,
-- least recently asked first.
CREATE INDEX web_task_refresh_idx
    ON pilot.web_task (execution_checked_at NULLS FIRST, id)
    WHERE scheduler_task_id IS NOT NULL
      AND (execution_status IS NULL
           OR execution_status IN ('PENDING', 'RUNNING'));
