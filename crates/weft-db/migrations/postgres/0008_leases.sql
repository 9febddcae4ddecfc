-- A runner's heartbeat renews every lease it holds in one statement (`Db::renew_leases`).
CREATE INDEX executions_leased ON executions (lease_owner) WHERE status = 'running';
