-- One row per (instance, flow) with a schedule trigger. `next_fire_at` is the next due time
-- (unix ms); a scheduler fires a row by moving it forward with a compare-and-set, so a due time
-- is fired by exactly one scheduler. Pausing is the instance's `enabled` (joined when reading).
CREATE TABLE schedules (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL,
    instance_id     TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    customer_id     TEXT NOT NULL,
    integration_id  TEXT NOT NULL,
    version         BIGINT NOT NULL,
    flow_key        TEXT NOT NULL,
    -- the expression after evaluating `{{ … }}` against the instance's config
    cron            TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    next_fire_at    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX schedules_instance_flow ON schedules (instance_id, flow_key);
CREATE INDEX schedules_due ON schedules (next_fire_at);
