-- Distribution over 1,000,000 user ids: a 25% flag gives 24.7% to 25.3%; raising it to 50% keeps
-- every user who had it; two independent 50% flags overlap on 25% +- 0.5%.
CREATE EXTENSION pg_rollout;
SELECT rollout.create_flag('quarter'), rollout.set_enabled('quarter', true), rollout.set_rollout('quarter', 25);
SELECT rollout.create_flag('half_a'), rollout.deploy('half_a', 'general'), rollout.set_rollout('half_a', 50);
SELECT rollout.create_flag('half_b'), rollout.deploy('half_b', 'general'), rollout.set_rollout('half_b', 50);
SET max_parallel_workers_per_gather = 0;

CREATE TEMP TABLE at_25 AS SELECT g AS id FROM generate_series(1, 1000000) AS g WHERE feature_enabled(g, 'quarter');
SELECT count(*) AS users_at_25, count(*) BETWEEN 247000 AND 253000 AS within_24_7_and_25_3 FROM at_25;

SELECT rollout.set_rollout('quarter', 50);
SELECT count(*) AS lost_when_raised_to_50 FROM at_25 WHERE NOT feature_enabled(id, 'quarter');
SELECT count(*) FILTER (WHERE feature_enabled(g, 'quarter')) AS users_at_50 FROM generate_series(1, 1000000) AS g;

SELECT count(*) AS in_both, count(*) BETWEEN 245000 AND 255000 AS overlap_25_within_half_a_percent
FROM generate_series(1, 1000000) AS g WHERE feature_enabled(g, 'half_a') AND feature_enabled(g, 'half_b');

DROP EXTENSION pg_rollout;
