-- Custom components (WebAssembly) per organization, and their immutable versions: the bytes as
-- uploaded and the description the component gave of itself (JSON).
CREATE TABLE components (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    key             TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT,
    latest_version  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX components_org_key ON components (org_id, key);
CREATE INDEX components_org ON components (org_id, id);

CREATE TABLE component_versions (
    component_id    TEXT NOT NULL REFERENCES components (id),
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    version         TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    wasm            BLOB NOT NULL,
    info            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (component_id, version)
);
