-- The consistency test's model of flag evaluation: what feature_enabled() must answer, derived in
-- plain SQL from the rollout tables as the calling statement's snapshot sees them. The functions
-- are STABLE, so they read with the snapshot of the statement that calls them: the same one
-- feature_enabled() must use; PARALLEL SAFE, so a statement can run whole in a parallel worker.
--
-- Covered: archived/missing flag, kill switch, unexpired overrides (boolean values), deny list,
-- allow list, rules with `in` constraints on attributes (optionally negated), ordered by number,
-- with their own rollout over the user id and a boolean value, the fallthrough rollout with
-- allowed tiers. Not covered (the test never creates them): prerequisites, plans, variants,
-- bucket_by, environments other than production.

-- FNV-1a 32 over bytes, continuing from state h: h = ((h XOR byte) * 16777619) mod 2^32.
CREATE FUNCTION model_fnv1a32(h bigint, data bytea) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    FOR i IN 0 .. length(data) - 1 LOOP
        h := ((h # get_byte(data, i)::bigint) * 16777619) % 4294967296;
    END LOOP;
    RETURN h;
END
$$;

-- GrowthBook hash version 2: fnv1a32(decimal(fnv1a32(salt || id))) mod 10000 (ASCII ids).
CREATE FUNCTION model_bucket(salt text, id text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (model_fnv1a32(2166136261,
                          convert_to(model_fnv1a32(2166136261, convert_to(salt || id, 'UTF8'))::text, 'UTF8'))
            % 10000)::integer
$$;

-- In a rollout of `percentage` when the percentage is positive and bucket <= percentage * 100.
CREATE FUNCTION model_in_rollout(percentage numeric, salt text, id text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT percentage > 0 AND model_bucket(salt, id) <= percentage * 100
$$;

-- Whether every constraint of a rule matches: each is {"attribute", "op": "in", "values", "negate"?};
-- an absent attribute fails `in` (and so passes a negated one).
CREATE FUNCTION model_rule_matches(constraints jsonb, attributes jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(bool_and(
               ((attributes ->> (c ->> 'attribute')) IS NOT NULL
                AND (attributes ->> (c ->> 'attribute')) IN (SELECT jsonb_array_elements_text(c -> 'values')))
               <> coalesce((c ->> 'negate')::boolean, false)), true)
    FROM jsonb_array_elements(constraints) AS c
$$;

CREATE FUNCTION model_enabled(user_id text, flag_key text, attributes jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    f rollout.flags;
    c rollout.flag_configs;
    o rollout.overrides;
    r rollout.rules;
    salt text;
    tier text := attributes ->> 'tier';
BEGIN
    SELECT * INTO f FROM rollout.flags WHERE key = flag_key AND archived_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO c FROM rollout.flag_configs WHERE flag = flag_key AND environment = 'production';
    IF NOT FOUND OR NOT c.enabled THEN
        RETURN false;
    END IF;
    salt := coalesce(f.salt, f.key);
    SELECT * INTO o FROM rollout.overrides
    WHERE flag = flag_key AND environment = 'production' AND overrides.user_id = model_enabled.user_id
      AND (expires_at IS NULL OR expires_at > now());
    IF FOUND THEN
        RETURN o.value = 'true'::jsonb;
    END IF;
    IF model_enabled.user_id = ANY (c.deny_users) THEN
        RETURN false;
    END IF;
    IF model_enabled.user_id = ANY (c.allow_users) THEN
        RETURN true;
    END IF;
    FOR r IN SELECT * FROM rollout.rules WHERE flag = flag_key AND environment = 'production' ORDER BY number LOOP
        IF model_rule_matches(r.constraints, attributes) THEN
            RETURN model_in_rollout(r.rollout_percentage, salt, model_enabled.user_id) AND r.value = 'true'::jsonb;
        END IF;
    END LOOP;
    IF cardinality(c.allowed_tiers) > 0 AND (tier IS NULL OR NOT tier = ANY (c.allowed_tiers)) THEN
        RETURN false;
    END IF;
    RETURN model_in_rollout(c.rollout_percentage, salt, model_enabled.user_id);
END
$$;
