-- OAuth 2.0 connections. The vendor's OAuth apps (client id in the clear, secret sealed), one
-- row per OAuth connection of an instance (its tokens sealed, its status, and the lease that
-- makes a token refresh single-flight across every node), and pending authorizations (the
-- state is stored hashed, the PKCE verifier sealed; each is used once and expires).
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
    instance_id   TEXT NOT NULL,
    key           TEXT NOT NULL,
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
    UNIQUE (instance_id, key)
);
CREATE INDEX connections_expiry ON connections (expires_at);

CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    verifier      TEXT,
    success_url   TEXT,
    failure_url   TEXT,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oauth_states_connection ON oauth_states (connection_id);
