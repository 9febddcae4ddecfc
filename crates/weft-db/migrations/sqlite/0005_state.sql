-- Persisted key-value state of steps (the `state.*` actions), scoped to an instance, a flow of
-- an instance (`scope_id` = `instance_id:flow_key`) or a customer. Values are JSON text.
-- No foreign keys: like executions, state is addressed by ids the worker derives itself.
CREATE TABLE state (
    org_id TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, scope_kind, scope_id, key)
);

-- Results of `state.increment` / `state.compare_and_set`, which commit at call time: a step
-- run again after a crash (same execution, same step path) gets its first answer back instead
-- of applying the operation twice. Deleted when the execution finishes.
CREATE TABLE state_ops (
    execution_id TEXT NOT NULL,
    op_key TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (execution_id, op_key)
);
