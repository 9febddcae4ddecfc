-- A poll trigger's state per (instance, flow): its cursor and the ids of the records it emitted
-- last (JSON). Kept apart from `schedules`, whose rows are replaced on every deploy, upgrade and
-- resume, so the cursor survives them; written in the transaction that fires the schedule.
CREATE TABLE poll_state (
    instance_id     TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    flow_key        TEXT NOT NULL,
    state           TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (instance_id, flow_key)
);
