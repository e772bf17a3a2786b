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

