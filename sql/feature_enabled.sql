-- feature_enabled(): the plain rollout, overloads, bucketing, transactional visibility.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never

-- Callable unqualified under the default search_path; an unknown flag is off.
SHOW search_path;
SELECT feature_enabled(42, 'no_such_flag') AS unknown_flag;
SELECT feature_enabled('42', 'no_such_flag') AS unknown_flag_text;

SELECT rollout.create_flag(k) FROM unnest(ARRAY['everyone', 'nobody', 'killed', 'quarter']) AS k;
SELECT rollout.set_rollout('everyone', 100), rollout.set_enabled('everyone', true);
SELECT rollout.set_rollout('nobody', 0), rollout.set_enabled('nobody', true);
SELECT rollout.set_rollout('killed', 100);
SELECT rollout.set_rollout('quarter', 25), rollout.set_enabled('quarter', true);

-- A new flag is created switched off.
SELECT rollout.create_flag('fresh');
SELECT enabled, rollout_percentage FROM rollout.flag_configs WHERE flag = 'fresh';
SELECT feature_enabled(42, 'fresh') AS fresh;

SELECT feature_enabled(42, 'everyone') AS everyone,
       feature_enabled(42, 'nobody') AS nobody,
       feature_enabled(42, 'killed') AS killed;

-- The user id's type does not matter: bigint, its text and a uuid's text bucket identically.
SELECT count(*) AS bigint_text_mismatches
FROM generate_series(-500, 2000) AS g
WHERE feature_enabled(g, 'quarter') IS DISTINCT FROM feature_enabled(g::text, 'quarter');
SELECT count(*) AS uuid_text_mismatches
FROM generate_series(1, 2000) AS g, LATERAL (SELECT md5(g::text)::uuid AS u) AS x
WHERE feature_enabled(u, 'quarter') IS DISTINCT FROM feature_enabled(u::text, 'quarter');
-- Text is hashed as given: an upper-case uuid text is another id (lower() or ::uuid fixes it).
SELECT count(*) FILTER (WHERE feature_enabled(upper(u::text), 'quarter') IS DISTINCT FROM feature_enabled(u, 'quarter')) > 0
           AS upper_case_text_differs,
       count(*) FILTER (WHERE feature_enabled(upper(u::text)::uuid, 'quarter') IS DISTINCT FROM feature_enabled(u, 'quarter'))
           AS cast_to_uuid_differs
FROM generate_series(1, 2000) AS g, LATERAL (SELECT md5(g::text)::uuid AS u) AS x;

-- The share of 100,000 users that get a 25% flag (deterministic: the exact count is pinned).
SELECT count(*) FILTER (WHERE feature_enabled(g, 'quarter')) AS users_on,
       round(100.0 * count(*) FILTER (WHERE feature_enabled(g, 'quarter')) / count(*), 1) AS percent_on
FROM generate_series(1, 100000) AS g;

-- GrowthBook hash v2 vector: hash("seed", "a") = 0.0505, so coverage 5.05% includes "a" and
-- 5.04% does not (GrowthBook includes a user when n <= coverage).
SELECT rollout.create_flag('gb_in'), rollout.create_flag('gb_out');
UPDATE rollout.flags SET salt = 'seed' WHERE key IN ('gb_in', 'gb_out');
SELECT rollout.set_rollout('gb_in', 5.05), rollout.set_enabled('gb_in', true);
SELECT rollout.set_rollout('gb_out', 5.04), rollout.set_enabled('gb_out', true);
SELECT feature_enabled('a', 'gb_in') AS at_5_05, feature_enabled('a', 'gb_out') AS at_5_04;

-- Users without an id: out of a partial rollout, in a full one (as GrowthBook), never NULL.
SELECT feature_enabled(NULL::bigint, 'quarter') AS null_at_25, feature_enabled('', 'quarter') AS empty_at_25,
       feature_enabled(NULL::text, 'everyone') AS null_at_100, feature_enabled(NULL::uuid, 'everyone') AS null_uuid_at_100,
       feature_enabled(42, NULL) AS null_flag;
SELECT count(*) AS rows_kept_by_not FROM (VALUES (NULL::bigint), (1)) AS u(id) WHERE NOT feature_enabled(u.id, 'nobody');

-- Raising the percentage only adds users; the writing transaction sees its own change.
BEGIN;
SELECT rollout.set_rollout('quarter', 10);
CREATE TEMP TABLE on_at_10 AS
    SELECT g AS user_id FROM generate_series(1, 20000) AS g WHERE feature_enabled(g, 'quarter');
SELECT rollout.set_rollout('quarter', 50);
SELECT (SELECT count(*) FROM on_at_10) AS on_at_10,
       count(*) FILTER (WHERE feature_enabled(g, 'quarter')) AS on_at_50,
       (SELECT count(*) FROM on_at_10 WHERE NOT feature_enabled(user_id, 'quarter')) AS lost
FROM generate_series(1, 20000) AS g;
ROLLBACK;

-- A rolled-back change is gone, also from this session's cache.
BEGIN;
SELECT rollout.set_enabled('everyone', false);
SELECT feature_enabled(42, 'everyone') AS inside_transaction;
ROLLBACK;
SELECT feature_enabled(42, 'everyone') AS after_rollback;

-- So is a change rolled back to a savepoint.
BEGIN;
SAVEPOINT s;
SELECT rollout.set_enabled('everyone', false);
SELECT feature_enabled(42, 'everyone') AS after_change;
ROLLBACK TO SAVEPOINT s;
SELECT feature_enabled(42, 'everyone') AS after_rollback_to_savepoint;
COMMIT;

-- Direct DML counts like the API: UPDATE, DELETE, INSERT, TRUNCATE.
UPDATE rollout.flag_configs SET enabled = false WHERE flag = 'everyone';
SELECT feature_enabled(42, 'everyone') AS after_direct_update;
DELETE FROM rollout.flags WHERE key = 'everyone';
SELECT feature_enabled(42, 'everyone') AS after_delete;
INSERT INTO rollout.flags (key) VALUES ('everyone');
UPDATE rollout.flag_configs SET enabled = true, rollout_percentage = 100 WHERE flag = 'everyone';
SELECT feature_enabled(42, 'everyone') AS after_insert;

-- The flag argument may change from row to row.
SELECT key, feature_enabled(7, key) AS on_for_7 FROM rollout.flags ORDER BY key;

-- Non-ASCII keys work.
SELECT rollout.create_flag('nouvelle_caisse_été'), rollout.deploy('nouvelle_caisse_été', 'general');
SELECT feature_enabled(1, 'nouvelle_caisse_été') AS unicode_key;

-- Parallel workers load the configuration themselves and agree with the leader.
CREATE TABLE users AS SELECT g AS id FROM generate_series(1, 100000) AS g;
ANALYZE users;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*) FROM users WHERE feature_enabled(id, 'quarter');
SELECT count(*) AS parallel_count FROM users WHERE feature_enabled(id, 'quarter');
RESET ALL;
SELECT count(*) AS serial_count FROM users WHERE feature_enabled(id, 'quarter');
DROP TABLE users;

-- TRUNCATE empties every flag.
TRUNCATE rollout.flags CASCADE;
SELECT feature_enabled(42, 'everyone') AS after_truncate;

-- Declared STABLE, PARALLEL SAFE, not STRICT, and documented.
SELECT p.oid::regprocedure AS function, provolatile, proisstrict, proparallel,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p
WHERE proname IN ('feature_enabled', 'feature_enabled_row', 'feature_value', 'feature_explain', 'features_for')
ORDER BY p.oid::regprocedure::text COLLATE "C";

-- Every function of the extension has a comment.
SELECT p.oid::regprocedure AS undocumented
FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
WHERE d.refclassid = 'pg_extension'::regclass AND d.classid = 'pg_proc'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_rollout')
  AND obj_description(p.oid, 'pg_proc') IS NULL AND p.proname NOT LIKE '\_%'
ORDER BY p.oid::regprocedure::text COLLATE "C";

-- Dropping and re-creating the extension in the same session finds the new tables.
DROP EXTENSION pg_rollout;
CREATE EXTENSION pg_rollout;
SELECT feature_enabled(42, 'everyone') AS after_recreate;
SELECT rollout.create_flag('everyone'), rollout.deploy('everyone', 'general');
SELECT feature_enabled(42, 'everyone') AS after_recreate_insert;
DROP EXTENSION pg_rollout;
