-- Flow control: webhook idempotency keys, cancel requests, fair claiming across customers.

-- The sender's `Idempotency-Key`: one execution per (instance, key). Partial, so the many
-- executions without a key cost the index nothing (and NULLs never collide anyway).
ALTER TABLE executions ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX executions_idempotency ON executions (instance_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Set when a running execution is canceled; its runner stops at the next completed call.
ALTER TABLE executions ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;

-- Fair claiming walks each customer's due executions oldest first: (customer, run_at, id) over
-- the claimable rows finds customers with due work and each one's next execution by seeks,
-- without reading a big customer's whole backlog.
CREATE INDEX executions_fair ON executions (customer_id, run_at, id) WHERE status IN ('queued', 'running');
