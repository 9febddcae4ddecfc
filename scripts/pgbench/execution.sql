INSERT INTO executions (id, org_id, instance_id, customer_id, integration_id, version, flow_key, status, trigger_data, attempts, replay_of, lease_owner, lease_until, run_at, step_seq, log_seq, created_at, started_at, idempotency_key, queue_limit, fifo)
VALUES ('exe_' || (:client_id)::text || '_' || (:n0)::text, 'org_1', 'ins_1', 'cus_1', 'int_1', 1, 'new-order', 'running', '{"method":"POST","headers":{"content-type":"application/json","accept":"*/*","host":"127.0.0.1:41234","content-length":"93"},"query":{},"body":{"id":"A-1","lines":[{"sku":"ab-1","qty":2,"price":30},{"sku":"cd-2","qty":1,"price":50}]}}', 1, NULL, 'bench', 9999999999999, 9999999999999, 0, 0, 1, 1, NULL, NULL, 0)
ON CONFLICT DO NOTHING;
SELECT weft_finish('exe_' || (:client_id)::text || '_' || (:n0)::text);
