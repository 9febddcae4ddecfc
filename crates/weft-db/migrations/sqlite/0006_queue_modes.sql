-- Queue modes and concurrency limits (see `limits` and `claim_walk` in executions.rs).

-- The flow's limit on concurrently running executions per instance, copied from its
-- definition when the execution is created, so that claiming reads no definition. NULL:
-- unlimited (`parallel` without `max_concurrency`). `fifo` (1/0) also means strictly oldest
-- first within (instance, flow); its queue_limit is 1.
ALTER TABLE executions ADD COLUMN queue_limit BIGINT;
ALTER TABLE executions ADD COLUMN fifo BIGINT NOT NULL DEFAULT 0;

-- Settings: at most this many running executions per instance / per customer; NULL: unlimited.
ALTER TABLE instances ADD COLUMN max_concurrency BIGINT;
ALTER TABLE customers ADD COLUMN max_concurrency BIGINT;

-- Counting live leases per (instance, flow), per instance and per customer reads only running
-- rows, which are few; `lease_until` in the index keeps the count index-only.
CREATE INDEX executions_running_flow ON executions (instance_id, flow_key, lease_until) WHERE status = 'running';
CREATE INDEX executions_running_customer ON executions (customer_id, lease_until) WHERE status = 'running';
-- A fifo execution waits while an older one of its (instance, flow) is queued or running.
CREATE INDEX executions_active_flow ON executions (instance_id, flow_key, created_at, id)
    WHERE status IN ('queued', 'running');
