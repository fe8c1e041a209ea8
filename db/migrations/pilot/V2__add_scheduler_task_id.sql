-- The binding to DTP: the id CreateTask returned. One DTP task per web task.
ALTER TABLE pilot.web_task ADD COLUMN scheduler_task_id BIGINT;

CREATE UNIQUE INDEX web_task_scheduler_task_id_key
    ON pilot.web_task (scheduler_task_id)
    WHERE scheduler_task_id IS NOT NULL;
