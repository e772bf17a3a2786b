-- Bad input: every refusal has an SQLSTATE, a message naming the offending part and a hint, and
-- changes nothing (the fingerprint of every configuration table and the audit log is unchanged).
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never

CREATE FUNCTION fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.flags t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.flag_configs t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.rules t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.overrides t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.prerequisites t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.plan_stages t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.stage_presets t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM rollout.environments t),
        (SELECT count(*)::text FROM rollout.audit_log),
        (SELECT version::text FROM rollout.config_version)))
$$;

SELECT rollout.create_flag('f'), rollout.create_flag('g'), rollout.create_flag('h');
SELECT rollout.create_flag('mv', '', '[{"key":"a","weight":50},{"key":"b","weight":50}]');
SELECT rollout.set_prerequisite('g', 'f'), rollout.set_prerequisite('h', 'g');
SELECT fingerprint() AS before \gset

\set VERBOSITY default
-- Unknown flag and environment in the management API: 42704.
SELECT rollout.set_enabled('nope', true);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_rollout('f', 10, NULL, 'nowhere');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.remove_rule('f', 99);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.deploy('f', 'someday');
\echo :LAST_ERROR_SQLSTATE
-- Duplicate keys: 42710.
SELECT rollout.create_flag('f');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_environment('production');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key) VALUES ('f');
\echo :LAST_ERROR_SQLSTATE
-- Keys: blank, too long, control characters (API and direct DML alike): 22023.
SELECT rollout.create_flag('');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_flag('   ');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_flag(repeat('k', 201));
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key) VALUES (repeat('x', 3200));
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.flags (key) VALUES (E'tab\there');
\echo :LAST_ERROR_SQLSTATE
-- Percentages: outside 0-100, more than two decimals, NULL (API and direct DML): 22023.
SELECT rollout.set_rollout('f', 101);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_rollout('f', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_rollout('f', 12.345);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_rollout('f', NULL);
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.flag_configs SET rollout_percentage = 1000 WHERE flag = 'f';
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.flag_configs SET rollout_percentage = 99.999 WHERE flag = 'f';
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('f', '[]', 100.5);
\echo :LAST_ERROR_SQLSTATE
-- Malformed constraints: not JSON array, unknown operator, missing attribute.
SELECT rollout.add_rule('f', '{"attribute":"tier"}');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('f', '[{"attribute":"tier","op":"inn","values":["pro"]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('f', '[{"op":"in","values":["pro"]}]');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.rules (flag, environment, number, constraints) VALUES ('f', 'production', 1, '[{"attribute":"tier","op":"bogus"}]');
\echo :LAST_ERROR_SQLSTATE
-- Values: a boolean flag serves true/false; a multivariate one also its variant keys.
SELECT rollout.add_rule('f', '[]', 100, NULL, '"blue"');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.override('mv', '1', '"c"');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.override('f', '1', '42');
\echo :LAST_ERROR_SQLSTATE
-- Variants whose weights don't sum to 100, duplicate variant keys.
SELECT rollout.create_flag('bad_weights', '', '[{"key":"a","weight":50},{"key":"b","weight":40}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_flag('dup_variants', '', '[{"key":"a","weight":50},{"key":"a","weight":50}]');
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.flags SET variants = '[{"key":"a","weight":"all"}]' WHERE key = 'f';
\echo :LAST_ERROR_SQLSTATE
-- A prerequisite cycle, directly or transitively: 42P17.
SELECT rollout.set_prerequisite('f', 'f');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_prerequisite('f', 'h');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_prerequisite('f', 'nope');
\echo :LAST_ERROR_SQLSTATE
-- Plans whose stages are not in time order, or malformed.
SELECT rollout.set_plan('f', '[{"starts_at":"2030-02-01","percentage":50},{"starts_at":"2030-01-01","percentage":100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_plan('f', '[{"starts_at":"soon","percentage":50}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_plan('f', '[{"starts_at":"2030-01-01","percentage":500}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_plan('f', '[{"starts_at":"2030-01-01","percent":50}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_plan('f', '{}');
\echo :LAST_ERROR_SQLSTATE
-- Lists and overrides need user ids.
SELECT rollout.allow_users('f', ARRAY[NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.allow_users('f', ARRAY['']);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.grandfather('f', ARRAY['1'], '');
\echo :LAST_ERROR_SQLSTATE
-- Deleting a flag that others require is refused.
DELETE FROM rollout.flags WHERE key = 'f';
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse

SELECT fingerprint() = :'before' AS nothing_changed;

-- The audit log is append-only, even for a superuser who is not its owner.
CREATE ROLE rollout_test_other SUPERUSER;
SET ROLE rollout_test_other;
DELETE FROM rollout.audit_log;
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.audit_log SET action = 'forged';
TRUNCATE rollout.audit_log;
RESET ROLE;
DROP ROLE rollout_test_other;
SELECT fingerprint() = :'before' AS audit_log_intact;

DROP EXTENSION pg_rollout;
