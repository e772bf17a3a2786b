-- The configuration tables: triggers, comments, dump configuration, damaged installations.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never
\set VERBOSITY terse

-- Every write path fires the triggers, replication apply workers included (ENABLE ALWAYS).
SELECT c.relname, t.tgname, t.tgenabled
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'rollout' AND NOT t.tgisinternal ORDER BY 1, 2;
SELECT rollout.create_flag('checkout'), rollout.deploy('checkout', 'general');
SELECT feature_enabled(1, 'checkout') AS on_before_replica_update;
SET session_replication_role = replica;
UPDATE rollout.flag_configs SET enabled = false WHERE flag = 'checkout';
SELECT feature_enabled(1, 'checkout') AS on_after_replica_update;
RESET session_replication_role;

-- updated_at moves on update; created_at stays.
UPDATE rollout.flags SET updated_at = '2000-01-01', created_at = '2000-01-01' WHERE key = 'checkout';
UPDATE rollout.flags SET description = 'The new checkout' WHERE key = 'checkout';
SELECT updated_at > '2000-01-01' AS updated_at_moved, created_at = '2000-01-01' AS created_at_kept
FROM rollout.flags WHERE key = 'checkout';

-- Renaming a flag carries its configuration; keep the salt to keep its users.
UPDATE rollout.flags SET salt = key, key = 'checkout_v2' WHERE key = 'checkout';
SELECT flag, environment FROM rollout.flag_configs;

-- Tables, columns and functions are documented; the extension's comment promises what exists.
SELECT c.relname, a.attname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
WHERE n.nspname = 'rollout' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(c.oid, a.attnum) IS NULL AND c.relname IN ('flags', 'flag_configs')
ORDER BY 1, 2;
SELECT c.relname AS undocumented_table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'rollout' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT obj_description(oid, 'pg_extension') AS extension_comment FROM pg_extension WHERE extname = 'pg_rollout';

-- The trigger functions refuse to be called directly.
SELECT rollout.flags_validate();
\echo :LAST_ERROR_SQLSTATE

-- A damaged installation is reported, not misread.
SELECT rollout.set_enabled('checkout_v2', true);
BEGIN;
ALTER TABLE rollout.config_version RENAME COLUMN version TO v;
SELECT feature_enabled(1, 'checkout_v2');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
DELETE FROM rollout.config_version;
SELECT feature_enabled(1, 'checkout_v2');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT feature_enabled(1, 'checkout_v2') AS still_works;

-- Configuration rows are dumped with the extension.
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'pg_rollout';

DROP EXTENSION pg_rollout;
SELECT feature_enabled(1, 'checkout_v2');
\echo :LAST_ERROR_SQLSTATE
