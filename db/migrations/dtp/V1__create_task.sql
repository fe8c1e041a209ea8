-- DTP's task table: one row per scheduler task, every state transition is an
-- UPDATE that names the state (and attempt) it expects.
CREATE TABLE dtp.task (
    id               bigserial PRIMARY KEY,
    type             text        NOT NULL,
    payload          text        NOT NULL,
    status           text        NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer     NOT NULL CHECK (max_attempts >= 1),
    timeout_ms       bigint      NOT NULL CHECK (timeout_ms >= 1),
    run_at           timestamptz NOT NULL DEFAULT now(),
    -- An idempotency key names one task: its fingerprint (md5 of the
    -- length-prefixed type and the payload) tells a replay from a conflict.
    idempotency_key  text,
    fingerprint      text,
    cancel_requested boolean     NOT NULL DEFAULT false,
    locked_by        text,
    lease_expires_at timestamptz,
    result           text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

CREATE UNIQUE INDEX task_idempotency_key_key ON dtp.task (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The claim query: due PENDING tasks in order.
CREATE INDEX task_pending_run_at_idx ON dtp.task (run_at, id)
    WHERE status = 'PENDING';
-- The reaper: RUNNING tasks by lease expiry.
CREATE INDEX task_running_lease_idx ON dtp.task (lease_expires_at)
    WHERE status = 'RUNNING';
-- Listing by status.
CREATE INDEX task_status_id_idx ON dtp.task (status, id);
