-- Retention: execution data is pruned by age (days after it finished), per organization with
-- per-instance overrides; an instance can also keep no payloads at all.

-- The organization's default, in days.
ALTER TABLE organizations ADD COLUMN retention_days BIGINT NOT NULL DEFAULT 30;
-- NULL: the organization's default applies.
ALTER TABLE instances ADD COLUMN retention_days BIGINT;
-- 0: finished executions keep no trigger body, result or step inputs/outputs (see `retention`).
ALTER TABLE instances ADD COLUMN store_payloads BIGINT NOT NULL DEFAULT 1;
-- The few instances with an override, found without reading every instance.
CREATE INDEX instances_retention ON instances (id) WHERE retention_days IS NOT NULL;

-- Pruning seeks the oldest finished executions of an organization (its default) and of an
-- instance (its override) by range, never reading what is not due. Partial: queued and running
-- executions are never pruned and cost these indexes nothing.
CREATE INDEX executions_org_finished ON executions (org_id, finished_at)
    WHERE status IN ('succeeded', 'failed', 'canceled');
CREATE INDEX executions_instance_finished ON executions (instance_id, finished_at)
    WHERE status IN ('succeeded', 'failed', 'canceled');
