-- Secret config values of an instance (`secret` and `connection` variables), kept out of
-- `config`: a JSON object of variable key -> sealed text (`v1.<key id>.…`, see weft-vault),
-- each encrypted under its own data key and bound to the organization, the instance and the key.
ALTER TABLE instances ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';
