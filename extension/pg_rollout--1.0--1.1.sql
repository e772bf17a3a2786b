-- pg_rollout 1.0 -> 1.1: the full targeting model (environments, rules, per-user targets and
-- overrides, prerequisites, variants, rollout plans), the management API, the audit log, roles,
-- and snapshot-exact evaluation. A fresh CREATE EXTENSION of 1.1 runs 1.0's script and then this
-- one, so new and updated databases have the same catalog by construction.
\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '1.1'" to load this file. \quit

COMMENT ON SCHEMA rollout IS 'pg_rollout: feature flag configuration, its management API and audit log';

-- ---------------------------------------------------------------------------------------------
-- Roles (cluster-wide, created once, kept when the extension is dropped)

-- Another database's CREATE EXTENSION may make the same role or membership at the same time: its
-- row in the shared catalog then turns up as unique_violation (or duplicate_object) here, and the
-- role is there all the same.
DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['rollout_reader', 'rollout_editor', 'rollout_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN unique_violation OR duplicate_object THEN
                NULL;
            END;
        END IF;
    END LOOP;
    BEGIN
        GRANT rollout_reader TO rollout_editor;
    EXCEPTION WHEN unique_violation THEN
        NULL;
    END;
    BEGIN
        GRANT rollout_editor TO rollout_admin;
    EXCEPTION WHEN unique_violation THEN
        NULL;
    END;
END
$roles$;

-- ---------------------------------------------------------------------------------------------
-- Validation helpers (SQLSTATE 22023 with a hint, whatever the path: API or direct DML)

CREATE FUNCTION rollout._check_key(key text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF key IS NULL OR btrim(key, E' \t\r\n\u00a0') = '' THEN
        RAISE EXCEPTION 'invalid flag key %', coalesce(quote_literal(key), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A flag key is non-empty, non-blank UTF-8 text of at most 200 bytes without control characters.';
    END IF;
    IF octet_length(key) > 200 THEN
        RAISE EXCEPTION 'flag key "%..." is % bytes long', left(key, 20), octet_length(key)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A flag key is at most 200 bytes; use the description for long text.';
    END IF;
    IF key ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid flag key %: it contains a control character', quote_literal(key)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A flag key is non-empty, non-blank UTF-8 text of at most 200 bytes without control characters.';
    END IF;
END
$$;

CREATE FUNCTION rollout._check_percentage(percentage numeric, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF percentage IS NULL OR percentage < 0 OR percentage > 100 THEN
        RAISE EXCEPTION 'percentage % of % is out of range', coalesce(percentage::text, 'NULL'), what
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a percentage from 0 to 100 with at most two decimals, e.g. 25 or 12.5.';
    END IF;
    IF percentage <> round(percentage, 2) THEN
        RAISE EXCEPTION 'percentage % of % has more than two decimals', percentage, what
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Percentages have a resolution of 0.01 (one user in 10,000); round it, e.g. to 12.35.';
    END IF;
END
$$;

-- Core validation (the same code that compiles flags): raises with SQLSTATE, message and hint.
CREATE FUNCTION rollout._validate_constraints(constraints jsonb) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_validate_constraints';
CREATE FUNCTION rollout._validate_variants(variants jsonb) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_validate_variants';
CREATE FUNCTION rollout._validate_value(value jsonb, variants jsonb) RETURNS void
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_validate_value';

-- ---------------------------------------------------------------------------------------------
-- Tables

CREATE TABLE rollout.environments (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT environments_name_valid CHECK (btrim(name) <> '' AND name !~ '[[:cntrl:]]' AND octet_length(name) <= 63)
);
COMMENT ON TABLE rollout.environments IS
    'Environments (production, staging, ...): each flag has its own configuration per environment; '
    'the GUC rollout.environment selects the one evaluation uses';
INSERT INTO rollout.environments (name, description) VALUES ('production', 'The default environment');

-- rollout.flags keeps the identity of a flag; its per-environment switches move to flag_configs.
ALTER TABLE rollout.flags
    DROP CONSTRAINT flags_key_valid,
    DROP CONSTRAINT flags_rollout_percentage_range,
    ADD COLUMN variants jsonb,
    ADD COLUMN archived_at timestamptz,
    ADD CONSTRAINT flags_key_valid CHECK (btrim(key) <> '' AND key !~ '[[:cntrl:]]' AND octet_length(key) <= 200) NOT VALID,
    ADD CONSTRAINT flags_variants_array CHECK (variants IS NULL OR jsonb_typeof(variants) = 'array');
COMMENT ON TABLE rollout.flags IS
    'One row per feature flag: its key, description, bucketing salt and variants. Its configuration '
    'per environment is in rollout.flag_configs and the tables beside it';
COMMENT ON COLUMN rollout.flags.key IS
    'Flag name used by feature_enabled(); non-blank UTF-8, at most 200 bytes, no control characters';
COMMENT ON COLUMN rollout.flags.description IS 'What the flag gates, for people reading the configuration';
COMMENT ON COLUMN rollout.flags.created_at IS 'When the flag was created';
COMMENT ON COLUMN rollout.flags.updated_at IS 'When the flag row last changed (set by a trigger)';
COMMENT ON COLUMN rollout.flags.variants IS
    'NULL for a boolean flag; for a multivariate flag a JSON array of {"key", "weight" (percent, '
    'summing to 100), "value" (payload served by feature_value)}';
COMMENT ON COLUMN rollout.flags.archived_at IS 'Set by rollout.archive_flag(): the flag then evaluates as not found';

CREATE TABLE rollout.flag_configs (
    flag               text NOT NULL REFERENCES rollout.flags (key) ON UPDATE CASCADE ON DELETE CASCADE,
    environment        text NOT NULL REFERENCES rollout.environments (name) ON UPDATE CASCADE ON DELETE CASCADE,
    enabled            boolean NOT NULL DEFAULT false,
    rollout_percentage numeric NOT NULL DEFAULT 0,
    allowed_tiers      text[],
    allow_users        text[] NOT NULL DEFAULT '{}',
    deny_users         text[] NOT NULL DEFAULT '{}',
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flag, environment),
    CONSTRAINT flag_configs_percentage_range CHECK (rollout_percentage BETWEEN 0 AND 100 AND scale(rollout_percentage) <= 2)
);
COMMENT ON TABLE rollout.flag_configs IS
    'A flag''s configuration in one environment: kill switch, per-user allow and deny lists, and the '
    'fallthrough rollout used when no rule matches';
COMMENT ON COLUMN rollout.flag_configs.flag IS 'The flag (rollout.flags.key)';
COMMENT ON COLUMN rollout.flag_configs.environment IS 'The environment (rollout.environments.name)';
COMMENT ON COLUMN rollout.flag_configs.updated_at IS 'When this configuration last changed (set by a trigger)';
COMMENT ON COLUMN rollout.flag_configs.enabled IS 'Kill switch: false turns the flag off for everyone (reason OFF)';
COMMENT ON COLUMN rollout.flag_configs.rollout_percentage IS
    'Fallthrough rollout: share of users (0 to 100, steps of 0.01) who get the flag; raising it only adds users';
COMMENT ON COLUMN rollout.flag_configs.allowed_tiers IS
    'Fallthrough tiers: NULL for every user, else only users whose "tier" attribute is in the list';
COMMENT ON COLUMN rollout.flag_configs.allow_users IS 'User ids (as text) that always get the flag (TARGET_ALLOW)';
COMMENT ON COLUMN rollout.flag_configs.deny_users IS 'User ids (as text) that never get the flag (TARGET_DENY)';

-- 1.0's switches become the production configuration: every user keeps the answer they had.
INSERT INTO rollout.flag_configs (flag, environment, enabled, rollout_percentage)
SELECT key, 'production', enabled, rollout_percentage FROM rollout.flags;
ALTER TABLE rollout.flags DROP COLUMN enabled, DROP COLUMN rollout_percentage;

CREATE TABLE rollout.rules (
    flag               text NOT NULL,
    environment        text NOT NULL,
    number             integer NOT NULL CHECK (number > 0),
    constraints        jsonb NOT NULL DEFAULT '[]',
    rollout_percentage numeric NOT NULL DEFAULT 100,
    bucket_by          text,
    fallback_bucket_by text,
    value              jsonb NOT NULL DEFAULT 'true',
    PRIMARY KEY (flag, environment, number),
    FOREIGN KEY (flag, environment) REFERENCES rollout.flag_configs ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT rules_percentage_range CHECK (rollout_percentage BETWEEN 0 AND 100 AND scale(rollout_percentage) <= 2)
);
COMMENT ON TABLE rollout.rules IS
    'Targeting rules, tried in order of number: the first whose constraints all match decides, serving '
    'value to the users its rollout includes and the off value to the rest';
COMMENT ON COLUMN rollout.rules.constraints IS
    'JSON array of constraints, ANDed, e.g. [{"attribute":"tier","op":"in","values":["pro"]}] (docs/constraints.md)';
COMMENT ON COLUMN rollout.rules.bucket_by IS 'Attribute the rule''s rollout buckets by (e.g. org_id); NULL for the user id';
COMMENT ON COLUMN rollout.rules.fallback_bucket_by IS 'Attribute to bucket by when bucket_by is absent; NULL for none';
COMMENT ON COLUMN rollout.rules.value IS 'What the rule serves: true/false, or a variant key of a multivariate flag';

CREATE TABLE rollout.overrides (
    flag        text NOT NULL,
    environment text NOT NULL,
    user_id     text NOT NULL,
    value       jsonb NOT NULL DEFAULT 'true',
    reason      text,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flag, environment, user_id),
    FOREIGN KEY (flag, environment) REFERENCES rollout.flag_configs ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE rollout.overrides IS
    'Per-user overrides (e.g. grandfathered users): the value a user gets until expires_at, before any '
    'list or rule (reason OVERRIDE)';

CREATE TABLE rollout.prerequisites (
    flag        text NOT NULL,
    environment text NOT NULL,
    requires    text NOT NULL REFERENCES rollout.flags (key) ON UPDATE CASCADE,
    value       jsonb NOT NULL DEFAULT 'true',
    PRIMARY KEY (flag, environment, requires),
    FOREIGN KEY (flag, environment) REFERENCES rollout.flag_configs ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE rollout.prerequisites IS
    'Flags that must serve a value (true by default) to the same user before this flag is evaluated; '
    'transitive, cycles refused (reason PREREQUISITE_FAILED)';

CREATE TABLE rollout.plan_stages (
    flag               text NOT NULL,
    environment        text NOT NULL,
    starts_at          timestamptz NOT NULL,
    rollout_percentage numeric NOT NULL,
    allowed_tiers      text[],
    PRIMARY KEY (flag, environment, starts_at),
    FOREIGN KEY (flag, environment) REFERENCES rollout.flag_configs ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT plan_stages_percentage_range CHECK (rollout_percentage BETWEEN 0 AND 100 AND scale(rollout_percentage) <= 2)
);
COMMENT ON TABLE rollout.plan_stages IS
    'A rollout plan: from starts_at on, the fallthrough uses the stage''s percentage and tiers instead of '
    'flag_configs'' (the last stage started at the transaction''s start time wins), so a phased rollout '
    'advances without a scheduler';

CREATE TABLE rollout.stage_presets (
    name               text PRIMARY KEY,
    rollout_percentage numeric NOT NULL,
    allowed_tiers      text[],
    description        text NOT NULL DEFAULT '',
    CONSTRAINT stage_presets_percentage_range CHECK (rollout_percentage BETWEEN 0 AND 100 AND scale(rollout_percentage) <= 2),
    CONSTRAINT stage_presets_name_valid CHECK (btrim(name) <> '' AND name <> 'rollback')
);
COMMENT ON TABLE rollout.stage_presets IS
    'Named stages for rollout.deploy(flag, stage): the fallthrough percentage and tiers each applies; '
    'admins may edit them';
INSERT INTO rollout.stage_presets (name, rollout_percentage, allowed_tiers, description) VALUES
    ('internal', 0, NULL, 'Only the allow list (internal users)'),
    ('beta', 10, '{pro,enterprise}', '10% of Pro and Enterprise users'),
    ('expanded', 50, '{pro,enterprise}', '50% of Pro and Enterprise users'),
    ('general', 100, NULL, 'Everyone');

-- One row whose version moves with every change to the configuration tables. Evaluation reads it
-- with the statement's snapshot to know which configuration that snapshot sees.
CREATE TABLE rollout.config_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
COMMENT ON TABLE rollout.config_version IS
    'Internal: moved by every write to the configuration tables; lets evaluation use exactly the '
    'configuration its snapshot sees';
INSERT INTO rollout.config_version VALUES (true, 1);

-- The role acting (SET ROLE included), as current_user reads outside SECURITY DEFINER functions:
-- inside the management API and the audit trigger current_user is the extension's owner.
CREATE FUNCTION rollout._outer_user() RETURNS name
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_outer_user';
COMMENT ON FUNCTION rollout._outer_user() IS
    'Internal: the acting role (current_user outside SECURITY DEFINER functions), for the audit log';

CREATE TABLE rollout.audit_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    flag             text,
    environment      text,
    action           text NOT NULL,
    table_name       text NOT NULL,
    old              jsonb,
    new              jsonb,
    session_user_name name NOT NULL DEFAULT session_user,
    current_user_name name NOT NULL DEFAULT rollout._outer_user(),
    application_name text DEFAULT current_setting('application_name'),
    actor            text DEFAULT nullif(current_setting('rollout.actor', true), ''),
    transaction_id   xid8 NOT NULL DEFAULT pg_current_xact_id()
);
COMMENT ON TABLE rollout.audit_log IS
    'Append-only record of every change to the configuration, through the API or direct DML: who '
    '(session user, acting role, application_name, the rollout.actor setting), what (old and new rows '
    'as JSON), when, in which transaction';

-- Configuration rows are dumped with the extension (the audit log too: it is history).
SELECT pg_catalog.pg_extension_config_dump('rollout.environments', 'WHERE name <> ''production''');
SELECT pg_catalog.pg_extension_config_dump('rollout.flag_configs', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.rules', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.overrides', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.prerequisites', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.plan_stages', '');
-- The four presets CREATE EXTENSION makes are not dumped (the restore makes them again).
SELECT pg_catalog.pg_extension_config_dump('rollout.stage_presets',
    'WHERE name NOT IN (''internal'', ''beta'', ''expanded'', ''general'')');
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log_id_seq', '');

-- ---------------------------------------------------------------------------------------------
-- Triggers: validation, audit, and the configuration version

DROP TRIGGER flags_changed ON rollout.flags;
DROP FUNCTION rollout.flags_changed();
DROP TRIGGER flags_validate ON rollout.flags;
DROP FUNCTION rollout.flags_validate();

CREATE FUNCTION rollout.flags_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._check_key(NEW.key);
    IF NEW.salt = '' THEN
        RAISE EXCEPTION 'empty salt for flag "%"', NEW.key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL to bucket by the flag key.';
    END IF;
    IF NEW.variants IS NOT NULL THEN
        PERFORM rollout._validate_variants(NEW.variants);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout.flags_validate() IS
    'Trigger: refuses invalid flag rows with SQLSTATE 22023 and a hint; stamps updated_at';
CREATE TRIGGER flags_validate BEFORE INSERT OR UPDATE ON rollout.flags
    FOR EACH ROW EXECUTE FUNCTION rollout.flags_validate();

-- Every flag has a configuration, switched off, in every environment: a new flag gets one in each
-- environment, a new environment one for each flag.
CREATE FUNCTION rollout.configs_create() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_flag text := CASE TG_TABLE_NAME WHEN 'flags' THEN to_jsonb(NEW) ->> 'key' END;
    new_environment text := CASE TG_TABLE_NAME WHEN 'environments' THEN to_jsonb(NEW) ->> 'name' END;
BEGIN
    INSERT INTO rollout.flag_configs (flag, environment)
    SELECT f.key, e.name FROM rollout.flags f, rollout.environments e
    WHERE f.key = coalesce(new_flag, f.key) AND e.name = coalesce(new_environment, e.name)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.configs_create() IS
    'Trigger: gives a new flag a switched-off configuration in every environment, and every flag one in a new environment';
CREATE TRIGGER flags_configure AFTER INSERT ON rollout.flags
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_create();
CREATE TRIGGER environments_configure AFTER INSERT ON rollout.environments
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_create();

CREATE FUNCTION rollout.configs_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    variants jsonb;
    what text;
BEGIN
    IF TG_TABLE_NAME <> 'stage_presets' THEN
        what := format('flag "%s" in environment "%s"', NEW.flag, NEW.environment);
    END IF;
    CASE TG_TABLE_NAME
    WHEN 'flag_configs' THEN
        PERFORM rollout._check_percentage(NEW.rollout_percentage, what);
        IF TG_OP = 'UPDATE' THEN
            NEW.updated_at := now();
        END IF;
    WHEN 'rules' THEN
        PERFORM rollout._check_percentage(NEW.rollout_percentage, format('rule %s of %s', NEW.number, what));
        PERFORM rollout._validate_constraints(NEW.constraints);
        SELECT f.variants INTO variants FROM rollout.flags f WHERE f.key = NEW.flag;
        PERFORM rollout._validate_value(NEW.value, variants);
        IF NEW.bucket_by = '' OR NEW.fallback_bucket_by = '' THEN
            RAISE EXCEPTION 'empty bucket_by attribute in rule % of %', NEW.number, what
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL to bucket by the user id.';
        END IF;
    WHEN 'plan_stages' THEN
        PERFORM rollout._check_percentage(NEW.rollout_percentage, format('the plan stage at %s of %s', NEW.starts_at, what));
    WHEN 'overrides' THEN
        SELECT f.variants INTO variants FROM rollout.flags f WHERE f.key = NEW.flag;
        PERFORM rollout._validate_value(NEW.value, variants);
    WHEN 'prerequisites' THEN
        SELECT f.variants INTO variants FROM rollout.flags f WHERE f.key = NEW.requires;
        PERFORM rollout._validate_value(NEW.value, variants);
        -- A cycle (this flag reachable from what it requires) would never resolve.
        IF NEW.requires = NEW.flag OR EXISTS (
            WITH RECURSIVE reach(flag) AS (
                SELECT p.requires FROM rollout.prerequisites p
                WHERE p.flag = NEW.requires AND p.environment = NEW.environment
                UNION
                SELECT p.requires FROM rollout.prerequisites p JOIN reach r ON p.flag = r.flag
                WHERE p.environment = NEW.environment)
            SELECT FROM reach WHERE reach.flag = NEW.flag)
        THEN
            RAISE EXCEPTION 'prerequisite cycle: flag "%" would require itself through "%"', NEW.flag, NEW.requires
                USING ERRCODE = 'invalid_object_definition',
                      HINT = 'A flag cannot depend on itself, directly or through other flags; remove one prerequisite.';
        END IF;
    WHEN 'stage_presets' THEN
        PERFORM rollout._check_percentage(NEW.rollout_percentage, format('stage preset "%s"', NEW.name));
    END CASE;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout.configs_validate() IS
    'Trigger: validates configuration rows (percentages, constraints, values, prerequisite cycles) with '
    'an SQLSTATE and a hint, whether they come from the API or direct DML';
CREATE TRIGGER configs_validate BEFORE INSERT OR UPDATE ON rollout.flag_configs
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_validate();
CREATE TRIGGER configs_validate BEFORE INSERT OR UPDATE ON rollout.rules
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_validate();
CREATE TRIGGER configs_validate BEFORE INSERT OR UPDATE ON rollout.overrides
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_validate();
CREATE TRIGGER configs_validate BEFORE INSERT OR UPDATE ON rollout.prerequisites
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_validate();
CREATE TRIGGER configs_validate BEFORE INSERT OR UPDATE ON rollout.plan_stages
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_validate();
CREATE TRIGGER configs_validate BEFORE INSERT OR UPDATE ON rollout.stage_presets
    FOR EACH ROW EXECUTE FUNCTION rollout.configs_validate();

-- Audit: one row per changed configuration row, whoever changed it.
CREATE FUNCTION rollout.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
    row jsonb := coalesce(new_row, old_row);
BEGIN
    INSERT INTO rollout.audit_log (flag, environment, action, table_name, old, new)
    VALUES (CASE TG_TABLE_NAME WHEN 'flags' THEN row ->> 'key' ELSE row ->> 'flag' END,
            CASE TG_TABLE_NAME WHEN 'environments' THEN row ->> 'name' ELSE row ->> 'environment' END,
            coalesce(nullif(current_setting('rollout.api_action', true), ''), lower(TG_OP)),
            TG_TABLE_NAME, old_row, new_row);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.audit() IS 'Trigger: appends each changed configuration row to rollout.audit_log';

CREATE FUNCTION rollout.audit_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rollout.audit_log (action, table_name) VALUES ('truncate', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.audit_truncate() IS 'Trigger: records a TRUNCATE of a configuration table in rollout.audit_log';

-- Every write moves the configuration version (statement level: once per statement).
CREATE FUNCTION rollout.config_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE rollout.config_version SET version = version + 1;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.config_changed() IS
    'Trigger: moves rollout.config_version, so every later snapshot evaluates the new configuration';

DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['flags', 'environments', 'flag_configs', 'rules', 'overrides',
                             'prerequisites', 'plan_stages', 'stage_presets']
    LOOP
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollout.%I
                        FOR EACH ROW EXECUTE FUNCTION rollout.audit()', t);
        EXECUTE format('CREATE TRIGGER audit_truncate AFTER TRUNCATE ON rollout.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION rollout.audit_truncate()', t);
        EXECUTE format('CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION rollout.config_changed()', t);
        -- Logical replication apply workers fire them too.
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER audit', t);
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER audit_truncate', t);
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER config_changed', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['flags', 'flag_configs', 'rules', 'overrides', 'prerequisites',
                             'plan_stages', 'stage_presets']
    LOOP
        EXECUTE format('ALTER TABLE rollout.%I ENABLE ALWAYS TRIGGER %I', t,
                       CASE t WHEN 'flags' THEN 'flags_validate' ELSE 'configs_validate' END);
    END LOOP;
    ALTER TABLE rollout.flags ENABLE ALWAYS TRIGGER flags_configure;
    ALTER TABLE rollout.environments ENABLE ALWAYS TRIGGER environments_configure;
END
$triggers$;

-- The audit log is append-only for everyone but its owner (superusers included).
CREATE FUNCTION rollout.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_user <> (SELECT c.relowner::regrole::name FROM pg_class c WHERE c.oid = TG_RELID) THEN
        RAISE EXCEPTION 'rollout.audit_log is append-only'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the owner of rollout.audit_log may remove or change its rows.';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION rollout.audit_log_append_only() IS
    'Trigger: refuses UPDATE, DELETE and TRUNCATE of rollout.audit_log to everyone but its owner';
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON rollout.audit_log
    FOR EACH ROW EXECUTE FUNCTION rollout.audit_log_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON rollout.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION rollout.audit_log_append_only();
ALTER TABLE rollout.audit_log ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE rollout.audit_log ENABLE ALWAYS TRIGGER append_only_truncate;

-- ---------------------------------------------------------------------------------------------
-- The environment document: everything evaluation needs, as one JSON value the core compiles.

CREATE FUNCTION rollout._environment_document(environment text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT jsonb_build_object(
    'environment', $1,
    'flags', coalesce(jsonb_agg(jsonb_build_object(
        'key', f.key,
        'salt', coalesce(f.salt, f.key),
        'variants', f.variants,
        'enabled', c.enabled,
        'rollout_bp', (c.rollout_percentage * 100)::int,
        'tiers', to_jsonb(c.allowed_tiers),
        'allow', to_jsonb(c.allow_users),
        'deny', to_jsonb(c.deny_users),
        'overrides', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'user_id', o.user_id, 'value', o.value,
                          'expires_at_us', (extract(epoch FROM o.expires_at) * 1000000)::int8)), '[]')
                      FROM rollout.overrides o WHERE o.flag = f.key AND o.environment = $1),
        'prerequisites', (SELECT coalesce(jsonb_agg(jsonb_build_object('flag', p.requires, 'value', p.value)), '[]')
                          FROM rollout.prerequisites p
                          WHERE p.flag = f.key AND p.environment = $1),
        'rules', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                      'number', r.number, 'constraints', r.constraints,
                      'rollout_bp', (r.rollout_percentage * 100)::int,
                      'bucket_by', r.bucket_by, 'fallback_bucket_by', r.fallback_bucket_by,
                      'value', r.value) ORDER BY r.number), '[]')
                  FROM rollout.rules r WHERE r.flag = f.key AND r.environment = $1),
        'plan', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                     'starts_at_us', (extract(epoch FROM s.starts_at) * 1000000)::int8,
                     'rollout_bp', (s.rollout_percentage * 100)::int,
                     'tiers', to_jsonb(s.allowed_tiers)) ORDER BY s.starts_at), '[]')
                 FROM rollout.plan_stages s WHERE s.flag = f.key AND s.environment = $1)
    ) ORDER BY f.key), '[]'))
FROM rollout.flags f
JOIN rollout.flag_configs c ON c.flag = f.key AND c.environment = $1
WHERE f.archived_at IS NULL
$$;
COMMENT ON FUNCTION rollout._environment_document(text) IS
    'Internal: one environment''s whole flag configuration as the JSON document the evaluation core compiles';

-- ---------------------------------------------------------------------------------------------
-- Management API. SECURITY DEFINER with a pinned search_path: rollout_editor may call them
-- without any privilege on the tables. Each change is audited with the function's name as action.

CREATE FUNCTION rollout._current_environment() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce(nullif(pg_catalog.current_setting('rollout.environment', true), ''), 'production') $$;
COMMENT ON FUNCTION rollout._current_environment() IS
    'The environment of the rollout.environment setting (default production)';

-- Resolves a flag's configuration row for a management call: raises 42704 for an unknown flag or
-- environment, and names the action for the audit log.
CREATE FUNCTION rollout._target(flag text, environment text, action text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('rollout.api_action', action, true);
    IF NOT EXISTS (SELECT FROM rollout.flags f WHERE f.key = $1) THEN
        RAISE EXCEPTION 'flag "%" does not exist', $1
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with rollout.create_flag(key); list flags with SELECT key FROM rollout.flags.';
    END IF;
    IF NOT EXISTS (SELECT FROM rollout.environments e WHERE e.name = $2) THEN
        RAISE EXCEPTION 'environment "%" does not exist', $2
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with rollout.create_environment(name), or SET rollout.environment to one of rollout.environments.';
    END IF;
END
$$;

CREATE FUNCTION rollout.create_flag(key text, description text DEFAULT '', variants jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('rollout.api_action', 'create_flag', true);
    PERFORM rollout._check_key(key);
    IF EXISTS (SELECT FROM rollout.flags f WHERE f.key = create_flag.key) THEN
        RAISE EXCEPTION 'flag "%" already exists', key
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Choose another key, or change the existing flag with the rollout.set_* functions.';
    END IF;
    INSERT INTO rollout.flags (key, description, variants) VALUES (key, coalesce(description, ''), variants);
END
$$;
COMMENT ON FUNCTION rollout.create_flag(text, text, jsonb) IS
    'Creates a flag, switched off in every environment; variants (JSON array of {key, weight, value}) '
    'make it multivariate';

CREATE FUNCTION rollout.archive_flag(key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, rollout._current_environment(), 'archive_flag');
    UPDATE rollout.flags f SET archived_at = coalesce(f.archived_at, now()) WHERE f.key = archive_flag.key;
END
$$;
COMMENT ON FUNCTION rollout.archive_flag(text) IS
    'Archives a flag: it then evaluates as not found everywhere; its configuration and history stay';

CREATE FUNCTION rollout.set_enabled(key text, enabled boolean, environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, 'set_enabled');
    IF enabled IS NULL THEN
        RAISE EXCEPTION 'enabled must be true or false' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'rollout.set_enabled(key, false) is the kill switch.';
    END IF;
    UPDATE rollout.flag_configs c SET enabled = set_enabled.enabled
    WHERE c.flag = key AND c.environment = set_enabled.environment;
END
$$;
COMMENT ON FUNCTION rollout.set_enabled(text, boolean, text) IS
    'The kill switch: false turns the flag off for everyone in the environment, at once';

CREATE FUNCTION rollout.set_rollout(key text, percentage numeric, tiers text[] DEFAULT NULL,
                                    environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, 'set_rollout');
    PERFORM rollout._check_percentage(percentage, format('flag "%s"', key));
    UPDATE rollout.flag_configs c SET rollout_percentage = percentage, allowed_tiers = tiers
    WHERE c.flag = key AND c.environment = set_rollout.environment;
END
$$;
COMMENT ON FUNCTION rollout.set_rollout(text, numeric, text[], text) IS
    'Sets the fallthrough rollout: the percentage of users (optionally only of the given tiers) who get the flag';

CREATE FUNCTION rollout._check_user_ids(user_ids text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF user_ids IS NULL OR EXISTS (SELECT FROM unnest(user_ids) u WHERE u IS NULL OR u = '') THEN
        RAISE EXCEPTION 'user ids must be non-empty text'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass user ids as text, e.g. ARRAY[''42'', ''43''].';
    END IF;
END
$$;

-- The allow and deny lists of a flag configuration: adds `allow` to the allow list and `deny` to
-- the deny list, and removes every id of the three arrays from the other list (so a user is on at
-- most one), or, for remove_users, from both.
CREATE FUNCTION rollout._edit_lists(key text, environment text, action text, user_ids text[],
                                    to_allow boolean, to_deny boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, action);
    PERFORM rollout._check_user_ids(user_ids);
    UPDATE rollout.flag_configs c
    SET allow_users = ARRAY(SELECT DISTINCT u FROM unnest(c.allow_users || CASE WHEN to_allow THEN user_ids END) u
                            WHERE to_allow OR u <> ALL (user_ids) ORDER BY u),
        deny_users = ARRAY(SELECT DISTINCT u FROM unnest(c.deny_users || CASE WHEN to_deny THEN user_ids END) u
                           WHERE to_deny OR u <> ALL (user_ids) ORDER BY u)
    WHERE c.flag = key AND c.environment = _edit_lists.environment;
END
$$;

CREATE FUNCTION rollout.allow_users(key text, user_ids text[], environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._edit_lists(key, environment, 'allow_users', user_ids, true, false) $$;
COMMENT ON FUNCTION rollout.allow_users(text, text[], text) IS
    'Adds users to the allow list (they get the flag whatever the rules), removing them from the deny list';

CREATE FUNCTION rollout.deny_users(key text, user_ids text[], environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._edit_lists(key, environment, 'deny_users', user_ids, false, true) $$;
COMMENT ON FUNCTION rollout.deny_users(text, text[], text) IS
    'Adds users to the deny list (they never get the flag, except by an override), removing them from the allow list';

CREATE FUNCTION rollout.remove_users(key text, user_ids text[], environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._edit_lists(key, environment, 'remove_users', user_ids, false, false) $$;
COMMENT ON FUNCTION rollout.remove_users(text, text[], text) IS 'Removes users from both the allow and the deny list';

CREATE FUNCTION rollout.override(key text, user_id text, value jsonb, reason text DEFAULT NULL,
                                 expires_at timestamptz DEFAULT NULL,
                                 environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, 'override');
    PERFORM rollout._check_user_ids(ARRAY[user_id]);
    INSERT INTO rollout.overrides AS o (flag, environment, user_id, value, reason, expires_at)
    VALUES (key, environment, user_id, value, reason, expires_at)
    ON CONFLICT ON CONSTRAINT overrides_pkey DO UPDATE
    SET value = EXCLUDED.value, reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at, created_at = now();
END
$$;
COMMENT ON FUNCTION rollout.override(text, text, jsonb, text, timestamptz, text) IS
    'Gives one user a fixed value (true/false or a variant key) until expires_at (NULL: no expiry), before any list or rule';

CREATE FUNCTION rollout.clear_override(key text, user_id text, environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, 'clear_override');
    DELETE FROM rollout.overrides o
    WHERE o.flag = key AND o.environment = clear_override.environment AND o.user_id = clear_override.user_id;
END
$$;
COMMENT ON FUNCTION rollout.clear_override(text, text, text) IS 'Removes a user''s override';

CREATE FUNCTION rollout.grandfather(key text, user_ids text[], reason text, expires_at timestamptz DEFAULT NULL,
                                    environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, 'grandfather');
    PERFORM rollout._check_user_ids(user_ids);
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'grandfathering needs a reason' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Say why these users keep the feature, e.g. ''signed up under the old plan''.';
    END IF;
    INSERT INTO rollout.overrides AS o (flag, environment, user_id, value, reason, expires_at)
    SELECT key, environment, u, 'true', reason, expires_at FROM unnest(user_ids) u
    ON CONFLICT ON CONSTRAINT overrides_pkey DO UPDATE
    SET value = 'true', reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at, created_at = now();
END
$$;
COMMENT ON FUNCTION rollout.grandfather(text, text[], text, timestamptz, text) IS
    'Keeps the flag on for existing users, with a reason and an optional expiry (overrides with value true)';

CREATE FUNCTION rollout.add_rule(key text, constraints jsonb, percentage numeric DEFAULT 100, bucket_by text DEFAULT NULL,
                                 value jsonb DEFAULT 'true', fallback_bucket_by text DEFAULT NULL,
                                 environment text DEFAULT rollout._current_environment())
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    PERFORM rollout._target(key, environment, 'add_rule');
    PERFORM rollout._check_percentage(percentage, format('a rule of flag "%s"', key));
    -- Serialise rule numbering per flag configuration.
    PERFORM FROM rollout.flag_configs c WHERE c.flag = key AND c.environment = add_rule.environment FOR UPDATE;
    SELECT coalesce(max(r.number), 0) + 1 INTO n FROM rollout.rules r
    WHERE r.flag = key AND r.environment = add_rule.environment;
    BEGIN
        INSERT INTO rollout.rules (flag, environment, number, constraints, rollout_percentage, bucket_by, fallback_bucket_by, value)
        VALUES (key, environment, n, constraints, percentage, bucket_by, fallback_bucket_by, coalesce(value, 'true'));
    EXCEPTION WHEN unique_violation THEN
        -- Only under REPEATABLE READ or SERIALIZABLE: a rule committed after this transaction's
        -- snapshot took the number. That is a serialization failure; retrying succeeds.
        RAISE EXCEPTION 'could not serialize access: another transaction added rule % to flag "%"', n, key
            USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
    END;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.add_rule(text, jsonb, numeric, text, jsonb, text, text) IS
    'Appends a targeting rule and returns its number: users matching every constraint get value if the '
    'rule''s rollout (bucketed by bucket_by, default the user id) includes them, the off value otherwise';

CREATE FUNCTION rollout.remove_rule(key text, rule integer, environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, 'remove_rule');
    DELETE FROM rollout.rules r WHERE r.flag = key AND r.environment = remove_rule.environment AND r.number = rule;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'flag "%" has no rule %', key, rule USING ERRCODE = 'undefined_object',
            HINT = 'List its rules with SELECT number, constraints FROM rollout.rules WHERE flag = ''' || key || '''.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout.remove_rule(text, integer, text) IS
    'Removes one rule; the others keep their numbers and order';

CREATE FUNCTION rollout.set_prerequisite(key text, requires text, value jsonb DEFAULT 'true',
                                         environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(requires, environment, 'set_prerequisite');
    PERFORM rollout._target(key, environment, 'set_prerequisite');
    INSERT INTO rollout.prerequisites AS p (flag, environment, requires, value)
    VALUES (key, environment, requires, coalesce(value, 'true'))
    ON CONFLICT ON CONSTRAINT prerequisites_pkey DO UPDATE SET value = EXCLUDED.value;
END
$$;
COMMENT ON FUNCTION rollout.set_prerequisite(text, text, jsonb, text) IS
    'Makes the flag depend on another: it is off (PREREQUISITE_FAILED) for users to whom "requires" does not serve value';

CREATE FUNCTION rollout.remove_prerequisite(key text, requires text, environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, environment, 'remove_prerequisite');
    DELETE FROM rollout.prerequisites p
    WHERE p.flag = key AND p.environment = remove_prerequisite.environment AND p.requires = remove_prerequisite.requires;
END
$$;
COMMENT ON FUNCTION rollout.remove_prerequisite(text, text, text) IS 'Removes a prerequisite';

CREATE FUNCTION rollout.set_plan(key text, stages jsonb, environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stage jsonb;
    i integer := 0;
    at timestamptz;
    previous timestamptz;
BEGIN
    PERFORM rollout._target(key, environment, 'set_plan');
    IF stages IS NULL OR jsonb_typeof(stages) <> 'array' THEN
        RAISE EXCEPTION 'a plan must be a JSON array of stages' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use e.g. ''[{"starts_at":"2026-12-01T09:00:00Z","percentage":10,"tiers":["pro"]},{"starts_at":"2026-12-08T09:00:00Z","percentage":100}]''.';
    END IF;
    DELETE FROM rollout.plan_stages s WHERE s.flag = key AND s.environment = set_plan.environment;
    FOR stage IN SELECT * FROM jsonb_array_elements(stages) LOOP
        i := i + 1;
        IF jsonb_typeof(stage) <> 'object' OR NOT stage ? 'starts_at' OR NOT stage ? 'percentage'
           OR EXISTS (SELECT FROM jsonb_object_keys(stage) k WHERE k NOT IN ('starts_at', 'percentage', 'tiers')) THEN
            RAISE EXCEPTION 'plan stage % must be an object with starts_at, percentage and optional tiers', i
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use e.g. {"starts_at":"2026-12-01T09:00:00Z","percentage":10,"tiers":["pro","enterprise"]}.';
        END IF;
        BEGIN
            at := (stage ->> 'starts_at')::timestamptz;
        EXCEPTION WHEN others THEN
            RAISE EXCEPTION 'plan stage %: starts_at % is not a timestamp', i, stage -> 'starts_at'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ISO 8601, e.g. "2026-12-01T09:00:00Z".';
        END;
        IF jsonb_typeof(stage -> 'percentage') <> 'number' THEN
            RAISE EXCEPTION 'plan stage %: percentage % is not a number', i, stage -> 'percentage'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a number from 0 to 100.';
        END IF;
        IF stage ? 'tiers' AND jsonb_typeof(stage -> 'tiers') NOT IN ('array', 'null') THEN
            RAISE EXCEPTION 'plan stage %: tiers must be an array of strings', i
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Use e.g. ["pro","enterprise"], or leave it out for every tier.';
        END IF;
        IF previous IS NOT NULL AND at <= previous THEN
            RAISE EXCEPTION 'plan stage % starts at %, not after stage % (%)', i, at, i - 1, previous
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'List the stages in time order, each starting after the one before.';
        END IF;
        previous := at;
        INSERT INTO rollout.plan_stages (flag, environment, starts_at, rollout_percentage, allowed_tiers)
        VALUES (key, environment, at, (stage ->> 'percentage')::numeric,
                CASE WHEN jsonb_typeof(stage -> 'tiers') = 'array'
                     THEN ARRAY(SELECT jsonb_array_elements_text(stage -> 'tiers')) END);
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout.set_plan(text, jsonb, text) IS
    'Replaces the flag''s rollout plan: stages [{starts_at, percentage, tiers}] in time order; the stage '
    'started at the transaction''s start time sets the fallthrough, so the rollout advances by itself';

CREATE FUNCTION rollout.deploy(key text, stage text, environment text DEFAULT rollout._current_environment())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    preset rollout.stage_presets;
BEGIN
    PERFORM rollout._target(key, environment, 'deploy ' || coalesce(stage, 'NULL'));
    IF stage = 'rollback' THEN
        UPDATE rollout.flag_configs c SET enabled = false WHERE c.flag = key AND c.environment = deploy.environment;
        RETURN;
    END IF;
    SELECT * INTO preset FROM rollout.stage_presets p WHERE p.name = stage;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown stage "%"', stage USING ERRCODE = 'undefined_object',
            HINT = 'Use ''rollback'' or a preset of rollout.stage_presets: '
                   || (SELECT string_agg(p.name, ', ' ORDER BY p.rollout_percentage, p.name) FROM rollout.stage_presets p) || '.';
    END IF;
    UPDATE rollout.flag_configs c
    SET enabled = true, rollout_percentage = preset.rollout_percentage, allowed_tiers = preset.allowed_tiers
    WHERE c.flag = key AND c.environment = deploy.environment;
END
$$;
COMMENT ON FUNCTION rollout.deploy(text, text, text) IS
    'Moves a flag to a named stage of rollout.stage_presets (internal, beta, expanded, general, ...), '
    'switching it on; deploy(key, ''rollback'') switches it off';

CREATE FUNCTION rollout.copy_environment(key text, from_env text, to_env text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rollout._target(key, from_env, 'copy_environment');
    PERFORM rollout._target(key, to_env, 'copy_environment');
    UPDATE rollout.flag_configs t
    SET enabled = s.enabled, rollout_percentage = s.rollout_percentage, allowed_tiers = s.allowed_tiers,
        allow_users = s.allow_users, deny_users = s.deny_users
    FROM rollout.flag_configs s
    WHERE s.flag = key AND s.environment = from_env AND t.flag = key AND t.environment = to_env;
    DELETE FROM rollout.rules r WHERE r.flag = key AND r.environment = to_env;
    INSERT INTO rollout.rules (flag, environment, number, constraints, rollout_percentage, bucket_by, fallback_bucket_by, value)
    SELECT r.flag, to_env, r.number, r.constraints, r.rollout_percentage, r.bucket_by, r.fallback_bucket_by, r.value
    FROM rollout.rules r WHERE r.flag = key AND r.environment = from_env;
    DELETE FROM rollout.overrides o WHERE o.flag = key AND o.environment = to_env;
    INSERT INTO rollout.overrides (flag, environment, user_id, value, reason, expires_at)
    SELECT o.flag, to_env, o.user_id, o.value, o.reason, o.expires_at
    FROM rollout.overrides o WHERE o.flag = key AND o.environment = from_env;
    DELETE FROM rollout.prerequisites p WHERE p.flag = key AND p.environment = to_env;
    INSERT INTO rollout.prerequisites (flag, environment, requires, value)
    SELECT p.flag, to_env, p.requires, p.value FROM rollout.prerequisites p WHERE p.flag = key AND p.environment = from_env;
    DELETE FROM rollout.plan_stages s WHERE s.flag = key AND s.environment = to_env;
    INSERT INTO rollout.plan_stages (flag, environment, starts_at, rollout_percentage, allowed_tiers)
    SELECT s.flag, to_env, s.starts_at, s.rollout_percentage, s.allowed_tiers
    FROM rollout.plan_stages s WHERE s.flag = key AND s.environment = from_env;
END
$$;
COMMENT ON FUNCTION rollout.copy_environment(text, text, text) IS
    'Copies a flag''s whole configuration (switch, rollout, lists, rules, overrides, prerequisites, plan) '
    'from one environment to another, replacing what the target had';

CREATE FUNCTION rollout.create_environment(name text, description text DEFAULT '')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('rollout.api_action', 'create_environment', true);
    IF EXISTS (SELECT FROM rollout.environments e WHERE e.name = create_environment.name) THEN
        RAISE EXCEPTION 'environment "%" already exists', name USING ERRCODE = 'duplicate_object',
            HINT = 'Environments are listed in rollout.environments.';
    END IF;
    INSERT INTO rollout.environments (name, description) VALUES (name, coalesce(description, ''));
END
$$;
COMMENT ON FUNCTION rollout.create_environment(text, text) IS
    'Adds an environment; every flag gets a switched-off configuration in it';

-- ---------------------------------------------------------------------------------------------
-- Evaluation. Not STRICT: a NULL or empty user id is a user without an id (in a 100% rollout,
-- out of any partial one, as GrowthBook), never NULL.

ALTER FUNCTION @extschema@.feature_enabled(bigint, text) CALLED ON NULL INPUT;
ALTER FUNCTION @extschema@.feature_enabled(text, text) CALLED ON NULL INPUT;
ALTER FUNCTION @extschema@.feature_enabled(uuid, text) CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.feature_enabled(bigint, text) IS
    'Whether the flag serves an "on" value to the user (no attributes); see feature_explain for why';
COMMENT ON FUNCTION @extschema@.feature_enabled(text, text) IS
    'Whether the flag is on for the user id given as text (hashed as given: feature_enabled(''42'', f) = feature_enabled(42, f))';
COMMENT ON FUNCTION @extschema@.feature_enabled(uuid, text) IS
    'Whether the flag is on for the user id given as a uuid; buckets like the uuid''s lower-case canonical text';

CREATE FUNCTION @extschema@.feature_enabled(user_id bigint, flag text, attributes jsonb) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_bigint_jsonb';
CREATE FUNCTION @extschema@.feature_enabled(user_id text, flag text, attributes jsonb) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_text_jsonb';
CREATE FUNCTION @extschema@.feature_enabled(user_id uuid, flag text, attributes jsonb) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_uuid_jsonb';
COMMENT ON FUNCTION @extschema@.feature_enabled(bigint, text, jsonb) IS
    'Whether the flag is on for the user with these attributes (tier, country, app_version, ...)';
COMMENT ON FUNCTION @extschema@.feature_enabled(text, text, jsonb) IS
    'Whether the flag is on for the user (id as text) with these attributes';
COMMENT ON FUNCTION @extschema@.feature_enabled(uuid, text, jsonb) IS
    'Whether the flag is on for the user (id as uuid) with these attributes';

-- The row form: attributes are the columns of a row (e.g. feature_enabled_row(u.id, 'f', u) in
-- a scan of users), looked up by name once per query; no jsonb is built per row.
CREATE FUNCTION @extschema@.feature_enabled_row(user_id bigint, flag text, attributes record) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_bigint_row';
CREATE FUNCTION @extschema@.feature_enabled_row(user_id text, flag text, attributes record) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_text_row';
CREATE FUNCTION @extschema@.feature_enabled_row(user_id uuid, flag text, attributes record) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_uuid_row';
COMMENT ON FUNCTION @extschema@.feature_enabled_row(bigint, text, record) IS
    'Whether the flag is on for the user whose attributes are the columns of a row, e.g. '
    'feature_enabled_row(u.id, ''f'', u) FROM users u; columns are matched to attributes by name once per query';
COMMENT ON FUNCTION @extschema@.feature_enabled_row(text, text, record) IS
    'Row form of feature_enabled for a text user id';
COMMENT ON FUNCTION @extschema@.feature_enabled_row(uuid, text, record) IS
    'Row form of feature_enabled for a uuid user id';

-- The pairs form: attributes as name/value arguments, e.g.
-- feature_enabled_with(u.id, 'f', 'tier', u.tier, 'country', u.country). The names must be
-- constants; they are matched to the flag's attributes once per query and only the values are
-- read per row: no row and no jsonb is built, the cheapest way to pass columns.
CREATE FUNCTION @extschema@.feature_enabled_with(user_id bigint, flag text, VARIADIC name_value_pairs "any") RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_bigint_pairs';
CREATE FUNCTION @extschema@.feature_enabled_with(user_id text, flag text, VARIADIC name_value_pairs "any") RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_text_pairs';
CREATE FUNCTION @extschema@.feature_enabled_with(user_id uuid, flag text, VARIADIC name_value_pairs "any") RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_uuid_pairs';
COMMENT ON FUNCTION @extschema@.feature_enabled_with(bigint, text, "any") IS
    'Whether the flag is on for the user with attributes given as name/value pairs, e.g. '
    'feature_enabled_with(u.id, ''f'', ''tier'', u.tier, ''country'', u.country); names must be constants';
COMMENT ON FUNCTION @extschema@.feature_enabled_with(text, text, "any") IS
    'Pairs form of feature_enabled for a text user id';
COMMENT ON FUNCTION @extschema@.feature_enabled_with(uuid, text, "any") IS
    'Pairs form of feature_enabled for a uuid user id';

CREATE FUNCTION @extschema@.feature_value(user_id bigint, flag text, attributes jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_value_bigint';
CREATE FUNCTION @extschema@.feature_value(user_id text, flag text, attributes jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_value_text';
CREATE FUNCTION @extschema@.feature_value(user_id uuid, flag text, attributes jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_value_uuid';
COMMENT ON FUNCTION @extschema@.feature_value(bigint, text, jsonb) IS
    'The value the flag serves the user: true/false for a boolean flag, the variant''s payload (or null) '
    'for a multivariate one; NULL for an unknown flag';
COMMENT ON FUNCTION @extschema@.feature_value(text, text, jsonb) IS 'feature_value for a text user id';
COMMENT ON FUNCTION @extschema@.feature_value(uuid, text, jsonb) IS 'feature_value for a uuid user id';

CREATE FUNCTION @extschema@.feature_explain(user_id bigint, flag text, attributes jsonb DEFAULT '{}',
    OUT value jsonb, OUT reason text, OUT rule_index integer, OUT bucket numeric,
    OUT variant text, OUT openfeature_reason text, OUT environment text)
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_explain_bigint';
CREATE FUNCTION @extschema@.feature_explain(user_id text, flag text, attributes jsonb DEFAULT '{}',
    OUT value jsonb, OUT reason text, OUT rule_index integer, OUT bucket numeric,
    OUT variant text, OUT openfeature_reason text, OUT environment text)
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_explain_text';
CREATE FUNCTION @extschema@.feature_explain(user_id uuid, flag text, attributes jsonb DEFAULT '{}',
    OUT value jsonb, OUT reason text, OUT rule_index integer, OUT bucket numeric,
    OUT variant text, OUT openfeature_reason text, OUT environment text)
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_explain_uuid';
COMMENT ON FUNCTION @extschema@.feature_explain(bigint, text, jsonb) IS
    'Why the flag serves what it serves: value, reason (FLAG_NOT_FOUND, OFF, PREREQUISITE_FAILED, OVERRIDE, '
    'TARGET_DENY, TARGET_ALLOW, RULE_MATCH, FALLTHROUGH), the matching rule, the user''s bucket (0 to 1), '
    'the variant, the OpenFeature reason and the environment';
COMMENT ON FUNCTION @extschema@.feature_explain(text, text, jsonb) IS 'feature_explain for a text user id';
COMMENT ON FUNCTION @extschema@.feature_explain(uuid, text, jsonb) IS 'feature_explain for a uuid user id';

CREATE FUNCTION @extschema@.features_for(user_id bigint, attributes jsonb DEFAULT '{}')
RETURNS TABLE (flag text, value jsonb)
LANGUAGE c STABLE PARALLEL SAFE ROWS 100 AS 'MODULE_PATHNAME', 'features_for_bigint';
CREATE FUNCTION @extschema@.features_for(user_id text, attributes jsonb DEFAULT '{}')
RETURNS TABLE (flag text, value jsonb)
LANGUAGE c STABLE PARALLEL SAFE ROWS 100 AS 'MODULE_PATHNAME', 'features_for_text';
CREATE FUNCTION @extschema@.features_for(user_id uuid, attributes jsonb DEFAULT '{}')
RETURNS TABLE (flag text, value jsonb)
LANGUAGE c STABLE PARALLEL SAFE ROWS 100 AS 'MODULE_PATHNAME', 'features_for_uuid';
COMMENT ON FUNCTION @extschema@.features_for(bigint, jsonb) IS
    'Every flag of the current environment with the value it serves the user (archived flags left out)';
COMMENT ON FUNCTION @extschema@.features_for(text, jsonb) IS 'features_for for a text user id';
COMMENT ON FUNCTION @extschema@.features_for(uuid, jsonb) IS 'features_for for a uuid user id';

CREATE FUNCTION rollout.cache_stats(OUT environment text, OUT flags integer, OUT version bigint,
                                    OUT hits bigint, OUT checks bigint, OUT reloads bigint)
LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_cache_stats';
COMMENT ON FUNCTION rollout.cache_stats() IS
    'This backend''s flag cache: environment and flag count of the configuration last used, its version, '
    'statements served without any check (hits), version checks against the table, and reloads';

-- ---------------------------------------------------------------------------------------------
-- Privileges

REVOKE ALL ON ALL TABLES IN SCHEMA rollout FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rollout FROM PUBLIC;
GRANT USAGE ON SCHEMA rollout TO PUBLIC;
-- Anyone may evaluate (as in 1.0); the configuration itself is not readable without a grant.
GRANT EXECUTE ON FUNCTION rollout._current_environment() TO PUBLIC;
GRANT SELECT ON rollout.environments, rollout.flags, rollout.flag_configs, rollout.rules, rollout.overrides,
    rollout.prerequisites, rollout.plan_stages, rollout.stage_presets TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.cache_stats() TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.create_flag(text, text, jsonb), rollout.archive_flag(text),
    rollout.set_enabled(text, boolean, text), rollout.set_rollout(text, numeric, text[], text),
    rollout.allow_users(text, text[], text), rollout.deny_users(text, text[], text),
    rollout.remove_users(text, text[], text), rollout.override(text, text, jsonb, text, timestamptz, text),
    rollout.clear_override(text, text, text), rollout.grandfather(text, text[], text, timestamptz, text),
    rollout.add_rule(text, jsonb, numeric, text, jsonb, text, text), rollout.remove_rule(text, integer, text),
    rollout.set_prerequisite(text, text, jsonb, text), rollout.remove_prerequisite(text, text, text),
    rollout.set_plan(text, jsonb, text), rollout.deploy(text, text, text),
    rollout.copy_environment(text, text, text)
    TO rollout_editor;
GRANT EXECUTE ON FUNCTION rollout.create_environment(text, text) TO rollout_admin;
GRANT INSERT, UPDATE, DELETE ON rollout.stage_presets, rollout.environments TO rollout_admin;
GRANT SELECT ON rollout.audit_log TO rollout_admin;
-- Validators run inside the tables' triggers as whoever writes (an admin editing presets, say).
GRANT EXECUTE ON FUNCTION rollout._check_key(text), rollout._check_percentage(numeric, text),
    rollout._check_user_ids(text[]), rollout._validate_constraints(jsonb), rollout._validate_variants(jsonb),
    rollout._validate_value(jsonb, jsonb), rollout._outer_user() TO PUBLIC;
