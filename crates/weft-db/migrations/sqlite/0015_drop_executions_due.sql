-- `executions_due` (run_at, over queued and running executions) served the first claim, which
-- read the due executions in run_at order. The fair claim reads them per customer through
-- `executions_fair` (customer_id, run_at, id) over the same rows, so nothing reads this index
-- any more, and every execution paid for it: one entry written when it is created or requeued.
DROP INDEX executions_due;
