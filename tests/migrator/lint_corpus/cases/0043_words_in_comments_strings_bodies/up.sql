-- Cleans up old rows. Earlier we tried: DROP TABLE events; TRUNCATE orders;
/* ALTER TABLE accounts DROP COLUMN email; CREATE INDEX ON orders (total); */
COMMENT ON TABLE orders IS 'never TRUNCATE orders or VACUUM FULL it in business hours';
CREATE FUNCTION purge_events(keep interval) RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
  DELETE FROM events WHERE id < 0;
  -- a maintenance job may: LOCK TABLE events; DROP TABLE legacy_sessions;
  EXECUTE 'ALTER TABLE events DROP COLUMN payload';
END
$body$;
DO $$ BEGIN RAISE NOTICE 'DROP TABLE accounts; RENAME COLUMN'; END $$;
