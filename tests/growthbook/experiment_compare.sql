-- The SQL half of the GrowthBook experiment comparison: the experiments of a file written by
-- `generate_cases.js COUNT experiments` are inserted as running experiments (one statement per
-- table: the tables validate every row), then experiment_variant() answers for every case's user
-- and is compared with the SDK's run(). Run by run.sh with -v cases_file=PATH; stops with an
-- error when any answer differs.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
\set home_database :DBNAME
DROP DATABASE IF EXISTS rollout_growthbook_experiments;
CREATE DATABASE rollout_growthbook_experiments;
\c rollout_growthbook_experiments
SET client_min_messages = warning;
CREATE EXTENSION pg_rollout;

\set cases_json `cat :'cases_file'`
CREATE TABLE experiment_cases AS
SELECT (c->>'n')::int AS n, c->>'key' AS key, c->>'seed' AS seed, (c->>'hash_version')::int AS hash_version,
       (c->>'variations')::int AS variations, c->'weights' AS weights, (c->>'coverage')::float8 AS coverage,
       c->'namespace' AS namespace, c->>'id' AS id, c->>'kind' AS kind, (c->>'expected')::int AS expected
FROM jsonb_array_elements(:'cases_json'::jsonb -> 'experiment_cases') AS c;
\unset cases_json

-- Weights travel as JSON numbers (shortest round-trip text), so ::text::float8 gives the SDK's doubles.
BEGIN;
INSERT INTO rollout.experiments (key, status, coverage, seed, hash_version, namespace, namespace_start, namespace_end)
SELECT DISTINCT ON (key) key, 'running', coverage, coalesce(seed, key), hash_version, namespace->>0,
       coalesce((namespace->>1)::float8, 0), coalesce((namespace->>2)::float8, 1)
FROM experiment_cases ORDER BY key;
INSERT INTO rollout.experiment_variations (experiment_id, position, key, weight)
SELECT e.id, p, 'v' || p,
       CASE WHEN c.weights = 'null' THEN 1::float8 / c.variations ELSE (c.weights->>p)::text::float8 END
FROM (SELECT DISTINCT ON (key) * FROM experiment_cases ORDER BY key) AS c
JOIN rollout.experiments e ON e.key = c.key, generate_series(0, c.variations - 1) AS p;
COMMIT;
SELECT count(*) AS experiments FROM rollout.experiments \gset

-- Every case through the text overload; numeric ids also as bigint, uuids also as uuid.
CREATE TEMP TABLE experiment_differences AS
SELECT n, kind, overload, key, id, expected, got
FROM experiment_cases,
     LATERAL (VALUES ('text', experiment_variant(id, key)),
                     ('bigint', CASE WHEN kind = 'numeric' THEN experiment_variant(id::bigint, key) END),
                     ('uuid', CASE WHEN kind = 'uuid' THEN experiment_variant(id::uuid, key) END)) AS e(overload, got)
WHERE (overload = 'text' OR (overload = 'bigint' AND kind = 'numeric') OR (overload = 'uuid' AND kind = 'uuid'))
  AND got IS DISTINCT FROM 'v' || expected;

SELECT count(*) AS cases,
       count(*) FILTER (WHERE expected IS NOT NULL) AS in_experiment,
       count(*) FILTER (WHERE kind = 'numeric') AS bigint_cases,
       count(*) FILTER (WHERE kind = 'uuid') AS uuid_cases,
       (SELECT count(*) FROM experiment_differences) AS differences
FROM experiment_cases \gset
\echo sql: :cases experiment cases (:experiments experiments, :in_experiment users in one; also :bigint_cases as bigint, :uuid_cases as uuid), :differences differing answers

DO $$
DECLARE
    d record;
BEGIN
    FOR d IN SELECT * FROM experiment_differences ORDER BY n, overload LIMIT 10 LOOP
        RAISE WARNING 'case % (%, %): experiment % id %: experiment_variant %, SDK %',
            d.n, d.kind, d.overload, quote_literal(d.key), quote_literal(d.id), coalesce(d.got, 'NULL'),
            coalesce('v' || d.expected, 'NULL');
    END LOOP;
    IF EXISTS (SELECT FROM experiment_differences) OR (SELECT count(*) FROM experiment_cases) = 0 THEN
        RAISE EXCEPTION 'experiment_variant() differs from GrowthBook''s SDK (or there were no cases)';
    END IF;
END
$$;

\c :home_database
DROP DATABASE rollout_growthbook_experiments;
