-- TaskPilot's web tasks: what a user asked for. TaskPilot never runs them.
CREATE TABLE pilot.web_task (
    id         bigserial PRIMARY KEY,
    type       text        NOT NULL,
    payload    text        NOT NULL,
    title      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
