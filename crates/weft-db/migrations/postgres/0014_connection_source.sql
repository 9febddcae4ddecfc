-- A customer's OAuth connection belongs to no instance: the instance and config variable it was
-- last authorized through are kept, so the scheduler can refresh its tokens ahead of expiry by
-- that instance's definition (endpoints, OAuth client).
ALTER TABLE connections ADD COLUMN via_instance TEXT;
ALTER TABLE connections ADD COLUMN via_variable TEXT;
