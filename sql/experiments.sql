-- Experiments: GrowthBook-compatible assignment (experiment_variant), sticky assignment with
-- exposures (experiment_assign), conversion events (rollout.track), the management API, bad input
-- (API and direct DML: SQLSTATE, message, hint, nothing changed), the audit log and roles.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never
SET max_parallel_workers_per_gather = 0;

-- A new experiment is a draft: nobody is in it.
SELECT rollout.create_experiment('button', ARRAY['control', 'treatment']);
SELECT status, seed, hash_version, coverage, hash_attribute FROM rollout.experiments WHERE key = 'button';
SELECT position, key, weight FROM rollout.experiment_variations ORDER BY position;
SELECT experiment_variant(1, 'button') AS draft_serves;

-- Running: every user gets a variation; the id's type does not matter.
SELECT rollout.set_experiment_status('button', 'running');
SELECT g AS id, experiment_variant(g, 'button') AS variant FROM generate_series(1, 6) AS g;
SELECT count(*) AS users,
       count(*) FILTER (WHERE experiment_variant(g, 'button') IS DISTINCT FROM experiment_variant(g::text, 'button')) AS text_differs
FROM generate_series(1, 10000) AS g;
SELECT experiment_variant('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'button')
       = experiment_variant('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'button') AS uuid_as_text;
SELECT experiment_variant(NULL::text, 'button') AS no_id, experiment_variant('', 'button') AS empty_id;

-- Uneven weights and a coverage of 50%: half the users, split 50/25/25.
SELECT rollout.create_experiment('pricing', ARRAY['base', 'cheaper', 'premium'], '{0.5,0.25,0.25}', coverage => 0.5,
                                 seed => 'pricing-2024', hash_version => 1);
SELECT rollout.set_experiment_status('pricing', 'running');
SELECT coalesce(v, 'not in') AS variant, count(*) BETWEEN n - 300 AND n + 300 AS near_expected
FROM (SELECT experiment_variant(g, 'pricing') AS v FROM generate_series(1, 20000) AS g) AS s
JOIN (VALUES ('base', 5000), ('cheaper', 2500), ('premium', 2500), ('not in', 10000)) AS e(k, n) ON k = coalesce(v, 'not in')
GROUP BY v, n ORDER BY v;

-- Paused, then running again: the same users get the same variations.
CREATE TEMP TABLE before_pause AS SELECT g AS id, experiment_variant(g, 'button') AS v FROM generate_series(1, 1000) AS g;
SELECT rollout.set_experiment_status('button', 'paused');
SELECT count(*) FILTER (WHERE experiment_variant(id, 'button') IS NOT NULL) AS served_while_paused FROM before_pause;
SELECT rollout.set_experiment_status('button', 'running');
SELECT count(*) FILTER (WHERE experiment_variant(id, 'button') IS DISTINCT FROM v) AS moved_after_pause FROM before_pause;

-- Targeting (the flags' constraint format) and bucketing by another attribute.
SELECT rollout.set_targeting('pricing', '[{"attribute": "tier", "op": "in", "values": ["pro", "enterprise"]}]');
SELECT rollout.set_coverage('pricing', 1);
SELECT experiment_variant(7, 'pricing', '{"tier": "free"}') AS free_user,
       experiment_variant(7, 'pricing', '{"tier": "pro"}') IS NOT NULL AS pro_user_in,
       experiment_variant(7, 'pricing') AS no_attributes;
SELECT rollout.set_hash_attribute('pricing', 'company');
SELECT count(DISTINCT experiment_variant(g, 'pricing', '{"tier": "pro", "company": "acme"}')) AS variants_within_one_company,
       count(*) FILTER (WHERE experiment_variant(g, 'pricing', '{"tier": "pro"}') IS NOT NULL) AS served_without_company
FROM generate_series(1, 200) AS g;
SELECT rollout.set_hash_attribute('pricing', NULL), rollout.set_targeting('pricing', NULL);

-- Namespaces: two experiments on disjoint halves of one namespace share no user.
SELECT rollout.create_experiment('ns_left', ARRAY['a', 'b'], namespace => 'checkout', namespace_end => 0.5),
       rollout.create_experiment('ns_right', ARRAY['a', 'b'], namespace => 'checkout', namespace_start => 0.5);
SELECT rollout.set_experiment_status('ns_left', 'running'), rollout.set_experiment_status('ns_right', 'running');
SELECT count(*) FILTER (WHERE experiment_variant(g, 'ns_left') IS NOT NULL) BETWEEN 4700 AND 5300 AS left_half,
       count(*) FILTER (WHERE experiment_variant(g, 'ns_right') IS NOT NULL) BETWEEN 4700 AND 5300 AS right_half,
       count(*) FILTER (WHERE experiment_variant(g, 'ns_left') IS NOT NULL AND experiment_variant(g, 'ns_right') IS NOT NULL) AS in_both
FROM generate_series(1, 10000) AS g;

-- The schedule uses the evaluation clock (rollout.now, else the transaction time).
SELECT rollout.set_schedule('ns_left', '2030-01-01', '2030-02-01');
SET rollout.now = '2029-12-31 23:59:59+00';
SELECT count(*) FILTER (WHERE experiment_variant(g, 'ns_left') IS NOT NULL) AS before_start FROM generate_series(1, 1000) AS g;
SET rollout.now = '2030-01-15 00:00:00+00';
SELECT count(*) FILTER (WHERE experiment_variant(g, 'ns_left') IS NOT NULL) > 0 AS during FROM generate_series(1, 1000) AS g;
SET rollout.now = '2030-02-01 00:00:00+00';
SELECT count(*) FILTER (WHERE experiment_variant(g, 'ns_left') IS NOT NULL) AS at_end FROM generate_series(1, 1000) AS g;
RESET rollout.now;
SELECT rollout.set_schedule('ns_left', NULL, NULL);

-- Unknown experiments follow rollout.missing_flag.
SELECT experiment_variant(1, 'nope') AS unknown;
SET rollout.missing_flag = warning;
SELECT experiment_variant(1, 'nope') AS unknown_warns;
SET rollout.missing_flag = error;
SELECT experiment_variant(1, 'nope') AS unknown_errors;
\echo :LAST_ERROR_SQLSTATE
RESET rollout.missing_flag;

-- A change is seen by the changing transaction at once, and by nobody after a rollback.
BEGIN;
SELECT rollout.set_weights('button', '{0,1}');
SELECT count(*) FILTER (WHERE experiment_variant(g, 'button') = 'treatment') AS treatment_inside FROM generate_series(1, 1000) AS g;
ROLLBACK;
SELECT count(*) FILTER (WHERE experiment_variant(g, 'button') = 'treatment') BETWEEN 400 AND 600 AS half_after_rollback
FROM generate_series(1, 1000) AS g;

-- experiment_assign: persisted once, with one exposure per assignment.
SELECT count(*) FILTER (WHERE experiment_assign(g, 'button') = experiment_variant(g, 'button')) AS assigned_as_variant
FROM generate_series(1, 1000) AS g;
SELECT count(*) AS assignments FROM rollout.experiment_assignments;
SELECT count(*) AS exposures, count(DISTINCT user_id) AS exposed_users FROM rollout.exposures;
SELECT experiment_assign(1, 'button') = experiment_assign('1', 'button') AS same_again;
SELECT count(*) AS exposures_after_repeat FROM rollout.exposures;

-- Sticky: after a weight change the stateless answer moves for some users, the assignment for none.
SELECT rollout.set_weights('button', '{0.1,0.9}');
SELECT count(*) FILTER (WHERE experiment_variant(a.user_id, 'button') <> a.variation) > 100 AS variant_moved_some,
       count(*) FILTER (WHERE experiment_assign(a.user_id, 'button') <> a.variation) AS assignment_moved
FROM rollout.experiment_assignments a;
-- New users are assigned with the new weights.
SELECT count(*) FILTER (WHERE experiment_assign(g, 'button') = 'treatment') BETWEEN 850 AND 950 AS new_users_90_percent
FROM generate_series(100001, 101000) AS g;

-- Not in the experiment: NULL, nothing persisted or recorded. A user assigned before the targeting
-- changed keeps the assignment (GrowthBook's sticky bucketing skips targeting for assigned users).
SELECT experiment_assign(5, 'pricing', '{"tier": "free"}') IS NOT NULL AS assigned_before_targeting;
SELECT rollout.set_targeting('pricing', '[{"attribute": "tier", "op": "eq", "value": "pro"}]');
SELECT experiment_assign(6, 'pricing', '{"tier": "free"}') AS free_user, experiment_assign('', 'button') AS empty_id,
       experiment_assign(6, 'nope') AS unknown, experiment_assign(6, NULL) AS null_experiment,
       experiment_assign(5, 'pricing', '{"tier": "free"}') = experiment_variant(5, 'pricing', '{"tier": "pro"}') AS sticky_user;
SELECT count(*) AS pricing_assignments FROM rollout.experiment_assignments a JOIN rollout.experiments e ON e.id = a.experiment_id
WHERE e.key = 'pricing';

-- A forced variation wins over assignments and is served to covered users, even once stopped
-- (GrowthBook's force); it is neither persisted nor recorded as an exposure.
SELECT rollout.force_variation('button', 'treatment');
SELECT count(*) FILTER (WHERE experiment_variant(g, 'button') = 'treatment') AS forced_variant,
       count(*) FILTER (WHERE experiment_assign(g, 'button') = 'treatment') AS forced_assign
FROM generate_series(1, 1000) AS g;
SELECT experiment_assign(900001, 'button') AS forced_new_user,
       (SELECT count(*) FROM rollout.experiment_assignments WHERE user_id = '900001') AS persisted;
SELECT rollout.set_experiment_status('button', 'stopped');
SELECT experiment_variant(3, 'button') AS stopped_forced, experiment_assign(3, 'button') AS stopped_forced_assign;
SELECT rollout.force_variation('button', NULL);
SELECT experiment_variant(3, 'button') AS stopped, experiment_assign(3, 'button') AS stopped_assign;
SELECT count(*) AS exposures_total FROM rollout.exposures;

-- rollout.track records conversion events.
SELECT rollout.track(1, 'purchase', 19.99), rollout.track('2', 'purchase'),
       rollout.track('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'signup', occurred_at => '2030-01-01');
SELECT user_id, event, value, occurred_at = '2030-01-01' AS given_time FROM rollout.events ORDER BY id;

-- Bad input: an error with SQLSTATE, message and hint, and nothing changes.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(to_jsonb(e)::text, ',' ORDER BY id) FROM rollout.experiments e),
        (SELECT string_agg(to_jsonb(v)::text, ',' ORDER BY experiment_id, position) FROM rollout.experiment_variations v),
        (SELECT count(*)::text FROM rollout.experiment_assignments),
        (SELECT count(*)::text FROM rollout.events),
        (SELECT count(*)::text FROM rollout.audit_log),
        (SELECT version::text FROM rollout.config_version)))
$$;
SELECT pg_temp.fingerprint() AS before \gset
SELECT rollout.create_experiment('bad', ARRAY['a', 'b'], '{0.5,0.6}');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['a', 'b'], '{1.5,-0.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['a', 'b', 'c'], '{0.5,0.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['a', 'a']);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['only']);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['a', 'b'], coverage => 1.5);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['a', 'b'], namespace => 'ns', namespace_start => 0.5, namespace_end => 0.5);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['a', 'b'], namespace => 'ns', namespace_end => 1.2);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('bad', ARRAY['a', 'b'], hash_version => 3);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('', ARRAY['a', 'b']);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.create_experiment('button', ARRAY['a', 'b']);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_weights('nope', '{0.5,0.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_weights('pricing', '{0.5,0.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_coverage('pricing', -0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_targeting('pricing', '[{"attribute": "tier", "op": "sounds_like", "value": "pro"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_schedule('pricing', '2030-02-01', '2030-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.force_variation('pricing', 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_experiment_status('button', 'running');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_experiment_status('pricing', 'draft');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.set_experiment_status('pricing', 'archived');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.delete_experiment('pricing');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.track('', 'purchase');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.track(1, ' ');
\echo :LAST_ERROR_SQLSTATE
-- The same rules hold for direct DML: the tables validate with the same core code.
UPDATE rollout.experiments SET coverage = 2 WHERE key = 'pricing';
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.experiments SET hash_version = 0 WHERE key = 'pricing';
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.experiments SET status = 'running' WHERE key = 'button';
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.experiment_variations SET weight = 0.7
WHERE position = 0 AND experiment_id = (SELECT id FROM rollout.experiments WHERE key = 'pricing');
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.experiment_variations SET weight = -0.5
WHERE position = 0 AND experiment_id = (SELECT id FROM rollout.experiments WHERE key = 'pricing');
\echo :LAST_ERROR_SQLSTATE
UPDATE rollout.experiment_variations SET key = 'base'
WHERE position = 1 AND experiment_id = (SELECT id FROM rollout.experiments WHERE key = 'pricing');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.experiments (key, seed) VALUES ('lonely', 'lonely');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM rollout.experiment_variations
WHERE position = 2 AND experiment_id = (SELECT id FROM rollout.experiments WHERE key = 'pricing');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.fingerprint() = :'before' AS nothing_changed;

-- A valid change through direct DML (both weights in one transaction) is accepted and evaluated.
BEGIN;
UPDATE rollout.experiment_variations SET weight = CASE position WHEN 0 THEN 0 ELSE 1 END
WHERE experiment_id = (SELECT id FROM rollout.experiments WHERE key = 'ns_right');
COMMIT;
SELECT count(*) FILTER (WHERE experiment_variant(g, 'ns_right') = 'a') AS control_after_dml FROM generate_series(1, 1000) AS g;

-- Payloads, archiving and deleting.
SELECT rollout.set_variation_payload('pricing', 'premium', '{"price": 49}');
SELECT key, payload FROM rollout.experiment_variations
WHERE experiment_id = (SELECT id FROM rollout.experiments WHERE key = 'pricing') ORDER BY position;
SELECT rollout.archive_experiment('ns_left');
SELECT experiment_variant(1, 'ns_left') AS archived;
SELECT rollout.delete_experiment('button');
SELECT count(*) AS button_rows_left
FROM rollout.experiment_assignments a WHERE NOT EXISTS (SELECT FROM rollout.experiments e WHERE e.id = a.experiment_id);

-- The audit log: every change of an experiment or a variation, API or DML, with the experiment.
SELECT experiment, action, table_name, count(*)
FROM rollout.audit_log WHERE experiment IS NOT NULL OR table_name LIKE 'experiment%'
GROUP BY experiment, action, table_name ORDER BY min(id);

-- Roles: anyone evaluates; rollout_reader also assigns and tracks; rollout_editor manages.
CREATE ROLE rollout_test_exp_app LOGIN;
GRANT rollout_reader TO rollout_test_exp_app;
CREATE ROLE rollout_test_exp_nobody LOGIN;
CREATE ROLE rollout_test_exp_editor LOGIN;
GRANT rollout_editor TO rollout_test_exp_editor;
SET ROLE rollout_test_exp_nobody;
SELECT experiment_variant(1, 'ns_right') IS NOT NULL AS nobody_evaluates;
SELECT experiment_assign(1, 'ns_right');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.track(1, 'purchase');
\echo :LAST_ERROR_SQLSTATE
SET ROLE rollout_test_exp_app;
SELECT experiment_assign(1, 'ns_right') IS NOT NULL AS app_assigns;
SELECT rollout.track(1, 'app_event');
SELECT count(*) AS app_events FROM rollout.events WHERE event = 'app_event';
SELECT rollout.set_coverage('ns_right', 0.5);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rollout.exposures (experiment_id, user_id, variation) VALUES (1, '1', 'a');
\echo :LAST_ERROR_SQLSTATE
SET ROLE rollout_test_exp_editor;
SELECT rollout.create_experiment('by_editor', ARRAY['a', 'b']);
RESET ROLE;
SELECT experiment, action, current_user_name FROM rollout.audit_log WHERE experiment = 'by_editor' ORDER BY id;

-- Distribution: 1,000,000 users on a 50/50 experiment, each half within 49.7% to 50.3%.
SELECT rollout.create_experiment('half', ARRAY['control', 'treatment']), rollout.set_experiment_status('half', 'running');
SELECT v, count(*), count(*) BETWEEN 497000 AND 503000 AS within_49_7_and_50_3
FROM (SELECT experiment_variant(g, 'half') AS v FROM generate_series(1, 1000000) AS g) AS s GROUP BY v ORDER BY v;
-- The same split as an exposure log: the sample-ratio-mismatch test does not flag it; with 2% of
-- the treatment's exposures lost (a deliberately skewed log) it does.
INSERT INTO rollout.exposures (experiment_id, user_id, variation)
SELECT e.id, g::text, experiment_variant(g, 'half') FROM rollout.experiments e, generate_series(1, 1000000) AS g
WHERE e.key = 'half';
SELECT variation, exposed_users, srm_p_value > 0.001 AS srm_p_above_0_001, srm_flag
FROM rollout.experiment_results('half', 'purchase') ORDER BY variation;
DELETE FROM rollout.exposures x USING rollout.experiments e
WHERE x.experiment_id = e.id AND e.key = 'half' AND x.variation = 'treatment' AND x.user_id::bigint % 50 = 0;
SELECT variation, exposed_users, srm_p_value < 1e-6 AS srm_p_below_1e_6, srm_flag
FROM rollout.experiment_results('half', 'purchase') ORDER BY variation;

DROP EXTENSION pg_rollout;
DROP ROLE rollout_test_exp_app, rollout_test_exp_nobody, rollout_test_exp_editor;
