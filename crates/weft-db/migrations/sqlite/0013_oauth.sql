-- Connections as objects. The vendor's OAuth apps (client id in the clear, secret sealed); one
-- row per connection owned by an instance (its OAuth connections) or by a customer (reused by
-- the customer's instances: static credentials sealed in `fields`, or OAuth tokens), each with
-- its status and, for OAuth, sealed tokens and the lease that makes a refresh single-flight
-- across every node; and pending authorizations (the state stored hashed, the PKCE verifier
-- sealed; each is used once and expires).
CREATE TABLE oauth_clients (
    org_id        TEXT NOT NULL,
    key           TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, key)
);

CREATE TABLE connections (
    id            TEXT PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    -- NULL for a customer's own connection.
    instance_id   TEXT,
    -- `instance:<id>` or `customer:<id>`: what the key is unique within.
    owner         TEXT NOT NULL,
    key           TEXT NOT NULL,
    -- A customer's static connection ({type, fields…}), sealed.
    fields        TEXT,
    status        TEXT NOT NULL,
    message       TEXT,
    checked_at    BIGINT,
    tokens        TEXT,
    expires_at    BIGINT,
    lock_owner    TEXT,
    lock_until    BIGINT,
    version       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (owner, key)
);
CREATE INDEX connections_instance ON connections (instance_id);
CREATE INDEX connections_customer ON connections (customer_id);
CREATE INDEX connections_expiry ON connections (expires_at);

CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    -- The instance and config variable the authorization was started from (their definition
    -- says how to exchange the code).
    instance_id   TEXT NOT NULL,
    variable      TEXT NOT NULL,
    verifier      TEXT,
    success_url   TEXT,
    failure_url   TEXT,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oauth_states_connection ON oauth_states (connection_id);
