CREATE OR REPLACE FUNCTION weft_finish(p_id text) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE r bigint;
BEGIN
WITH u AS (UPDATE executions SET status = 'succeeded',
     result = CASE WHEN EXISTS (SELECT 1 FROM instances i WHERE i.id = executions.instance_id AND i.store_payloads = 0) THEN NULL ELSE '{"order":"A-1","total":110,"forwarded":true}' END,
     error = NULL,
     state = CASE WHEN EXISTS (SELECT 1 FROM instances i WHERE i.id = executions.instance_id AND i.store_payloads = 0) THEN NULL ELSE '{"status":"succeeded","trigger":null,"next_call":2,"next_frame":9,"frames":{},"result":{"order":"A-1","total":110,"forwarded":true},"error":null}' END,
     trigger_data = CASE WHEN EXISTS (SELECT 1 FROM instances i WHERE i.id = executions.instance_id AND i.store_payloads = 0) THEN '{"omitted":true}' ELSE trigger_data END,
     response = COALESCE(NULL, response), finished_at = 2, started_at = COALESCE(started_at, 2), lease_owner = NULL, lease_until = NULL,
     step_seq = step_seq + 6, log_seq = log_seq + 1
   WHERE id = p_id AND lease_owner = 'bench'
   RETURNING step_seq, log_seq, cancel_requested),
 s AS (INSERT INTO execution_steps (execution_id, seq, path, key, kind, action, status, input, output, error, attempts, started_at, finished_at)
   SELECT v.c1, u.step_seq - 6 + v.c2, v.c3, v.c4, v.c5, v.c6, v.c7, v.c8, v.c9, v.c10, v.c11, v.c12, v.c13 FROM u, (VALUES
   (p_id, 1, 'lines[0].line', 'line', 'transform', NULL, 'succeeded', NULL, '{"sku":"AB-1","subtotal":60}', NULL, 1, 1, 1),
   (p_id, 2, 'lines[1].line', 'line', 'transform', NULL, 'succeeded', NULL, '{"sku":"CD-2","subtotal":50}', NULL, 1, 1, 1),
   (p_id, 3, 'lines', 'lines', 'for_each', NULL, 'succeeded', '[{"sku":"ab-1","qty":2,"price":30},{"sku":"cd-2","qty":1,"price":50}]', '[{"sku":"AB-1","subtotal":60},{"sku":"CD-2","subtotal":50}]', NULL, 1, 1, 1),
   (p_id, 4, 'total', 'total', 'transform', NULL, 'succeeded', NULL, '110', NULL, 1, 1, 1),
   (p_id, 5, 'forward', 'forward', 'action', 'http.request', 'succeeded', '{"method":"POST","url":"http://127.0.0.1:41235/orders","json":{"id":"A-1","total":110,"lines":[{"sku":"AB-1","subtotal":60},{"sku":"CD-2","subtotal":50}],"tags":["weft"]}}', '{"status":200,"headers":{"content-type":"application/json","content-length":"16"},"body":{"accepted":"A-1"}}', NULL, 1, 1, 1),
   (p_id, 6, 'decide', 'decide', 'branch', NULL, 'succeeded', NULL, '{"status":200,"headers":{"content-type":"application/json","content-length":"16"},"body":{"accepted":"A-1"}}', NULL, 1, 1, 1)
   ) AS v (c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13)),
 l AS (INSERT INTO execution_logs (execution_id, seq, at, level, step_path, message)
   SELECT v.c1, u.log_seq - 1 + v.c2, v.c3, v.c4, v.c5, v.c6 FROM u, (VALUES (p_id, 1, 1, 'info', 'forward', 'POST http://127.0.0.1:41235/orders -> 200 in 1 ms')) AS v (c1, c2, c3, c4, c5, c6))
SELECT step_seq INTO r FROM u;
RETURN r;
END $f$;
