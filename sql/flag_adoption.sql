-- rollout.flag_adoption: what each flag does now, how often it is evaluated, who changed it last.
-- Evaluation counts need shared_preload_libraries: they are left out here (rollout.flag_stats is
-- tested in counters.sql), so this output is the same with and without preloading.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never
\set VERBOSITY terse

SET rollout.actor = 'alice@example.com';
SELECT rollout.create_flag('new_dashboard'), rollout.allow_users('new_dashboard', ARRAY['1', '2', '3']),
       rollout.deny_users('new_dashboard', ARRAY['66']), rollout.deploy('new_dashboard', 'beta');
SELECT rollout.grandfather('new_dashboard', ARRAY['9001', '9002'], 'kept it during the beta', '2027-01-01');
SELECT rollout.override('new_dashboard', '9003', 'true', 'expired', '2026-01-01');
SET rollout.actor = 'bob@example.com';
SELECT rollout.create_flag('scheduled'), rollout.set_enabled('scheduled', true);
SELECT rollout.set_plan('scheduled', '[
  {"starts_at": "2026-12-01T09:00:00Z", "percentage": 10, "tiers": ["pro", "enterprise"]},
  {"starts_at": "2026-12-08T09:00:00Z", "percentage": 50, "tiers": ["pro", "enterprise"]},
  {"starts_at": "2026-12-15T09:00:00Z", "percentage": 100}]');
RESET rollout.actor;
SELECT rollout.create_flag('archived'), rollout.archive_flag('archived');

-- Before the plan starts: the fallthrough of flag_configs (0%), no stage. The override that
-- expired on 2026-01-01 is not active; the two until 2027 are.
SET rollout.now = '2026-11-20 00:00+00';
SELECT flag, environment, enabled, rollout_percentage, allowed_tiers, plan_stage_started_at, rules,
       allow_list_size, deny_list_size, active_overrides, last_changed_by, last_change
  FROM rollout.flag_adoption ORDER BY flag;
-- During the second stage, and after the last.
SET rollout.now = '2026-12-09 00:00+00';
SELECT flag, rollout_percentage, allowed_tiers, plan_stage_started_at FROM rollout.flag_adoption WHERE flag = 'scheduled';
SET rollout.now = '2027-02-01 00:00+00';
SELECT flag, rollout_percentage, allowed_tiers, plan_stage_started_at, active_overrides
  FROM rollout.flag_adoption ORDER BY flag;
RESET rollout.now;

-- A direct change to the table is a change too (recorded by the audit trigger).
SET rollout.actor = 'carol@example.com';
UPDATE rollout.flag_configs SET enabled = false WHERE flag = 'new_dashboard';
RESET rollout.actor;
SELECT flag, enabled, last_change, last_changed_by,
       last_changed_at = (SELECT max(at) FROM rollout.audit_log WHERE flag = 'new_dashboard') AS latest
  FROM rollout.flag_adoption WHERE flag = 'new_dashboard';

-- A dashboard role granted rollout_reader reads it (the audit log itself is for admins only).
CREATE ROLE rollout_test_grafana;
GRANT rollout_reader TO rollout_test_grafana;
SET ROLE rollout_test_grafana;
SELECT flag, last_changed_by FROM rollout.flag_adoption ORDER BY flag;
SELECT count(*) FROM rollout.audit_log;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE rollout_test_grafana;

DROP EXTENSION pg_rollout;
