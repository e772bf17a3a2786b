\echo Use "CREATE EXTENSION rollout_floor" to load this file. \quit

CREATE FUNCTION rollout_floor(id bigint, salt text) RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'rollout_floor';
COMMENT ON FUNCTION rollout_floor(bigint, text) IS
    'Benchmark floor: whether GrowthBook hash v2 puts id in a 30% rollout under an ASCII salt; '
    'the salt must be the same for every row of a call site (its hash state is kept in fn_extra)';
