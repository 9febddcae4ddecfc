-- The custom component versions an integration version runs with, pinned when it is published:
-- a JSON object of component key -> component version (`{"acme-crm": "1.2.0"}`).
ALTER TABLE integration_versions ADD COLUMN components TEXT NOT NULL DEFAULT '{}';
