-- pg_rollout 1.0: the flags table and flag evaluation.
\echo Use "CREATE EXTENSION pg_rollout" to load this file. \quit

CREATE SCHEMA rollout;
COMMENT ON SCHEMA rollout IS 'pg_rollout: feature flag definitions and their management';

CREATE TABLE rollout.flags (
    key                text PRIMARY KEY,
    description        text NOT NULL DEFAULT '',
    enabled            boolean NOT NULL DEFAULT false,
    rollout_percentage numeric(5,2) NOT NULL DEFAULT 0,
    salt               text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT flags_key_valid CHECK (key <> '' AND key !~ '[[:cntrl:]]'),
    CONSTRAINT flags_rollout_percentage_range CHECK (rollout_percentage BETWEEN 0 AND 100),
    CONSTRAINT flags_salt_not_empty CHECK (salt <> '')
);
COMMENT ON TABLE rollout.flags IS
    'One row per feature flag. A flag is on for a user when enabled and the user''s bucket '
    '(GrowthBook hash v2 of salt and user id) falls within rollout_percentage.';
COMMENT ON COLUMN rollout.flags.key IS 'Flag name used by feature_enabled(); non-empty, no control characters';
COMMENT ON COLUMN rollout.flags.enabled IS 'Kill switch: false turns the flag off for everyone';
COMMENT ON COLUMN rollout.flags.rollout_percentage IS
    'Share of users who get the flag, 0 to 100 in steps of 0.01; raising it only adds users';
COMMENT ON COLUMN rollout.flags.salt IS
    'Bucketing seed; NULL means the key. Keep it when renaming a flag to keep its users';

-- Flag rows are configuration: pg_dump keeps them with the extension.
SELECT pg_catalog.pg_extension_config_dump('rollout.flags', '');

-- Row validation with a hint, before the CHECK constraints (which stay as the last word).
CREATE FUNCTION rollout.flags_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.key IS NULL OR NEW.key = '' OR NEW.key ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid flag key %', coalesce(quote_literal(NEW.key), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A flag key is non-empty text without control characters.';
    END IF;
    IF NEW.rollout_percentage IS NULL OR NEW.rollout_percentage < 0 OR NEW.rollout_percentage > 100 THEN
        RAISE EXCEPTION 'rollout_percentage % of flag "%" is out of range',
                        coalesce(NEW.rollout_percentage::text, 'NULL'), NEW.key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a percentage from 0 to 100, e.g. 25 or 12.5.';
    END IF;
    IF NEW.salt = '' THEN
        RAISE EXCEPTION 'empty salt for flag "%"', NEW.key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use NULL to bucket by the flag key.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout.flags_validate() IS
    'Trigger: rejects invalid flag rows with an SQLSTATE and a hint; stamps updated_at';

CREATE TRIGGER flags_validate BEFORE INSERT OR UPDATE ON rollout.flags
    FOR EACH ROW EXECUTE FUNCTION rollout.flags_validate();

-- Every write to the flags table, whoever makes it (management code, plain DML, a logical
-- replication apply worker), invalidates the compiled flag cache of every backend at commit.
CREATE FUNCTION rollout.flags_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'rollout_flags_changed';
COMMENT ON FUNCTION rollout.flags_changed() IS
    'Trigger: queues a cache invalidation so every backend recompiles flags after the commit';

CREATE TRIGGER flags_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.flags
    FOR EACH STATEMENT EXECUTE FUNCTION rollout.flags_changed();
ALTER TABLE rollout.flags ENABLE ALWAYS TRIGGER flags_changed;
ALTER TABLE rollout.flags ENABLE ALWAYS TRIGGER flags_validate;

CREATE FUNCTION @extschema@.feature_enabled(user_id bigint, flag text) RETURNS boolean
LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_bigint';
COMMENT ON FUNCTION @extschema@.feature_enabled(bigint, text) IS
    'Whether the flag is on for the user: false for an unknown or disabled flag, otherwise the '
    'user''s deterministic bucket decides against rollout_percentage';

CREATE FUNCTION @extschema@.feature_enabled(user_id text, flag text) RETURNS boolean
LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_text';
COMMENT ON FUNCTION @extschema@.feature_enabled(text, text) IS
    'Whether the flag is on for the user id given as text; feature_enabled(''42'', f) = feature_enabled(42, f)';

CREATE FUNCTION @extschema@.feature_enabled(user_id uuid, flag text) RETURNS boolean
LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'feature_enabled_uuid';
COMMENT ON FUNCTION @extschema@.feature_enabled(uuid, text) IS
    'Whether the flag is on for the user id given as a uuid; buckets like the uuid''s canonical text';

-- Editing is for owners of the extension (and roles they grant to); everyone may evaluate.
REVOKE ALL ON rollout.flags FROM PUBLIC;
GRANT USAGE ON SCHEMA rollout TO PUBLIC;
