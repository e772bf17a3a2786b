-- rollout.experiment_results: counts in SQL, statistics from the core. Reference numbers were
-- computed independently with statsmodels 0.13.5 / SciPy 1.10.1 (Debian 12), by the calls
-- named beside them, and are compared to 1e-6.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION pg_temp.experiment(key text, variations text[], weights float8[]) RETURNS bigint
LANGUAGE sql AS $$
  WITH e AS (INSERT INTO rollout.experiments (key, seed, status) VALUES (key, key, 'running') RETURNING id),
       v AS (INSERT INTO rollout.experiment_variations (experiment_id, position, key, weight)
             SELECT e.id, i - 1, variations[i], weights[i] FROM e, generate_subscripts(variations, 1) i)
  SELECT id FROM e
$$;

-- Known rates: control 1,000 of 10,000 users convert (10%), treatment 1,100 of 10,000 (11%),
-- exposed on 2026-01-01 and converting the day after.
SELECT pg_temp.experiment('checkout', '{control,treatment}', '{0.5,0.5}') AS checkout \gset
INSERT INTO rollout.exposures (experiment_id, user_id, variation, exposed_at)
SELECT :checkout, v || g, CASE v WHEN 'c' THEN 'control' ELSE 'treatment' END, '2026-01-01 12:00+00'
  FROM generate_series(1, 10000) g, (VALUES ('c'), ('t')) x(v);
INSERT INTO rollout.events (user_id, event, occurred_at)
SELECT 'c' || g, 'purchase', '2026-01-02 12:00+00'::timestamptz FROM generate_series(1, 1000) g
UNION ALL
SELECT 't' || g, 'purchase', '2026-01-02 12:00+00'::timestamptz FROM generate_series(1, 1100) g;
-- None of these changes a count: a second exposure of the same user to the same variation, a
-- second conversion, events of another name, and events before the user's first exposure.
INSERT INTO rollout.exposures (experiment_id, user_id, variation, exposed_at)
SELECT :checkout, 'c' || g, 'control', '2026-01-03' FROM generate_series(1, 500) g;
INSERT INTO rollout.events (user_id, event, occurred_at)
SELECT 'c' || g, 'purchase', '2026-01-04'::timestamptz FROM generate_series(1, 500) g
UNION ALL
SELECT 'c' || g, 'signup', '2026-01-02' FROM generate_series(1, 10000) g
UNION ALL
SELECT 'c' || g, 'purchase', '2025-12-31' FROM generate_series(5001, 6000) g;
-- 40 users exposed to both variations (broken assignment): left out of the counts, and counted.
INSERT INTO rollout.exposures (experiment_id, user_id, variation, exposed_at)
SELECT :checkout, 'both' || g, v, '2026-01-01 12:00+00'
  FROM generate_series(1, 40) g, (VALUES ('control'), ('treatment')) x(v);
INSERT INTO rollout.events (user_id, event, occurred_at)
SELECT 'both' || g, 'purchase', '2026-01-02'::timestamptz FROM generate_series(1, 40) g;

SELECT variation, is_control, weight, exposed_users, converting_users, conversion_rate,
       round(absolute_lift::numeric, 12) AS absolute_lift, round(relative_lift::numeric, 12) AS relative_lift,
       multiple_exposure_users, multiple_exposure_flag, srm_flag
  FROM rollout.experiment_results('checkout', 'purchase');

-- proportions_ztest([1100, 1000], [10000, 10000]) -> p = 0.021075189273797826;
-- confint_proportions_2indep(1100, 10000, 1000, 10000, method='wald', compare='diff')
--   -> (0.0015040591315121105, 0.01849594086848788)
SELECT variation,
       abs(p_value - 0.021075189273797826) < 1e-6 AS p_value_matches,
       abs(ci_low - 0.0015040591315121105) < 1e-6 AS ci_low_matches,
       abs(ci_high - 0.01849594086848788) < 1e-6 AS ci_high_matches,
       round(p_value::numeric, 6) AS p_value, round(ci_low::numeric, 6) AS ci_low, round(ci_high::numeric, 6) AS ci_high
  FROM rollout.experiment_results('checkout', 'purchase') WHERE NOT is_control;
-- The control has nothing to compare with.
SELECT absolute_lift, relative_lift, ci_low, ci_high, p_value, sequential_p_value
  FROM rollout.experiment_results('checkout', 'purchase', true) WHERE is_control;

-- Sample ratio mismatch against the weights. Balanced, 5,050 / 4,950:
-- chisquare([5050, 4950], f_exp=[5000, 5000]).pvalue = 0.31731050786291115, not flagged.
SELECT pg_temp.experiment('balanced', '{a,b}', '{0.5,0.5}') AS balanced \gset
INSERT INTO rollout.exposures (experiment_id, user_id, variation)
SELECT :balanced, g::text, CASE WHEN g <= 5050 THEN 'a' ELSE 'b' END FROM generate_series(1, 10000) g;
SELECT DISTINCT abs(srm_p_value - 0.31731050786291115) < 1e-6 AS srm_matches, srm_flag
  FROM rollout.experiment_results('balanced', 'purchase');
-- Skewed, 5,200 / 4,800: chisquare([5200, 4800], f_exp=[5000, 5000]).pvalue = 6.334248366623988e-05.
SELECT pg_temp.experiment('skewed', '{a,b}', '{0.5,0.5}') AS skewed \gset
INSERT INTO rollout.exposures (experiment_id, user_id, variation)
SELECT :skewed, g::text, CASE WHEN g <= 5200 THEN 'a' ELSE 'b' END FROM generate_series(1, 10000) g;
SELECT DISTINCT abs(srm_p_value - 6.334248366623988e-05) < 1e-9 AS srm_matches, srm_flag
  FROM rollout.experiment_results('skewed', 'purchase');
-- Uneven weights, 20/30/50 and 2,020 / 2,950 / 5,030 users:
-- chisquare([2020, 2950, 5030], f_exp=[2000, 3000, 5000]).pvalue = 0.5451650606108354.
SELECT pg_temp.experiment('three', '{a,b,c}', '{0.2,0.3,0.5}') AS three \gset
INSERT INTO rollout.exposures (experiment_id, user_id, variation)
SELECT :three, g::text, CASE WHEN g <= 2020 THEN 'a' WHEN g <= 4970 THEN 'b' ELSE 'c' END
  FROM generate_series(1, 10000) g;
SELECT variation, weight, exposed_users, abs(srm_p_value - 0.5451650606108354) < 1e-6 AS srm_matches, srm_flag
  FROM rollout.experiment_results('three', 'purchase');

-- Sequential: daily looks. Users are exposed over three days (a third each day) and convert the
-- same day, so the cumulative looks are (control exposed, converted, treatment exposed,
-- converted) = (1000, 100, 1000, 130), (2000, 200, 2000, 260), (3000, 300, 3000, 390).
-- msprt(looks, tau=0.01, alpha=0.05) of tests/core/stats_reference.py (the paper's formula in
-- Python) -> p = 0.029895014785376466, interval (0.0020140578316749855, 0.05798594216832501).
SELECT pg_temp.experiment('daily', '{control,treatment}', '{0.5,0.5}') AS daily \gset
INSERT INTO rollout.exposures (experiment_id, user_id, variation, exposed_at)
SELECT :daily, v || g, CASE v WHEN 'dc' THEN 'control' ELSE 'treatment' END,
       '2026-02-01 08:00+00'::timestamptz + (g % 3) * interval '1 day'
  FROM generate_series(1, 3000) g, (VALUES ('dc'), ('dt')) x(v);
INSERT INTO rollout.events (user_id, event, occurred_at)
SELECT 'dc' || g, 'upgrade', '2026-02-01 20:00+00'::timestamptz + (g % 3) * interval '1 day'
  FROM generate_series(1, 300) g
UNION ALL
SELECT 'dt' || g, 'upgrade', '2026-02-01 20:00+00'::timestamptz + (g % 3) * interval '1 day'
  FROM generate_series(1, 390) g;
SELECT variation, exposed_users, converting_users,
       abs(sequential_p_value - 0.029895014785376466) < 1e-6 AS sequential_p_matches,
       abs(sequential_ci_low - 0.0020140578316749855) < 1e-6 AS sequential_low_matches,
       abs(sequential_ci_high - 0.05798594216832501) < 1e-6 AS sequential_high_matches,
       sequential_p_value > p_value AS more_conservative_than_fixed
  FROM rollout.experiment_results('daily', 'upgrade', sequential => true) WHERE NOT is_control;
-- Without sequential the columns are NULL.
SELECT sequential_p_value, sequential_ci_low, sequential_ci_high
  FROM rollout.experiment_results('daily', 'upgrade') WHERE NOT is_control;

-- Nobody exposed yet: zero counts, no statistics.
SELECT pg_temp.experiment('empty', '{control,treatment}', '{0.5,0.5}') IS NOT NULL AS created;
SELECT variation, exposed_users, converting_users, conversion_rate, p_value, srm_p_value, srm_flag
  FROM rollout.experiment_results('empty', 'purchase', true);

-- Bad input changes nothing and says what is wrong.
SELECT * FROM rollout.experiment_results('no_such_experiment', 'purchase');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM rollout.experiment_results('checkout', 'purchase', true, tau => 0);
\echo :LAST_ERROR_SQLSTATE

-- A dashboard's role: granted rollout_reader, it reads the results; without it, it cannot.
CREATE ROLE rollout_test_dashboard;
GRANT rollout_reader TO rollout_test_dashboard;
CREATE ROLE rollout_test_outsider;
SET ROLE rollout_test_dashboard;
SELECT variation, exposed_users, converting_users FROM rollout.experiment_results('checkout', 'purchase');
SET ROLE rollout_test_outsider;
SELECT * FROM rollout.experiment_results('checkout', 'purchase');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE rollout_test_dashboard;
DROP ROLE rollout_test_outsider;

DROP EXTENSION pg_rollout;
