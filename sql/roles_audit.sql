-- Roles: a login role granted only rollout_reader evaluates and reads but cannot write; editors
-- use the API; admins edit presets and environments and read the audit log. The audit log
-- records every change with who, what and when.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never
\set VERBOSITY terse

SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'rollout\_%' ORDER BY rolname;

SET application_name = 'roles_test';
SET rollout.actor = 'alice@example.com';
SELECT rollout.create_flag('checkout'), rollout.deploy('checkout', 'beta');
RESET rollout.actor;

CREATE ROLE rollout_test_app LOGIN;
GRANT rollout_reader TO rollout_test_app;
CREATE ROLE rollout_test_editor LOGIN;
GRANT rollout_editor TO rollout_test_editor;
CREATE ROLE rollout_test_nobody LOGIN;

-- The reader evaluates and reads...
SET ROLE rollout_test_app;
SELECT feature_enabled(1, 'checkout', '{"tier":"pro"}') IS NOT NULL AS evaluates,
       (SELECT count(*) FROM rollout.flags) AS reads_flags,
       (SELECT environment FROM rollout.cache_stats()) AS reads_stats;
-- ...but every write and every management call is refused (42501).
INSERT INTO rollout.flags (key) VALUES ('sneaky');
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.flag_configs SET enabled = false;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM rollout.rules;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE rollout.overrides;
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_enabled('checkout', false);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_flag('sneaky');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.deploy('checkout', 'general');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM rollout.audit_log;
\echo :LAST_ERROR_SQLSTATE
SELECT rollout._environment_document('production');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A role with no grant at all still evaluates (as in 1.0) but cannot read the configuration.
SET ROLE rollout_test_nobody;
SELECT feature_enabled(1, 'checkout') IS NOT NULL AS evaluates;
SELECT count(*) FROM rollout.flag_configs;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The editor changes flags through the API only; changes are attributed to the editor.
SET ROLE rollout_test_editor;
SET rollout.actor = 'bob@example.com';
SELECT rollout.set_rollout('checkout', 20, ARRAY['pro']);
UPDATE rollout.flag_configs SET enabled = false;
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.stage_presets SET rollout_percentage = 5 WHERE name = 'beta';
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_environment('qa');
\echo :LAST_ERROR_SQLSTATE
RESET rollout.actor;
RESET ROLE;

-- The admin edits presets and environments and reads the audit log.
CREATE ROLE rollout_test_admin LOGIN;
GRANT rollout_admin TO rollout_test_admin;
SET ROLE rollout_test_admin;
UPDATE rollout.stage_presets SET rollout_percentage = 15 WHERE name = 'beta';
SELECT rollout.create_environment('qa', 'Quality assurance');
SELECT count(*) > 0 AS reads_audit_log FROM rollout.audit_log;
RESET ROLE;

-- Who did what, when, in which transaction.
SELECT action, table_name, flag, environment, session_user_name = session_user AS session_user_recorded,
       current_user_name, application_name, actor,
       old ->> 'rollout_percentage' AS old_percentage, new ->> 'rollout_percentage' AS new_percentage,
       transaction_id IS NOT NULL AS has_xid
FROM rollout.audit_log ORDER BY id;

-- Direct DML by the owner is audited too.
UPDATE rollout.flag_configs SET enabled = false WHERE flag = 'checkout' AND environment = 'production';
SELECT action, table_name, old ->> 'enabled' AS old_enabled, new ->> 'enabled' AS new_enabled
FROM rollout.audit_log ORDER BY id DESC LIMIT 1;

-- SECURITY DEFINER functions pin search_path.
SELECT count(*) AS definer_functions_without_search_path
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'rollout' AND p.prosecdef
  AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

DROP EXTENSION pg_rollout;
DROP ROLE rollout_test_app, rollout_test_editor, rollout_test_nobody, rollout_test_admin;
