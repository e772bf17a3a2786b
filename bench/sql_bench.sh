#!/usr/bin/env bash
# SQL-level cost of feature_enabled() per row, as ratios against floors measured in the same
# run on the same table. Needs a server with pg_rollout installed (PGHOST/PGPORT set), e.g.
#   scripts/cluster.sh bash bench/sql_bench.sh
# ROWS (default 1,000,000) and RUNS (default 5; the best run counts) tune it.
set -euo pipefail
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
db=rollout_bench

PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
CREATE EXTENSION pg_rollout;
INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES ('new_checkout', true, 25);
INSERT INTO rollout.flags (key, enabled, rollout_percentage)
  SELECT 'flag_' || i, true, 50 FROM generate_series(1, 999) AS i;
CREATE TABLE users AS SELECT g::bigint AS id, g::text AS id_text FROM generate_series(1, $ROWS) AS g;
VACUUM ANALYZE users;
SQL

# Best-of-RUNS wall time in ms of one query, measured by the server (EXPLAIN ANALYZE would
# add per-row instrumentation, so the client's \timing is used with parallelism off).
best_ms() {
  local sql=$1 best="" t
  for _ in $(seq 1 "$RUNS"); do
    t=$(psql -X -q -d "$db" -c "SET max_parallel_workers_per_gather = 0" -c '\timing on' -c "$sql" |
      sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}

declare -A ms
queries=(
  "floor_count|SELECT count(*) FROM users"
  "floor_builtin_hash|SELECT count(*) FROM users WHERE hashint8(id) & 3 = 0"
  "feature_enabled_bigint|SELECT count(*) FROM users WHERE feature_enabled(id, 'new_checkout')"
  "feature_enabled_text|SELECT count(*) FROM users WHERE feature_enabled(id_text, 'new_checkout')"
  "feature_enabled_unknown|SELECT count(*) FROM users WHERE feature_enabled(id, 'no_such_flag')"
  "feature_enabled_per_row_key|SELECT count(*) FROM users WHERE feature_enabled(id, 'flag_' || (id % 999 + 1))"
  "floor_per_row_key|SELECT count(*) FROM users WHERE length('flag_' || (id % 999 + 1)) > 0"
)
order=()
for q in "${queries[@]}"; do
  name=${q%%|*}
  sql=${q#*|}
  ms[$name]=$(best_ms "$sql")
  order+=("$name")
done

echo "rows: $ROWS, best of $RUNS runs, parallel workers off"
printf '  %-28s %10s %12s %14s\n' query ms ns/row "x builtin"
for name in "${order[@]}"; do
  awk -v n="$name" -v t="${ms[$name]}" -v f="${ms[floor_builtin_hash]}" -v rows="$ROWS" \
    'BEGIN { printf "  %-28s %10.1f %12.1f %14.2f\n", n, t, t * 1e6 / rows, t / f }'
done
awk -v a="${ms[feature_enabled_bigint]}" -v c="${ms[floor_count]}" -v f="${ms[floor_builtin_hash]}" -v rows="$ROWS" \
  'BEGIN { printf "feature_enabled(bigint) adds %.1f ns/row over a bare scan; a built-in hash filter adds %.1f ns/row (ratio %.2f)\n",
           (a - c) * 1e6 / rows, (f - c) * 1e6 / rows, (a - c) / (f - c) }'
awk -v a="${ms[feature_enabled_per_row_key]}" -v f="${ms[floor_per_row_key]}" -v c="${ms[floor_count]}" -v rows="$ROWS" \
  'BEGIN { printf "per-row flag keys (1,000 flags) add %.1f ns/row over building the key text alone\n", (a - f) * 1e6 / rows }'

psql -X -q -d postgres -c "DROP DATABASE $db"
