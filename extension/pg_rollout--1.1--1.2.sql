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

-- The audit log names the experiment a change belongs to (NULL for flag changes).
ALTER TABLE rollout.audit_log ADD COLUMN experiment text;

-- Experiments leave the evaluation core only through archiving: an archived experiment evaluates as
-- unknown; its rows, assignments and exposures stay.
ALTER TABLE rollout.experiments ADD COLUMN archived_at timestamptz;

-- Core validation (the same code that compiles experiments): SQLSTATE, message and hint.
CREATE FUNCTION rollout._validate_experiment_settings(coverage float8, hash_version integer,
                                                      namespace_start float8, namespace_end float8) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_validate_experiment_settings';
CREATE FUNCTION rollout._validate_experiment_variations(keys text[], weights float8[]) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_validate_experiment_variations';
CREATE FUNCTION rollout._validate_experiment_transition(from_status text, to_status text) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_validate_experiment_transition';

CREATE FUNCTION rollout.experiments_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.key IS NULL OR btrim(NEW.key, E' \t\r\n\u00a0') = '' OR octet_length(NEW.key) > 200 OR NEW.key ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid experiment key %', coalesce(quote_literal(left(NEW.key, 40)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An experiment key is non-empty, non-blank UTF-8 text of at most 200 bytes without control characters.';
    END IF;
    IF NEW.seed = '' THEN
        RAISE EXCEPTION 'empty seed for experiment "%"', NEW.key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave the seed out (or NULL in the API) to hash with the experiment key.';
    END IF;
    IF NEW.hash_attribute = '' THEN
        RAISE EXCEPTION 'empty hash attribute for experiment "%"', NEW.key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''id'' to hash by the user id, or the name of an attribute.';
    END IF;
    IF NEW.namespace = '' THEN
        RAISE EXCEPTION 'empty namespace for experiment "%"', NEW.key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL for an experiment outside any namespace.';
    END IF;
    PERFORM rollout._validate_experiment_settings(NEW.coverage, NEW.hash_version, NEW.namespace_start, NEW.namespace_end);
    PERFORM rollout._validate_constraints(NEW.constraints);
    IF NEW.starts_at >= NEW.ends_at THEN
        RAISE EXCEPTION 'experiment "%" would end (%) before it starts (%)', NEW.key, NEW.ends_at, NEW.starts_at
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give a start before the end, or NULL for no bound.';
    END IF;
    IF NEW.forced_variation IS NOT NULL AND NOT EXISTS (
        SELECT FROM rollout.experiment_variations v WHERE v.experiment_id = NEW.id AND v.key = NEW.forced_variation)
    THEN
        RAISE EXCEPTION 'experiment "%" has no variation "%"', NEW.key, NEW.forced_variation
            USING ERRCODE = 'undefined_object', HINT = 'Force one of its variation keys, or NULL to clear.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            PERFORM rollout._validate_experiment_transition(OLD.status, NEW.status);
        END IF;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout.experiments_validate() IS
    'Trigger: refuses invalid experiment rows (key, seed, coverage, hash version, namespace, constraints, '
    'schedule, forced variation, status transition) with an SQLSTATE and a hint; stamps updated_at';
CREATE TRIGGER experiments_validate BEFORE INSERT OR UPDATE ON rollout.experiments
    FOR EACH ROW EXECUTE FUNCTION rollout.experiments_validate();

-- A variation row on its own: a non-empty key, not already taken in its experiment (checked before
-- the unique constraint, for a message with a hint).
CREATE FUNCTION rollout.experiment_variations_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.key = '' THEN
        RAISE EXCEPTION 'a variation key is empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Variation keys are non-empty text, e.g. ''control''.';
    END IF;
    IF EXISTS (SELECT FROM rollout.experiment_variations v
               WHERE v.experiment_id = NEW.experiment_id AND v.key = NEW.key AND v.position <> NEW.position) THEN
        RAISE EXCEPTION 'invalid experiment: variation key "%" appears twice', NEW.key
            USING ERRCODE = 'duplicate_object', HINT = 'Variation keys must be unique within an experiment.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout.experiment_variations_validate() IS
    'Trigger: refuses an empty or duplicate variation key with an SQLSTATE and a hint';
CREATE TRIGGER variations_validate BEFORE INSERT OR UPDATE ON rollout.experiment_variations
    FOR EACH ROW EXECUTE FUNCTION rollout.experiment_variations_validate();

-- The variations of an experiment are checked as a whole (at least two, unique keys, positions
-- 0..n-1, weights summing to 1) when the transaction commits, so a change may pass through
-- intermediate states (one weight updated before the other).
CREATE FUNCTION rollout.experiment_variations_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    experiment bigint := CASE TG_TABLE_NAME
                             WHEN 'experiments' THEN (to_jsonb(NEW) ->> 'id')::bigint
                             ELSE coalesce((to_jsonb(NEW) ->> 'experiment_id')::bigint, (to_jsonb(OLD) ->> 'experiment_id')::bigint)
                         END;
    x rollout.experiments;
    keys text[];
    weights float8[];
    positions integer[];
BEGIN
    SELECT * INTO x FROM rollout.experiments e WHERE e.id = experiment;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted with its variations
    END IF;
    SELECT coalesce(array_agg(v.key ORDER BY v.position), '{}'), coalesce(array_agg(v.weight ORDER BY v.position), '{}'),
           coalesce(array_agg(v.position ORDER BY v.position), '{}')
    INTO keys, weights, positions
    FROM rollout.experiment_variations v WHERE v.experiment_id = experiment;
    BEGIN
        PERFORM rollout._validate_experiment_variations(keys, weights);
    EXCEPTION WHEN invalid_parameter_value OR duplicate_object THEN
        DECLARE
            message text;
            hint text;
            state text;
        BEGIN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE;
            RAISE EXCEPTION 'experiment "%": %', x.key, message USING ERRCODE = state, HINT = hint;
        END;
    END;
    IF positions <> ARRAY(SELECT generate_series(0, cardinality(positions) - 1)) THEN
        RAISE EXCEPTION 'experiment "%": variation positions are %, not 0 to %', x.key, positions, cardinality(positions) - 1
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Number the variations 0 (the control), 1, 2, ... without gaps.';
    END IF;
    IF x.forced_variation IS NOT NULL AND NOT x.forced_variation = ANY (keys) THEN
        RAISE EXCEPTION 'experiment "%" has no variation "%"', x.key, x.forced_variation
            USING ERRCODE = 'undefined_object', HINT = 'Clear the forced variation first: rollout.force_variation(key, NULL).';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.experiment_variations_check() IS
    'Constraint trigger (deferred to commit): an experiment''s variations as a whole are valid';
CREATE CONSTRAINT TRIGGER variations_check AFTER INSERT OR UPDATE OR DELETE ON rollout.experiment_variations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rollout.experiment_variations_check();
CREATE CONSTRAINT TRIGGER variations_check AFTER INSERT ON rollout.experiments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rollout.experiment_variations_check();

-- Audit: one row per changed experiment or variation row, with the experiment's key.
CREATE FUNCTION rollout.audit_experiment() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
    row jsonb := coalesce(new_row, old_row);
    experiment_key text := row ->> 'key';
BEGIN
    IF TG_TABLE_NAME <> 'experiments' THEN
        SELECT e.key INTO experiment_key FROM rollout.experiments e WHERE e.id = (row ->> 'experiment_id')::bigint;
    END IF;
    INSERT INTO rollout.audit_log (experiment, action, table_name, old, new)
    VALUES (experiment_key, coalesce(nullif(current_setting('rollout.api_action', true), ''), lower(TG_OP)),
            TG_TABLE_NAME, old_row, new_row);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.audit_experiment() IS 'Trigger: appends each changed experiment or variation row to rollout.audit_log';

-- Experiments and their variations are configuration: audited, and every write moves
-- rollout.config_version (evaluation then compiles them with the flags). Assignments, exposures
-- and events are data written per user, so they neither move the version nor fill the audit log.
DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['experiments', 'experiment_variations'] LOOP
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.%I
                        FOR EACH ROW EXECUTE FUNCTION rollout.audit_experiment()', t);
        EXECUTE format('CREATE TRIGGER audit_truncate AFTER TRUNCATE ON rollout.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION rollout.audit_truncate()', t);
        EXECUTE format('CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION rollout.config_changed()', t);
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER audit', t);
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER audit_truncate', t);
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER config_changed', t);
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER variations_check', t);
    END LOOP;
    ALTER TABLE rollout.experiments ENABLE ALWAYS TRIGGER experiments_validate;
    ALTER TABLE rollout.experiment_variations ENABLE ALWAYS TRIGGER variations_validate;
END
$triggers$;

-- ---------------------------------------------------------------------------------------------
-- The environment document gains the experiments (the same for every environment), so the
-- snapshot-exact cache compiles flags and experiments from one document read with one snapshot.

-- extra_float_digits = 3: weights and coverage reach the core as the exact doubles stored (a
-- session with fewer digits would round 1/3 and move bucket boundaries).
CREATE FUNCTION rollout._experiments_document() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp SET extra_float_digits = 3 AS $$
SELECT coalesce(jsonb_agg(jsonb_build_object(
    'id', x.id,
    'key', x.key,
    'status', x.status,
    'coverage', x.coverage,
    'seed', x.seed,
    'hash_version', x.hash_version,
    'hash_attribute', x.hash_attribute,
    'namespace', x.namespace,
    'namespace_start', x.namespace_start,
    'namespace_end', x.namespace_end,
    'constraints', x.constraints,
    'starts_at_us', (extract(epoch FROM x.starts_at) * 1000000)::int8,
    'ends_at_us', (extract(epoch FROM x.ends_at) * 1000000)::int8,
    'forced_variation', x.forced_variation,
    'variations', (SELECT coalesce(jsonb_agg(jsonb_build_object('key', v.key, 'weight', v.weight) ORDER BY v.position), '[]')
                   FROM rollout.experiment_variations v WHERE v.experiment_id = x.id)
) ORDER BY x.key), '[]')
FROM rollout.experiments x
WHERE x.archived_at IS NULL
$$;
COMMENT ON FUNCTION rollout._experiments_document() IS
    'Internal: every experiment that is not archived, as the JSON array the evaluation core compiles';

-- 1.1's document function keeps building the flags, under a new name; the document is now its
-- result with the experiments added.
ALTER FUNCTION rollout._environment_document(text) RENAME TO _flags_document;
COMMENT ON FUNCTION rollout._flags_document(text) IS
    'Internal: one environment''s flags as the environment document without experiments';
CREATE FUNCTION rollout._environment_document(environment text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT rollout._flags_document($1) || jsonb_build_object('experiments', rollout._experiments_document())
$$;
COMMENT ON FUNCTION rollout._environment_document(text) IS
    'Internal: one environment''s whole configuration (flags and experiments) as the JSON document the '
    'evaluation core compiles';

-- ---------------------------------------------------------------------------------------------
-- Evaluation: experiment_variant (stateless) and experiment_assign (sticky, records exposures)

CREATE FUNCTION @extschema@.experiment_variant(user_id bigint, experiment text, attributes jsonb DEFAULT '{}') RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'experiment_variant_bigint';
CREATE FUNCTION @extschema@.experiment_variant(user_id text, experiment text, attributes jsonb DEFAULT '{}') RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'experiment_variant_text';
CREATE FUNCTION @extschema@.experiment_variant(user_id uuid, experiment text, attributes jsonb DEFAULT '{}') RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'experiment_variant_uuid';
COMMENT ON FUNCTION @extschema@.experiment_variant(bigint, text, jsonb) IS
    'The variation key GrowthBook''s SDK run() gives the user, or NULL when the user is not in the '
    'experiment (not running, outside its schedule, namespace, targeting or coverage; unknown experiment: '
    'per rollout.missing_flag). Stateless and read-only: safe in any query and on a hot standby';
COMMENT ON FUNCTION @extschema@.experiment_variant(text, text, jsonb) IS 'experiment_variant for a text user id';
COMMENT ON FUNCTION @extschema@.experiment_variant(uuid, text, jsonb) IS 'experiment_variant for a uuid user id';

CREATE FUNCTION rollout._experiment_decision(user_id text, experiment text, attributes jsonb,
    OUT experiment_id bigint, OUT step text, OUT variation text, OUT forced_variation text, OUT status text)
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_experiment_decision';
COMMENT ON FUNCTION rollout._experiment_decision(text, text, jsonb) IS
    'Internal: the experiment''s id, the evaluation step that decided (INACTIVE, NO_HASH_VALUE, NAMESPACE, '
    'TARGETING, COVERAGE, FORCED, STOPPED, ASSIGNED), the variation, the forced variation and the status';

-- GrowthBook's sticky bucketing, persisted: an inactive experiment (draft, paused, outside its
-- schedule) or a user without a hash value gets NULL; a user with an assignment keeps it whatever the
-- weights, targeting or namespace say now, except that a forced variation wins and a stopped
-- experiment serves nobody (as the SDK orders these steps); otherwise the stateless answer is
-- persisted (the first writer wins; concurrent callers wait for it and read its row) and an exposure
-- is recorded. Exposures are recorded once per assignment (GrowthBook deduplicates its tracking
-- callback per user and variation), not per call; a forced variation is neither persisted nor
-- recorded (the SDK does not track forced results).
CREATE FUNCTION @extschema@.experiment_assign(user_id text, experiment text, attributes jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    stored text;
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'experiment_assign() cannot run on a hot standby: it records the assignment'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Call experiment_variant() on a standby (the same answer, not persisted), or experiment_assign() on the primary.';
    END IF;
    d := rollout._experiment_decision(user_id, experiment, attributes);
    IF d.experiment_id IS NULL OR d.step IN ('INACTIVE', 'NO_HASH_VALUE') THEN
        RETURN NULL;
    END IF;
    SELECT a.variation INTO stored FROM rollout.experiment_assignments a
    WHERE a.experiment_id = d.experiment_id AND a.user_id = experiment_assign.user_id;
    IF FOUND THEN
        IF d.forced_variation IS NOT NULL THEN
            RETURN d.forced_variation;
        END IF;
        RETURN CASE WHEN d.status = 'stopped' THEN NULL ELSE stored END;
    END IF;
    IF d.step = 'FORCED' THEN
        RETURN d.variation;
    END IF;
    IF d.step <> 'ASSIGNED' THEN
        RETURN NULL;
    END IF;
    INSERT INTO rollout.experiment_assignments (experiment_id, user_id, variation)
    VALUES (d.experiment_id, experiment_assign.user_id, d.variation)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO rollout.exposures (experiment_id, user_id, variation)
        VALUES (d.experiment_id, experiment_assign.user_id, d.variation);
        RETURN d.variation;
    END IF;
    -- A concurrent call assigned this user first (and committed): its variation stands.
    SELECT a.variation INTO stored FROM rollout.experiment_assignments a
    WHERE a.experiment_id = d.experiment_id AND a.user_id = experiment_assign.user_id;
    RETURN stored;
END
$$;
CREATE FUNCTION @extschema@.experiment_assign(user_id bigint, experiment text, attributes jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT @extschema@.experiment_assign($1::text, $2, $3) $$;
CREATE FUNCTION @extschema@.experiment_assign(user_id uuid, experiment text, attributes jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT @extschema@.experiment_assign($1::text, $2, $3) $$;
COMMENT ON FUNCTION @extschema@.experiment_assign(text, text, jsonb) IS
    'Sticky assignment: the user''s persisted variation if any (later weight changes do not move it), '
    'otherwise experiment_variant''s answer, persisted (concurrent callers agree) with an exposure row; '
    'NULL when not in the experiment. Errors (25006) on a hot standby: use experiment_variant there';
COMMENT ON FUNCTION @extschema@.experiment_assign(bigint, text, jsonb) IS 'experiment_assign for a bigint user id';
COMMENT ON FUNCTION @extschema@.experiment_assign(uuid, text, jsonb) IS 'experiment_assign for a uuid user id';

CREATE FUNCTION rollout.track(user_id text, event text, value numeric DEFAULT 1, occurred_at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF user_id IS NULL OR user_id = '' THEN
        RAISE EXCEPTION 'track() needs a user id' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the id the user was assigned with, e.g. rollout.track(42, ''purchase'').';
    END IF;
    IF event IS NULL OR btrim(event) = '' THEN
        RAISE EXCEPTION 'track() needs an event name' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name the conversion, e.g. rollout.track(42, ''purchase'', 19.99).';
    END IF;
    IF value IS NULL OR occurred_at IS NULL THEN
        RAISE EXCEPTION 'track() needs a value and a time' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Leave them out for the defaults: value 1, occurred now.';
    END IF;
    INSERT INTO rollout.events (user_id, event, value, occurred_at) VALUES (user_id, event, value, occurred_at);
END
$$;
CREATE FUNCTION rollout.track(user_id bigint, event text, value numeric DEFAULT 1, occurred_at timestamptz DEFAULT now())
RETURNS void LANGUAGE sql VOLATILE AS $$ SELECT rollout.track($1::text, $2, $3, $4) $$;
CREATE FUNCTION rollout.track(user_id uuid, event text, value numeric DEFAULT 1, occurred_at timestamptz DEFAULT now())
RETURNS void LANGUAGE sql VOLATILE AS $$ SELECT rollout.track($1::text, $2, $3, $4) $$;
COMMENT ON FUNCTION rollout.track(text, text, numeric, timestamptz) IS
    'Records a conversion event of a user (value default 1, time default now) in rollout.events';
COMMENT ON FUNCTION rollout.track(bigint, text, numeric, timestamptz) IS 'rollout.track for a bigint user id';
COMMENT ON FUNCTION rollout.track(uuid, text, numeric, timestamptz) IS 'rollout.track for a uuid user id';

-- ---------------------------------------------------------------------------------------------
-- Management API (SECURITY DEFINER, pinned search_path, granted to rollout_editor; each change is
-- audited with the function's name as action)

-- The experiment's id for a management call: raises 42704 for an unknown key; names the action.
CREATE FUNCTION rollout._experiment_target(key text, action text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_id bigint;
BEGIN
    PERFORM set_config('rollout.api_action', action, true);
    SELECT e.id INTO found_id FROM rollout.experiments e WHERE e.key = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', $1
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with rollout.create_experiment(key, variations); list them with SELECT key, status FROM rollout.experiments.';
    END IF;
    RETURN found_id;
END
$$;

CREATE FUNCTION rollout.create_experiment(key text, variations text[], weights float8[] DEFAULT NULL,
    coverage float8 DEFAULT 1, seed text DEFAULT NULL, hash_version integer DEFAULT 2, namespace text DEFAULT NULL,
    namespace_start float8 DEFAULT 0, namespace_end float8 DEFAULT 1)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
    w float8[] := weights;
BEGIN
    PERFORM set_config('rollout.api_action', 'create_experiment', true);
    IF EXISTS (SELECT FROM rollout.experiments e WHERE e.key = create_experiment.key) THEN
        RAISE EXCEPTION 'experiment "%" already exists', key
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Choose another key, or change the existing experiment with the rollout.set_* functions.';
    END IF;
    IF variations IS NULL THEN
        RAISE EXCEPTION 'an experiment needs variations' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Give the control and at least one treatment, e.g. ARRAY[''control'', ''treatment''].';
    END IF;
    IF w IS NULL THEN  -- GrowthBook's equal weights: 1/n each
        w := array_fill(1::float8 / greatest(cardinality(variations), 1), ARRAY[cardinality(variations)]);
    END IF;
    PERFORM rollout._validate_experiment_variations(variations, w);
    PERFORM rollout._validate_experiment_settings(coverage, hash_version, namespace_start, namespace_end);
    INSERT INTO rollout.experiments (key, coverage, seed, hash_version, namespace, namespace_start, namespace_end)
    VALUES (key, coverage, coalesce(seed, key), hash_version, namespace, namespace_start, namespace_end)
    RETURNING id INTO new_id;
    INSERT INTO rollout.experiment_variations (experiment_id, position, key, weight)
    SELECT new_id, v.n - 1, v.key, w[v.n] FROM unnest(variations) WITH ORDINALITY AS v(key, n);
END
$$;
COMMENT ON FUNCTION rollout.create_experiment(text, text[], float8[], float8, text, integer, text, float8, float8) IS
    'Creates an experiment as a draft: variations in order (the first is the control), weights summing to 1 '
    '(NULL: equal), coverage 0 to 1, seed (NULL: the key), hash version 1 or 2, an optional namespace range';

CREATE FUNCTION rollout.set_experiment_status(key text, status text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_experiment_status');
    old_status text;
BEGIN
    SELECT e.status INTO old_status FROM rollout.experiments e WHERE e.id = exp_id;
    PERFORM rollout._validate_experiment_transition(old_status, status);
    UPDATE rollout.experiments e SET status = set_experiment_status.status WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.set_experiment_status(text, text) IS
    'Moves an experiment through its lifecycle: draft -> running, running <-> paused, running or paused -> stopped';

CREATE FUNCTION rollout.set_weights(key text, weights float8[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_weights');
    keys text[];
BEGIN
    SELECT array_agg(v.key ORDER BY v.position) INTO keys FROM rollout.experiment_variations v WHERE v.experiment_id = exp_id;
    PERFORM rollout._validate_experiment_variations(keys, weights);
    UPDATE rollout.experiment_variations v SET weight = weights[v.position + 1]
    WHERE v.experiment_id = exp_id AND v.weight IS DISTINCT FROM weights[v.position + 1];
END
$$;
COMMENT ON FUNCTION rollout.set_weights(text, float8[]) IS
    'Sets the variations'' weights (in variation order, summing to 1); users already assigned by experiment_assign keep their variation';

CREATE FUNCTION rollout.force_variation(key text, variation text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'force_variation');
BEGIN
    IF variation IS NOT NULL AND NOT EXISTS (
        SELECT FROM rollout.experiment_variations v WHERE v.experiment_id = exp_id AND v.key = variation) THEN
        RAISE EXCEPTION 'experiment "%" has no variation "%"', key, variation
            USING ERRCODE = 'undefined_object',
                  HINT = 'Force one of ' || (SELECT string_agg(quote_literal(v.key), ', ' ORDER BY v.position)
                                            FROM rollout.experiment_variations v WHERE v.experiment_id = exp_id) || ', or NULL to clear.';
    END IF;
    UPDATE rollout.experiments e SET forced_variation = variation WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.force_variation(text, text) IS
    'Serves one variation (e.g. the winner) to every user the experiment covers, as GrowthBook''s force; NULL clears';

CREATE FUNCTION rollout.set_coverage(key text, coverage float8) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_coverage');
BEGIN
    UPDATE rollout.experiments e SET coverage = set_coverage.coverage WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.set_coverage(text, float8) IS 'Sets the fraction of users (0 to 1) included in the experiment';

CREATE FUNCTION rollout.set_targeting(key text, constraints jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_targeting');
BEGIN
    UPDATE rollout.experiments e SET constraints = coalesce(set_targeting.constraints, '[]') WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.set_targeting(text, jsonb) IS
    'Sets the targeting constraints (the flag rules'' format, ANDed; ''[]'' or NULL: everyone)';

CREATE FUNCTION rollout.set_schedule(key text, starts_at timestamptz, ends_at timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_schedule');
BEGIN
    UPDATE rollout.experiments e SET starts_at = set_schedule.starts_at, ends_at = set_schedule.ends_at WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.set_schedule(text, timestamptz, timestamptz) IS
    'Sets when a running experiment assigns users: from starts_at (inclusive) to ends_at (exclusive), NULL for no bound; '
    'evaluated against the transaction time or rollout.now';

CREATE FUNCTION rollout.set_namespace(key text, namespace text, namespace_start float8 DEFAULT 0, namespace_end float8 DEFAULT 1)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_namespace');
BEGIN
    UPDATE rollout.experiments e
    SET namespace = set_namespace.namespace, namespace_start = set_namespace.namespace_start,
        namespace_end = set_namespace.namespace_end
    WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.set_namespace(text, text, float8, float8) IS
    'Puts the experiment in a namespace range (experiments with disjoint ranges of one namespace share no user); NULL namespace: none';

CREATE FUNCTION rollout.set_hash_attribute(key text, attribute text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_hash_attribute');
BEGIN
    UPDATE rollout.experiments e SET hash_attribute = coalesce(attribute, 'id') WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.set_hash_attribute(text, text) IS
    'Buckets users by an attribute of the attributes argument (e.g. company) instead of the user id (''id'' or NULL)';

CREATE FUNCTION rollout.set_variation_payload(key text, variation text, payload jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'set_variation_payload');
BEGIN
    UPDATE rollout.experiment_variations v SET payload = set_variation_payload.payload
    WHERE v.experiment_id = exp_id AND v.key = variation;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" has no variation "%"', key, variation USING ERRCODE = 'undefined_object',
            HINT = 'List its variations with SELECT key FROM rollout.experiment_variations.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout.set_variation_payload(text, text, jsonb) IS
    'Attaches a JSON payload (e.g. copy, colours) to a variation, for the application to read';

CREATE FUNCTION rollout.archive_experiment(key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'archive_experiment');
BEGIN
    UPDATE rollout.experiments e SET archived_at = coalesce(e.archived_at, now()) WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.archive_experiment(text) IS
    'Archives an experiment: it then evaluates as unknown; its assignments, exposures and history stay';

CREATE FUNCTION rollout.delete_experiment(key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    exp_id bigint := rollout._experiment_target(key, 'delete_experiment');
    current_status text;
BEGIN
    SELECT e.status INTO current_status FROM rollout.experiments e WHERE e.id = exp_id;
    IF current_status IN ('running', 'paused') THEN
        RAISE EXCEPTION 'experiment "%" is %: it cannot be deleted', key, current_status
            USING ERRCODE = 'object_in_use',
                  HINT = 'Stop it first (rollout.set_experiment_status(key, ''stopped'')), or archive it to keep its data.';
    END IF;
    DELETE FROM rollout.experiments e WHERE e.id = exp_id;
END
$$;
COMMENT ON FUNCTION rollout.delete_experiment(text) IS
    'Deletes a draft or stopped experiment with its variations, assignments and exposures (the audit log keeps its history)';

-- Privileges: anyone may evaluate (experiment_variant, like feature_enabled); assigning and tracking
-- write data the results are computed from, so they need rollout_reader (grant it to the
-- application's role); the management API needs rollout_editor.
REVOKE ALL ON FUNCTION rollout._validate_experiment_settings(float8, integer, float8, float8),
    rollout._flags_document(text), rollout._environment_document(text),
    rollout._validate_experiment_variations(text[], float8[]), rollout._validate_experiment_transition(text, text),
    rollout._experiments_document(), rollout._experiment_decision(text, text, jsonb),
    rollout._experiment_target(text, text), rollout.experiments_validate(), rollout.experiment_variations_check(),
    rollout.experiment_variations_validate(),
    rollout.audit_experiment(),
    @extschema@.experiment_assign(text, text, jsonb), @extschema@.experiment_assign(bigint, text, jsonb),
    @extschema@.experiment_assign(uuid, text, jsonb),
    rollout.track(text, text, numeric, timestamptz), rollout.track(bigint, text, numeric, timestamptz),
    rollout.track(uuid, text, numeric, timestamptz),
    rollout.create_experiment(text, text[], float8[], float8, text, integer, text, float8, float8),
    rollout.set_experiment_status(text, text), rollout.set_weights(text, float8[]), rollout.force_variation(text, text),
    rollout.set_coverage(text, float8), rollout.set_targeting(text, jsonb),
    rollout.set_schedule(text, timestamptz, timestamptz), rollout.set_namespace(text, text, float8, float8),
    rollout.set_hash_attribute(text, text), rollout.set_variation_payload(text, text, jsonb),
    rollout.archive_experiment(text), rollout.delete_experiment(text)
    FROM PUBLIC;
-- Validators run inside the tables' triggers as whoever writes.
GRANT EXECUTE ON FUNCTION rollout._validate_experiment_settings(float8, integer, float8, float8),
    rollout._validate_experiment_variations(text[], float8[]), rollout._validate_experiment_transition(text, text)
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.experiment_assign(text, text, jsonb), @extschema@.experiment_assign(bigint, text, jsonb),
    @extschema@.experiment_assign(uuid, text, jsonb),
    rollout.track(text, text, numeric, timestamptz), rollout.track(bigint, text, numeric, timestamptz),
    rollout.track(uuid, text, numeric, timestamptz)
    TO rollout_reader;
GRANT EXECUTE ON FUNCTION
    rollout.create_experiment(text, text[], float8[], float8, text, integer, text, float8, float8),
    rollout.set_experiment_status(text, text), rollout.set_weights(text, float8[]), rollout.force_variation(text, text),
    rollout.set_coverage(text, float8), rollout.set_targeting(text, jsonb),
    rollout.set_schedule(text, timestamptz, timestamptz), rollout.set_namespace(text, text, float8, float8),
    rollout.set_hash_attribute(text, text), rollout.set_variation_payload(text, text, jsonb),
    rollout.archive_experiment(text), rollout.delete_experiment(text)
    TO rollout_editor;

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
