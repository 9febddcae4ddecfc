-- One sealed check value per master key id, written by the first node that used the key: a node
-- whose key of the same id differs cannot open it and refuses to start, instead of sealing
-- secrets that the other nodes cannot read.
CREATE TABLE master_key_checks (
    key_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
