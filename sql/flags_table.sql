-- rollout.flags: validation, permissions, triggers and dump configuration.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never

INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES ('checkout', true, 25);

-- Bad input gets an SQLSTATE and a hint, and changes nothing.
INSERT INTO rollout.flags (key, rollout_percentage) VALUES ('too_much', 101);
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.flags SET rollout_percentage = -1 WHERE key = 'checkout';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key) VALUES ('');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key) VALUES (E'tab\there');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key, salt) VALUES ('salty', '');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key, rollout_percentage) VALUES ('huge', 1000);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key) VALUES ('checkout');
\echo :LAST_ERROR_SQLSTATE
SELECT key, enabled, rollout_percentage FROM rollout.flags ORDER BY key;

-- Percentages keep 1/100 of a percent (1/10000 of users).
INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES ('fine', true, 12.345);
SELECT rollout_percentage FROM rollout.flags WHERE key = 'fine';

-- updated_at moves on update.
UPDATE rollout.flags SET updated_at = '2000-01-01', created_at = '2000-01-01' WHERE key = 'checkout';
SELECT updated_at > '2000-01-01' AS updated_at_moved, created_at = '2000-01-01' AS created_at_kept
FROM rollout.flags WHERE key = 'checkout';

-- The cache triggers fire for every writer, replication apply workers included.
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'rollout.flags'::regclass AND NOT tgisinternal ORDER BY tgname;
UPDATE rollout.flags SET rollout_percentage = 100 WHERE key = 'checkout';
SELECT feature_enabled(1, 'checkout') AS on_before_replica_update;
SET session_replication_role = replica;
UPDATE rollout.flags SET enabled = false WHERE key = 'checkout';
SELECT feature_enabled(1, 'checkout') AS on_after_replica_update;
RESET session_replication_role;

-- An application role evaluates flags but cannot edit them.
CREATE ROLE rollout_test_app;
SET ROLE rollout_test_app;
SELECT feature_enabled(1, 'fine') IS NOT NULL AS app_can_evaluate;
UPDATE rollout.flags SET enabled = true WHERE key = 'checkout';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE rollout_test_app;

-- The trigger function refuses to be called directly.
SELECT rollout.flags_changed();
\echo :LAST_ERROR_SQLSTATE

-- A damaged installation is reported, not misread.
BEGIN;
ALTER TABLE rollout.flags RENAME COLUMN salt TO seed;
SELECT feature_enabled(1, 'fine');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
ALTER TABLE rollout.flags RENAME TO flags_moved;
SELECT feature_enabled(1, 'fine');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) FILTER (WHERE feature_enabled(g, 'fine')) AS fine_users_of_1000 FROM generate_series(1, 1000) AS g;

-- Flag rows are dumped with the extension.
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'pg_rollout';

DROP EXTENSION pg_rollout;
