-- feature_enabled(): evaluation semantics, overloads, bucketing, transactional visibility.
CREATE EXTENSION pg_rollout;

-- Callable unqualified under the default search_path; unknown flag is off.
SHOW search_path;
SELECT feature_enabled(42, 'no_such_flag') AS unknown_flag;
SELECT feature_enabled('42', 'no_such_flag') AS unknown_flag_text;

INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES
    ('everyone', true, 100),
    ('nobody', true, 0),
    ('killed', false, 100),
    ('quarter', true, 25);

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
SELECT feature_enabled(42, 'quarter') = feature_enabled('42', 'quarter') AS same_for_42;

-- The share of 100,000 users that get a 25% flag (deterministic: the exact count is pinned).
SELECT count(*) FILTER (WHERE feature_enabled(g, 'quarter')) AS users_on,
       round(100.0 * count(*) FILTER (WHERE feature_enabled(g, 'quarter')) / count(*), 1) AS percent_on
FROM generate_series(1, 100000) AS g;

-- GrowthBook hash v2 vector: hash("seed", "a") = 0.0505, so coverage 5.05% includes "a" and
-- 5.04% does not (GrowthBook includes a user when n <= coverage).
INSERT INTO rollout.flags (key, enabled, rollout_percentage, salt) VALUES
    ('gb_in', true, 5.05, 'seed'), ('gb_out', true, 5.04, 'seed');
SELECT feature_enabled('a', 'gb_in') AS at_5_05, feature_enabled('a', 'gb_out') AS at_5_04;

-- Raising the percentage only adds users; the writing transaction sees its own change.
BEGIN;
UPDATE rollout.flags SET rollout_percentage = 10 WHERE key = 'quarter';
CREATE TEMP TABLE on_at_10 AS
    SELECT g AS user_id FROM generate_series(1, 20000) AS g WHERE feature_enabled(g, 'quarter');
UPDATE rollout.flags SET rollout_percentage = 50 WHERE key = 'quarter';
SELECT (SELECT count(*) FROM on_at_10) AS on_at_10,
       count(*) FILTER (WHERE feature_enabled(g, 'quarter')) AS on_at_50,
       (SELECT count(*) FROM on_at_10 WHERE NOT feature_enabled(user_id, 'quarter')) AS lost
FROM generate_series(1, 20000) AS g;
ROLLBACK;

-- A rolled-back change is gone, also from this session's cache.
BEGIN;
UPDATE rollout.flags SET enabled = false WHERE key = 'everyone';
SELECT feature_enabled(42, 'everyone') AS inside_transaction;
ROLLBACK;
SELECT feature_enabled(42, 'everyone') AS after_rollback;

-- Deleting invalidates too.
DELETE FROM rollout.flags WHERE key = 'everyone';
SELECT feature_enabled(42, 'everyone') AS after_delete;
INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES ('everyone', true, 100);
SELECT feature_enabled(42, 'everyone') AS after_insert;

-- The flag argument may change from row to row.
SELECT key, feature_enabled(7, key) AS on_for_7 FROM rollout.flags ORDER BY key;

-- NULL in, NULL out (STRICT).
SELECT feature_enabled(NULL::bigint, 'everyone') IS NULL AS null_user,
       feature_enabled(42, NULL) IS NULL AS null_flag;

-- Non-ASCII keys work.
INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES ('nouvelle_caisse_été', true, 100);
SELECT feature_enabled(1, 'nouvelle_caisse_été') AS unicode_key;

-- Parallel workers load the cache themselves and agree with the leader.
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

-- So does TRUNCATE.
TRUNCATE rollout.flags;
SELECT feature_enabled(42, 'everyone') AS after_truncate;

-- Declared STABLE, STRICT, PARALLEL SAFE, and documented.
SELECT p.oid::regprocedure AS function, provolatile, proisstrict, proparallel,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p WHERE proname = 'feature_enabled' ORDER BY 1::text;

-- Dropping and re-creating the extension in the same session finds the new table.
DROP EXTENSION pg_rollout;
CREATE EXTENSION pg_rollout;
SELECT feature_enabled(42, 'everyone') AS after_recreate;
INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES ('everyone', true, 100);
SELECT feature_enabled(42, 'everyone') AS after_recreate_insert;
DROP EXTENSION pg_rollout;
