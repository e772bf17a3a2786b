-- The SQL half of the GrowthBook SDK comparison: one flag per case, then feature_enabled() for
-- every case's user against the SDK's answer. Run by run.sh with -v cases_file=PATH (a file
-- written by generate_cases.js); stops with an error when any answer differs.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
\set home_database :DBNAME
DROP DATABASE IF EXISTS rollout_growthbook;
CREATE DATABASE rollout_growthbook;
\c rollout_growthbook
SET client_min_messages = warning;
CREATE EXTENSION pg_rollout;

\set cases_json `cat :'cases_file'`
CREATE TABLE growthbook_cases AS
SELECT (c->>'n')::int AS n, c->>'key' AS key, c->>'salt' AS salt, c->>'id' AS id, c->>'kind' AS kind,
       (c->>'percentage')::numeric AS percentage, (c->>'expected')::boolean AS expected
FROM jsonb_array_elements(:'cases_json'::jsonb -> 'cases') AS c;
\unset cases_json

\ir create_flag.sql
SELECT count(*) AS flags_created
FROM (SELECT pg_temp.growthbook_create_flag(key, salt, percentage) FROM growthbook_cases) AS created \gset

-- Every case through the text overload; numeric ids also as bigint, uuids also as uuid.
CREATE TEMP TABLE growthbook_differences AS
SELECT n, kind, overload, key, salt, id, percentage, expected, got
FROM growthbook_cases,
     LATERAL (VALUES ('text', feature_enabled(id, key)),
                     ('bigint', CASE WHEN kind = 'numeric' THEN feature_enabled(id::bigint, key) END),
                     ('uuid', CASE WHEN kind = 'uuid' THEN feature_enabled(id::uuid, key) END)) AS e(overload, got)
WHERE (overload = 'text' OR got IS NOT NULL) AND got IS DISTINCT FROM expected;

SELECT count(*) AS cases,
       count(*) FILTER (WHERE kind = 'numeric') AS bigint_cases,
       count(*) FILTER (WHERE kind = 'uuid') AS uuid_cases,
       (SELECT count(*) FROM growthbook_differences) AS differences
FROM growthbook_cases \gset
\echo sql: :cases cases (:flags_created flags; also :bigint_cases as bigint, :uuid_cases as uuid), :differences differing answers

DO $$
DECLARE
    d record;
BEGIN
    FOR d IN SELECT * FROM growthbook_differences ORDER BY n, overload LIMIT 10 LOOP
        RAISE WARNING 'case % (%, %): key % salt % id % at % %%: feature_enabled %, SDK %',
            d.n, d.kind, d.overload, quote_literal(d.key), coalesce(quote_literal(d.salt), 'NULL'),
            quote_literal(d.id), d.percentage, d.got, d.expected;
    END LOOP;
    IF EXISTS (SELECT FROM growthbook_differences) OR (SELECT count(*) FROM growthbook_cases) = 0 THEN
        RAISE EXCEPTION 'feature_enabled() differs from GrowthBook''s SDK (or there were no cases)';
    END IF;
END
$$;

\c :home_database
DROP DATABASE rollout_growthbook;
