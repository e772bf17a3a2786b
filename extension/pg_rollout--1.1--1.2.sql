-- pg_rollout 1.1 -> 1.2: experiments (GrowthBook-compatible assignment, sticky assignments,
-- exposures and conversion events) and the metrics dashboards read (evaluation counters, flag
-- adoption, experiment results). A fresh CREATE EXTENSION of 1.2 runs 1.0's script and the 1.1
-- and 1.2 upgrades, so new and updated databases have the same catalog by construction.
\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Experiment tables

CREATE TABLE rollout.experiments (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key              text NOT NULL UNIQUE,
    description      text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'running', 'paused', 'stopped')),
    coverage         float8 NOT NULL DEFAULT 1,
    seed             text NOT NULL,
    hash_version     integer NOT NULL DEFAULT 2,
    hash_attribute   text NOT NULL DEFAULT 'id',
    namespace        text,
    namespace_start  float8 NOT NULL DEFAULT 0,
    namespace_end    float8 NOT NULL DEFAULT 1,
    constraints      jsonb NOT NULL DEFAULT '[]',
    starts_at        timestamptz,
    ends_at          timestamptz,
    forced_variation text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rollout.experiments IS
    'Experiments: who is in (status, time window, targeting constraints, coverage, namespace) and how '
    'they are bucketed (seed, hash version, hash attribute), as GrowthBook''s SDKs do';

-- The variations of an experiment in order; position 0 is the control.
CREATE TABLE rollout.experiment_variations (
    experiment_id bigint NOT NULL REFERENCES rollout.experiments (id) ON DELETE CASCADE,
    position      integer NOT NULL CHECK (position >= 0),
    key           text NOT NULL,
    weight        float8 NOT NULL,
    payload       jsonb,
    PRIMARY KEY (experiment_id, position),
    UNIQUE (experiment_id, key)
);
COMMENT ON TABLE rollout.experiment_variations IS
    'Variations of each experiment, in bucket order (position 0 is the control), with their weights';

-- Sticky assignments made by experiment_assign(): later weight changes do not move these users.
CREATE TABLE rollout.experiment_assignments (
    experiment_id bigint NOT NULL REFERENCES rollout.experiments (id) ON DELETE CASCADE,
    user_id       text NOT NULL,
    variation     text NOT NULL,
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, user_id)
);
COMMENT ON TABLE rollout.experiment_assignments IS
    'Persisted (sticky) variation of each user assigned by experiment_assign()';

CREATE TABLE rollout.exposures (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id bigint NOT NULL REFERENCES rollout.experiments (id) ON DELETE CASCADE,
    user_id       text NOT NULL,
    variation     text NOT NULL,
    exposed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX exposures_experiment_user ON rollout.exposures (experiment_id, user_id);
COMMENT ON TABLE rollout.exposures IS 'One row per exposure of a user to a variation';

CREATE TABLE rollout.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text NOT NULL,
    event       text NOT NULL,
    value       numeric NOT NULL DEFAULT 1,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_event_user ON rollout.events (event, user_id);
COMMENT ON TABLE rollout.events IS 'Conversion events recorded by rollout.track()';

SELECT pg_catalog.pg_extension_config_dump('rollout.experiments', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.experiment_variations', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.experiment_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.exposures', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.events', '');
-- Identity sequences too, so a restored database goes on numbering where it stopped.
SELECT pg_catalog.pg_extension_config_dump('rollout.experiments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.exposures_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.events_id_seq', '');

REVOKE ALL ON rollout.experiments, rollout.experiment_variations, rollout.experiment_assignments,
    rollout.exposures, rollout.events FROM PUBLIC;
GRANT SELECT ON rollout.experiments, rollout.experiment_variations, rollout.experiment_assignments,
    rollout.exposures, rollout.events TO rollout_reader;

-- =============================================================================================
-- Experiments: validation, evaluation, assignment, tracking, management API
-- =============================================================================================




-- =============================================================================================
-- Metrics: evaluation counters, flag adoption, experiment results
-- =============================================================================================


-- ---------------------------------------------------------------------------------------------
-- Experiment results

-- experiment_results reads an experiment's exposures in user order and the event's rows per
-- user: both from index-only scans of these (exposures and events are append-only, so their
-- visibility maps stay set once vacuumed; autovacuum does it for inserts).
CREATE INDEX exposures_results ON rollout.exposures (experiment_id, user_id) INCLUDE (variation, exposed_at);
CREATE INDEX events_results ON rollout.events (event, user_id) INCLUDE (occurred_at);

-- The arithmetic of experiment_results, in the C++ core (extension/core/stats.h): per variation
-- (in the order of the arrays; element 1 is the control) the rate, the lift against the control,
-- its 95% interval and two-sided z-test p-value; the sample-ratio-mismatch p-value of the counts
-- against the weights; and, when look arrays are given (look-major, one element per look and
-- variation, cumulative counts), the mSPRT always-valid p-value and 95% interval.
CREATE FUNCTION rollout._experiment_statistics(
    weights float8[], exposed bigint[], converted bigint[], look_exposed bigint[], look_converted bigint[],
    tau float8,
    OUT variation_index integer, OUT conversion_rate float8, OUT absolute_lift float8, OUT relative_lift float8,
    OUT ci_low float8, OUT ci_high float8, OUT p_value float8, OUT srm_p_value float8,
    OUT sequential_p_value float8, OUT sequential_ci_low float8, OUT sequential_ci_high float8)
RETURNS SETOF record
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_experiment_statistics';
COMMENT ON FUNCTION rollout._experiment_statistics(float8[], bigint[], bigint[], bigint[], bigint[], float8) IS
    'Internal: the statistics of rollout.experiment_results() from per-variation counts';

-- Who counts: a user is exposed to a variation from their first exposure on; users with exposures
-- to two or more variations are left out of every count (and counted apart); a user converts when
-- they have `event` at or after their first exposure. Looks (sequential) are the UTC days of
-- first exposures: the look of day D counts the users first exposed by the end of D and their
-- conversions by the end of D; the last look counts every conversion recorded so far.
CREATE FUNCTION rollout.experiment_results(experiment text, event text, sequential boolean DEFAULT false,
                                           tau float8 DEFAULT 0.01)
RETURNS TABLE (variation text, is_control boolean, weight float8, exposed_users bigint, converting_users bigint,
               conversion_rate float8, absolute_lift float8, relative_lift float8, ci_low float8, ci_high float8,
               p_value float8, srm_p_value float8, srm_flag boolean, multiple_exposure_users bigint,
               multiple_exposure_flag boolean, sequential_p_value float8, sequential_ci_low float8,
               sequential_ci_high float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint;
    keys text[];
    weights float8[];
    exposed bigint[];
    converted bigint[];
    look_exposed bigint[];
    look_converted bigint[];
    multiple bigint;
BEGIN
    IF experiment_results.tau IS NULL OR NOT experiment_results.tau > 0 OR experiment_results.tau = 'Infinity' THEN
        RAISE EXCEPTION 'tau must be a positive number, not %', coalesce(experiment_results.tau::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'tau is the standard deviation of the mixture over the true difference of rates, e.g. 0.01.';
    END IF;
    SELECT e.id INTO exp_id FROM rollout.experiments e WHERE e.key = experiment_results.experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment_results.experiment
            USING ERRCODE = 'undefined_object', HINT = 'The experiments are the rows of rollout.experiments.';
    END IF;
    SELECT array_agg(v.key ORDER BY v.position), array_agg(v.weight ORDER BY v.position)
      INTO keys, weights
      FROM rollout.experiment_variations v WHERE v.experiment_id = exp_id;
    IF keys IS NULL THEN
        RAISE EXCEPTION 'experiment "%" has no variations', experiment_results.experiment
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Add its variations to rollout.experiment_variations.';
    END IF;

    -- One pass, no hash table or sort of a million users: the experiment's exposures in user order
    -- (index-only scan of exposures_results) merged with the event's rows in user order (of
    -- events_results; the ORDER BY makes the subquery keep that order), grouped per user as they
    -- stream by, then reduced to a few cells: users per (variation, day of first exposure, day of
    -- conversion); variation 0 holds users exposed to several variations. A user's conversion is
    -- their first event at or after any of their exposures, which is the first at or after their
    -- first exposure.
    WITH cells AS (
        SELECT u.variation, (u.first_exposed AT TIME ZONE 'UTC')::date AS exposed_day,
               (u.converted_at AT TIME ZONE 'UTC')::date AS converted_day, count(*) AS users
          FROM (SELECT CASE WHEN min(x.variation) <> max(x.variation) THEN 0
                            ELSE array_position(keys, min(x.variation)) END AS variation,
                       min(x.exposed_at) AS first_exposed, min(ev.occurred_at) AS converted_at
                  FROM rollout.exposures x
                  LEFT JOIN (SELECT e.user_id, e.occurred_at FROM rollout.events e
                              WHERE e.event = experiment_results.event ORDER BY e.user_id) ev
                         ON ev.user_id = x.user_id AND ev.occurred_at >= x.exposed_at
                 WHERE x.experiment_id = exp_id
                 GROUP BY x.user_id) u
         GROUP BY 1, 2, 3
    ), counted AS (
        SELECT * FROM cells c WHERE c.variation >= 1
    ), days AS (
        SELECT DISTINCT c.exposed_day AS day FROM counted c WHERE experiment_results.sequential
    ), looks AS (
        -- Conversions after the last day of exposures belong to the last look.
        SELECT d.day, i AS variation,
               coalesce(sum(c.users) FILTER (WHERE c.exposed_day <= d.day), 0)::bigint AS n,
               coalesce(sum(c.users) FILTER (WHERE least(c.converted_day, (SELECT max(day) FROM days)) <= d.day
                                                          AND c.converted_day IS NOT NULL), 0)::bigint AS c
          FROM days d CROSS JOIN generate_subscripts(keys, 1) i
          LEFT JOIN counted c ON c.variation = i
         GROUP BY d.day, i
    ), totals AS (
        SELECT i AS variation, coalesce(sum(c.users), 0)::bigint AS n,
               coalesce(sum(c.users) FILTER (WHERE c.converted_day IS NOT NULL), 0)::bigint AS c
          FROM generate_subscripts(keys, 1) i LEFT JOIN counted c ON c.variation = i
         GROUP BY i
    )
    SELECT (SELECT coalesce(sum(c.users), 0)::bigint FROM cells c WHERE c.variation = 0),
           (SELECT array_agg(t.n ORDER BY t.variation) FROM totals t),
           (SELECT array_agg(t.c ORDER BY t.variation) FROM totals t),
           (SELECT coalesce(array_agg(l.n ORDER BY l.day, l.variation), '{}') FROM looks l),
           (SELECT coalesce(array_agg(l.c ORDER BY l.day, l.variation), '{}') FROM looks l)
      INTO multiple, exposed, converted, look_exposed, look_converted;
    IF NOT sequential THEN
        look_exposed := NULL;
        look_converted := NULL;
    END IF;

    RETURN QUERY
    SELECT keys[s.variation_index], s.variation_index = 1, weights[s.variation_index],
           exposed[s.variation_index], converted[s.variation_index],
           s.conversion_rate, s.absolute_lift, s.relative_lift, s.ci_low, s.ci_high, s.p_value,
           s.srm_p_value, s.srm_p_value < 0.001, multiple, multiple > 0,
           s.sequential_p_value, s.sequential_ci_low, s.sequential_ci_high
      FROM rollout._experiment_statistics(weights, exposed, converted, look_exposed, look_converted,
                                          experiment_results.tau) s
     ORDER BY s.variation_index;
END
$$;
COMMENT ON FUNCTION rollout.experiment_results(text, text, boolean, float8) IS
    'Per variation of an experiment: exposed and converting users (a conversion is the event at or after '
    'the user''s first exposure; users exposed to several variations are left out and counted in '
    'multiple_exposure_users), rate, absolute and relative lift against the control (position 0), 95% '
    'interval of the difference, two-sided z-test p-value, sample-ratio-mismatch p-value (flagged below '
    '0.001); with sequential => true the always-valid mSPRT p-value and 95% interval over daily looks '
    '(mixture standard deviation tau)';
REVOKE ALL ON FUNCTION rollout._experiment_statistics(float8[], bigint[], bigint[], bigint[], bigint[], float8),
    rollout.experiment_results(text, text, boolean, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._experiment_statistics(float8[], bigint[], bigint[], bigint[], bigint[], float8),
    rollout.experiment_results(text, text, boolean, float8) TO rollout_reader;

-- ---------------------------------------------------------------------------------------------
-- Evaluation counters (extension/pg/counters.h): shared memory, only when pg_rollout is in
-- shared_preload_libraries; rollout.track_evaluations switches counting off per session.

CREATE FUNCTION rollout._counting(OUT status text, OUT available boolean)
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_counting_status';
COMMENT ON FUNCTION rollout._counting() IS
    'Internal: whether evaluations are counted (on, or off with the reason), and whether the shared '
    'counters exist (pg_rollout preloaded)';

CREATE FUNCTION rollout._evaluation_counters(OUT kind text, OUT environment text, OUT name text,
                                             OUT "position" integer, OUT evaluations bigint,
                                             OUT true_results bigint, OUT last_evaluated_at timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'rollout_evaluation_counters';
COMMENT ON FUNCTION rollout._evaluation_counters() IS
    'Internal: this database''s shared evaluation counters (flag per environment, experiment variation) and '
    'the overflow entry, after adding this session''s pending counts; no rows when not preloaded';

CREATE FUNCTION rollout.reset_stats() RETURNS void
LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'rollout_reset_counters';
COMMENT ON FUNCTION rollout.reset_stats() IS
    'Zeros the evaluation counters of this database (and the shared overflow row)';

-- Every flag configuration, with its counts (0 when never evaluated, NULL when counters are off),
-- and a row without flag for the overflow entry when the counters' table was full.
CREATE VIEW rollout.flag_stats AS
WITH counters AS MATERIALIZED (SELECT * FROM rollout._evaluation_counters())
SELECT c.flag, c.environment,
       CASE WHEN s.available THEN coalesce(n.evaluations, 0) END AS evaluations,
       CASE WHEN s.available THEN coalesce(n.true_results, 0) END AS true_results,
       CASE WHEN s.available THEN coalesce(n.evaluations - n.true_results, 0) END AS false_results,
       n.last_evaluated_at, s.status AS counting
  FROM rollout.flag_configs c
 CROSS JOIN rollout._counting() s
  LEFT JOIN counters n ON n.kind = 'flag' AND n.name = c.flag AND n.environment = c.environment
UNION ALL
SELECT NULL, NULL, n.evaluations, n.true_results, n.evaluations - n.true_results, n.last_evaluated_at,
       'overflow: evaluations of flags and variations beyond rollout.max_tracked (all databases)'
  FROM counters n WHERE n.kind = 'overflow';
COMMENT ON VIEW rollout.flag_stats IS
    'Evaluations per flag and environment since the last rollout.reset_stats(): total, true and false results '
    '(feature_enabled in every form, feature_value and features_for; feature_explain is not counted), time of '
    'the last; counting says whether counters are on (they need shared_preload_libraries)';

CREATE VIEW rollout.experiment_stats AS
WITH counters AS MATERIALIZED (SELECT * FROM rollout._evaluation_counters())
SELECT e.key AS experiment, v.position, v.key AS variation,
       CASE WHEN s.available THEN coalesce(n.evaluations, 0) END AS evaluations,
       n.last_evaluated_at, s.status AS counting
  FROM rollout.experiments e
  JOIN rollout.experiment_variations v ON v.experiment_id = e.id
 CROSS JOIN rollout._counting() s
  LEFT JOIN counters n ON n.kind = 'experiment' AND n.name = e.key AND n.position = v.position;
COMMENT ON VIEW rollout.experiment_stats IS
    'Evaluations per experiment variation (every variation, 0 when never served) since the last '
    'rollout.reset_stats(); counting says whether counters are on (they need shared_preload_libraries)';

REVOKE ALL ON FUNCTION rollout._counting(), rollout._evaluation_counters(), rollout.reset_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout._counting(), rollout._evaluation_counters() TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.reset_stats() TO rollout_admin;
GRANT SELECT ON rollout.flag_stats, rollout.experiment_stats TO rollout_reader;

-- ---------------------------------------------------------------------------------------------
-- Flag adoption

-- The latest audit entry of a flag, for flag_adoption.
CREATE INDEX audit_log_flag ON rollout.audit_log (flag, id);

-- Per live flag and environment: the switches in force now (a started plan stage replaces the
-- fallthrough percentage and tiers, at the time evaluation uses: rollout.now or the transaction
-- start), list sizes, unexpired overrides, evaluations from the counters, the last change.
CREATE VIEW rollout.flag_adoption AS
WITH at AS (
    SELECT coalesce(nullif(current_setting('rollout.now', true), '')::timestamptz, now()) AS now
)
SELECT c.flag, c.environment, c.enabled,
       coalesce(stage.rollout_percentage, c.rollout_percentage) AS rollout_percentage,
       CASE WHEN stage.starts_at IS NOT NULL THEN stage.allowed_tiers ELSE c.allowed_tiers END AS allowed_tiers,
       stage.starts_at AS plan_stage_started_at,
       (SELECT count(*) FROM rollout.rules r WHERE r.flag = c.flag AND r.environment = c.environment) AS rules,
       cardinality(c.allow_users) AS allow_list_size,
       cardinality(c.deny_users) AS deny_list_size,
       (SELECT count(*) FROM rollout.overrides o
         WHERE o.flag = c.flag AND o.environment = c.environment
           AND (o.expires_at IS NULL OR o.expires_at > at.now)) AS active_overrides,
       s.evaluations,
       s.true_results::float8 / nullif(s.evaluations, 0) AS true_share,
       s.counting,
       change.at AS last_changed_at,
       coalesce(change.actor, change.current_user_name::text) AS last_changed_by,
       change.action AS last_change
  FROM rollout.flag_configs c
  JOIN rollout.flags f ON f.key = c.flag AND f.archived_at IS NULL
 CROSS JOIN at
  LEFT JOIN rollout.flag_stats s ON s.flag = c.flag AND s.environment = c.environment
  LEFT JOIN LATERAL (
        SELECT p.starts_at, p.rollout_percentage, p.allowed_tiers FROM rollout.plan_stages p
         WHERE p.flag = c.flag AND p.environment = c.environment AND p.starts_at <= at.now
         ORDER BY p.starts_at DESC LIMIT 1) stage ON true
  LEFT JOIN LATERAL (
        SELECT a.at, a.actor, a.current_user_name, a.action FROM rollout.audit_log a
         WHERE a.flag = c.flag AND (a.environment = c.environment OR a.environment IS NULL)
         ORDER BY a.id DESC LIMIT 1) change ON true;
COMMENT ON VIEW rollout.flag_adoption IS
    'Per live flag and environment: kill switch, rollout percentage and tiers in force (a started plan stage '
    'applied), rules, allow and deny list sizes, unexpired overrides, evaluations and the share that returned '
    'true (NULL when the counters are off), and the last change: when, by whom (rollout.actor, else the role), '
    'which action';
GRANT SELECT ON rollout.flag_adoption TO rollout_reader;
