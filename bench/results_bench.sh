#!/usr/bin/env bash
# Speed of rollout.experiment_results (issue 13, "Speed"): over EXPOSURES exposures (default
# 1,000,000) and EVENTS events (default 1,000,000) it must return in under 3 seconds.
#
#   scripts/cluster.sh bash bench/results_bench.sh     (scripts/bench.sh does this)
#
# Needs a server with pg_rollout 1.2 installed, PGHOST/PGPORT set. The data set: a 50/50
# experiment whose exposures are spread over 14 days, 950,000 distinct users (some exposed twice,
# 2,000 exposed to both variations), and events of two names (half of them the analysed one)
# for users of the experiment and for others. Each call runs RUNS times (default 5) after one
# warm-up call, in the same session as a dashboard would, and the median is printed, with and
# without sequential => true. KEEP_DATABASE=1 keeps the database $db afterwards.
set -euo pipefail
EXPOSURES=${EXPOSURES:-1000000}
EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-5}
db=rollout_results_bench

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
export PGOPTIONS="-c client_min_messages=warning"

echo "== Setting up: $EXPOSURES exposures, $EVENTS events"
sql <<SQL
CREATE EXTENSION pg_rollout;
BEGIN;  -- an experiment and its variations are checked as a whole at commit
INSERT INTO rollout.experiments (key, seed, status) VALUES ('bench', 'bench', 'running');
INSERT INTO rollout.experiment_variations (experiment_id, position, key, weight)
SELECT id, p, k, 0.5 FROM rollout.experiments, (VALUES (0, 'control'), (1, 'treatment')) v(p, k);
COMMIT;
-- 95% of the exposures are first exposures of distinct users, the rest repeats; the repeats of
-- users 1..2000 are to the other variation.
INSERT INTO rollout.exposures (experiment_id, user_id, variation, exposed_at)
SELECT 1, u::text, CASE WHEN (abs(hashint8(u)) % 2 = 0) <> (g % 20 = 0 AND u <= 2000) THEN 'control' ELSE 'treatment' END,
       '2026-01-01'::timestamptz + (u % 14) * interval '1 day' + (g % 86400) * interval '1 second'
  FROM generate_series(1, $EXPOSURES) g, LATERAL (SELECT CASE WHEN g % 20 = 0 THEN g / 20 ELSE g END AS u) x;
INSERT INTO rollout.events (user_id, event, occurred_at)
SELECT (1 + (g::bigint * 7919) % ($EXPOSURES * 6 / 5))::text, CASE WHEN g / 2 % 2 = 0 THEN 'purchase' ELSE 'signup' END,
       '2026-01-01'::timestamptz + (g % (20 * 86400)) * interval '1 second'
  FROM generate_series(1, $EVENTS) g;
VACUUM ANALYZE rollout.exposures, rollout.events;
SELECT (SELECT count(*) FROM rollout.exposures) AS exposures, (SELECT count(*) FROM rollout.events) AS events;
SQL

# The median wall time of RUNS calls, in one session, after a warm-up call; and the median CPU
# time the backend used (user + system, from /proc/<pid>/stat, in 1/100 s), which does not count
# the time spent waiting for a core on a busy machine.
time_call() {
  local call=$1
  sql -A -t <<SQL
\timing off
CREATE FUNCTION pg_temp.cpu_ms() RETURNS float8 LANGUAGE sql AS
\$\$ SELECT (split_part(s, ' ', 12)::float8 + split_part(s, ' ', 13)::float8) * 10  -- fields 14, 15: utime, stime
     FROM (SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) AS s) x \$\$;
SELECT count(*) FROM ($call) warm;
CREATE TEMP TABLE times (ms float8, cpu_ms float8);
DO \$\$
DECLARE started timestamptz; n bigint; cpu float8;
BEGIN
  FOR i IN 1..$RUNS LOOP
    cpu := pg_temp.cpu_ms();
    started := clock_timestamp();
    SELECT count(*) INTO n FROM ($call) r;
    INSERT INTO times VALUES (extract(epoch FROM clock_timestamp() - started) * 1000, pg_temp.cpu_ms() - cpu);
  END LOOP;
END
\$\$;
SELECT format('%s ms median of $RUNS (min %s, max %s); CPU time of the backend %s ms median',
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric),
              round(min(ms)::numeric), round(max(ms)::numeric),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_ms)::numeric)) FROM times;
SQL
}

echo "== The results"
sql -c "SELECT variation, exposed_users, converting_users, round(conversion_rate::numeric, 4) AS rate,
               round(p_value::numeric, 4) AS p, round(srm_p_value::numeric, 4) AS srm_p,
               multiple_exposure_users AS multiple, round(sequential_p_value::numeric, 4) AS seq_p
          FROM rollout.experiment_results('bench', 'purchase', true)"
echo "== experiment_results('bench', 'purchase'), target < 3000 ms"
time_call "SELECT * FROM rollout.experiment_results('bench', 'purchase')" | tail -n 1
echo "== experiment_results('bench', 'purchase', sequential => true), target < 3000 ms"
time_call "SELECT * FROM rollout.experiment_results('bench', 'purchase', true)" | tail -n 1
[ "${KEEP_DATABASE:-0}" = 1 ] || psql -X -q -d postgres -c "DROP DATABASE $db"
