-- Evaluation counters: rollout.flag_stats and rollout.experiment_stats. The counters need
-- pg_rollout in shared_preload_libraries; pg_regress runs this file with it (expected/counters.out)
-- and without it (expected/counters_1.out: the same evaluations, and views that say counting is
-- off). The concurrent case is tests/isolation/specs/evaluation_counters.spec.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT rollout.reset_stats();

SELECT rollout.create_flag('plain'), rollout.set_rollout('plain', 40), rollout.set_enabled('plain', true);
SELECT rollout.create_flag('targeted'), rollout.set_enabled('targeted', true),
       rollout.add_rule('targeted', '[{"attribute":"tier","op":"in","values":["pro"]}]');
SELECT rollout.create_flag('switched_off');
CREATE TABLE accounts (id bigint, tier text);
INSERT INTO accounts SELECT g, CASE WHEN g % 4 = 0 THEN 'pro' ELSE 'free' END FROM generate_series(1, 400) g;

-- Every evaluating form counts: 100 + 100 + 100 + 50 + 50 evaluations of 'plain'.
SELECT count(*) FILTER (WHERE feature_enabled(g, 'plain')) AS bigint_on,
       count(*) FILTER (WHERE feature_enabled(g::text, 'plain')) AS text_on,
       count(*) FILTER (WHERE feature_enabled(g, 'plain', '{}')) AS jsonb_on
  FROM generate_series(1, 100) g;
SELECT count(*) FILTER (WHERE feature_value(g, 'plain') = 'true') AS value_on,
       count(*) FILTER (WHERE feature_enabled(md5(g::text)::uuid, 'plain')) AS uuid_on
  FROM generate_series(1, 50) g;
-- ... and 'targeted' by row, by pairs and by jsonb: 400 + 400 + 400, a quarter true.
SELECT count(*) FILTER (WHERE feature_enabled_row(a.id, 'targeted', a)) AS row_on,
       count(*) FILTER (WHERE feature_enabled_with(a.id, 'targeted', 'tier', a.tier)) AS pairs_on,
       count(*) FILTER (WHERE feature_enabled(a.id, 'targeted', jsonb_build_object('tier', a.tier))) AS jsonb_on
  FROM accounts a;
-- features_for evaluates every flag once (switched_off only here); feature_explain counts nothing
-- (a diagnostic).
SELECT count(*) AS flags FROM features_for(1);
SELECT reason FROM feature_explain(1, 'plain');
-- Unknown flags are not counted.
SELECT feature_enabled(1, 'no_such_flag');

-- This session's own counts show at once (the view adds them before reading).
SELECT flag, environment, evaluations, true_results, false_results, evaluations = true_results + false_results AS adds_up,
       last_evaluated_at IS NOT NULL AS has_last, counting
  FROM rollout.flag_stats ORDER BY flag;

-- rollout.track_evaluations = off stops counting in this session.
SET rollout.track_evaluations = off;
SELECT count(*) FILTER (WHERE feature_enabled(g, 'plain')) FROM generate_series(1, 1000) g;
SELECT flag, evaluations, counting FROM rollout.flag_stats WHERE flag = 'plain';
RESET rollout.track_evaluations;

-- Rolled-back evaluations count too (they happened).
BEGIN;
SELECT count(*) FILTER (WHERE feature_enabled(g, 'plain')) FROM generate_series(1, 10) g;
ROLLBACK;
SELECT flag, evaluations FROM rollout.flag_stats WHERE flag = 'plain';

-- Experiments: every variation is listed, with zeros until evaluated.
BEGIN;  -- an experiment and its variations are checked as a whole at commit
INSERT INTO rollout.experiments (key, seed) VALUES ('layout', 'layout');
INSERT INTO rollout.experiment_variations (experiment_id, position, key, weight)
SELECT id, p, k, w FROM rollout.experiments, (VALUES (0, 'control', 0.5), (1, 'wide', 0.25), (2, 'narrow', 0.25)) v(p, k, w);
COMMIT;
SELECT experiment, position, variation, evaluations, last_evaluated_at, counting
  FROM rollout.experiment_stats ORDER BY position;

-- A dashboard role granted rollout_reader reads the views, but only an admin resets them.
CREATE ROLE rollout_test_viewer;
GRANT rollout_reader TO rollout_test_viewer;
SET ROLE rollout_test_viewer;
SELECT count(*) AS flag_rows FROM rollout.flag_stats;
SELECT count(*) AS variation_rows FROM rollout.experiment_stats;
SELECT rollout.reset_stats();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE rollout_test_viewer;

SELECT rollout.reset_stats();
SELECT flag, evaluations, true_results, false_results, last_evaluated_at FROM rollout.flag_stats ORDER BY flag;

DROP TABLE accounts;
DROP EXTENSION pg_rollout;
