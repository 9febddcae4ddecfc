-- Weft schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql: the crate runs the
-- same statements on both, so column names and meanings must match exactly.
-- Types: ids TEXT, timestamps INTEGER unix milliseconds, JSON as TEXT, booleans INTEGER 0/1.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    -- sha256 hex of the plaintext; the plaintext is never stored
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX api_tokens_org ON api_tokens (org_id, id);

CREATE TABLE customers (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    external_id  TEXT,
    name         TEXT NOT NULL,
    labels       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX customers_org ON customers (org_id, id);
CREATE UNIQUE INDEX customers_org_external ON customers (org_id, external_id);

CREATE TABLE integrations (
    id                TEXT PRIMARY KEY NOT NULL,
    org_id            TEXT NOT NULL REFERENCES organizations (id),
    key               TEXT NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT,
    draft_format      TEXT NOT NULL,
    draft_source      TEXT NOT NULL,
    draft_definition  TEXT NOT NULL,
    latest_version    INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX integrations_org ON integrations (org_id, id);
CREATE UNIQUE INDEX integrations_org_key ON integrations (org_id, key);

CREATE TABLE integration_versions (
    integration_id  TEXT NOT NULL REFERENCES integrations (id),
    version         INTEGER NOT NULL,
    org_id          TEXT NOT NULL,
    format          TEXT NOT NULL,
    source          TEXT NOT NULL,
    definition      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (integration_id, version)
);

CREATE TABLE instances (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    integration_id  TEXT NOT NULL REFERENCES integrations (id),
    version         INTEGER NOT NULL,
    name            TEXT NOT NULL,
    config          TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    FOREIGN KEY (integration_id, version) REFERENCES integration_versions (integration_id, version)
);
CREATE INDEX instances_org ON instances (org_id, id);
CREATE INDEX instances_customer ON instances (customer_id, id);
CREATE INDEX instances_integration ON instances (integration_id, id);

CREATE TABLE webhooks (
    -- 64 hex chars from 32 random bytes: the secret part of the webhook URL
    token        TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL,
    instance_id  TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    flow_key     TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX webhooks_instance_flow ON webhooks (instance_id, flow_key);

-- Executions are the queue: no foreign keys to instances/customers, because executions outlive
-- the instance that produced them (history stays visible after a delete).
CREATE TABLE executions (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL,
    instance_id     TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    integration_id  TEXT NOT NULL,
    version         INTEGER NOT NULL,
    flow_key        TEXT NOT NULL,
    status          TEXT NOT NULL,
    trigger_data    TEXT NOT NULL,
    result          TEXT,
    error           TEXT,
    response        TEXT,
    state           TEXT,
    attempts        INTEGER NOT NULL,
    replay_of       TEXT,
    lease_owner     TEXT,
    lease_until     INTEGER,
    -- when the execution may next be claimed: creation time while queued, the lease expiry while
    -- running; one partial index over (status, run_at) serves both "queued" and "lease expired"
    run_at          INTEGER NOT NULL,
    -- last seq handed out to execution_steps / execution_logs of this execution
    step_seq        INTEGER NOT NULL,
    log_seq         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER
);
CREATE INDEX executions_due ON executions (run_at) WHERE status IN ('queued', 'running');
CREATE INDEX executions_org ON executions (org_id, id);
CREATE INDEX executions_instance ON executions (instance_id, id);
CREATE INDEX executions_customer ON executions (customer_id, id);
CREATE INDEX executions_org_status ON executions (org_id, status, id);
CREATE INDEX executions_org_flow ON executions (org_id, flow_key, id);
CREATE INDEX executions_org_created ON executions (org_id, created_at);

CREATE TABLE execution_steps (
    execution_id  TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    path          TEXT NOT NULL,
    key           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    action        TEXT,
    status        TEXT NOT NULL,
    input         TEXT,
    output        TEXT,
    error         TEXT,
    attempts      INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE execution_logs (
    execution_id  TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    level         TEXT NOT NULL,
    step_path     TEXT,
    message       TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
