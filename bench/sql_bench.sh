#!/usr/bin/env bash
# SQL-level cost of flag evaluation (issue 11, "Speed"), as per-row costs above a bare count(*)
# and as ratios to a floor measured in the same run on the same table.
#
#   scripts/cluster.sh bash bench/sql_bench.sh     (scripts/bench.sh does this, with the floor
#                                                   installed and shared_buffers large enough)
#
# Needs a server with pg_rollout and rollout_floor (bench/floor) installed, PGHOST/PGPORT set.
# The table users(id bigint, tier text, country text) of ROWS rows (default 3,000,000) is read
# into shared buffers; every query runs on one core (max_parallel_workers_per_gather = 0, JIT
# off), RUNS times (default 5) in interleaved rounds, and the median counts. The floor is
# rollout_floor(id, 'f'): the GrowthBook-v2 bucket of the id for a 30% rollout and nothing else.
# The hand-written PL/pgSQL seed logic runs on the first PLPGSQL_ROWS rows (default 100,000), with
# its own bare count(*): at some 40 us a row, the whole table would take minutes per run.
#
# The plain flag runs twice per round, with the evaluation counters on (as deployed) and off
# (SET rollout.track_evaluations = off), and the ratio of their per-row costs is printed.
#
# Then a pgbench point test (-M prepared, 2 clients, PGBENCH_ROUNDS interleaved runs of
# PGBENCH_SECONDS each, medians): SELECT feature_enabled(:uid, 'f') against SELECT hashint8(:uid) > 0.
#
# Figures that need pg_rollout 1.1 (rules, allow lists, the row form feature_enabled_row(id, flag,
# users)) print "needs pg_rollout 1.1" while the installed version is older; experiment_variant
# (count(*) WHERE experiment_variant(id, 'e') = 'treatment' on a running 50/50 experiment, target
# <= 1.5x the floor) prints "needs pg_rollout 1.2" likewise.
set -euo pipefail
ROWS=${ROWS:-3000000}
RUNS=${RUNS:-5}
PLPGSQL_ROWS=${PLPGSQL_ROWS:-100000}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}
PGBENCH_ROUNDS=${PGBENCH_ROUNDS:-5}
db=rollout_bench
pgbench=${PG_BINDIR:-/usr/lib/postgresql/15/bin}/pgbench
[ -x "$pgbench" ] || pgbench=pgbench

sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
value() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
export PGOPTIONS="-c max_parallel_workers_per_gather=0 -c jit=off -c client_min_messages=warning"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
sql -c "CREATE EXTENSION pg_rollout" -c "CREATE EXTENSION rollout_floor"
version=$(value "SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'")
if [ "$(printf '%s\n' 1.1 "$version" | sort -V | head -n 1)" = 1.1 ]; then has_1_1=1; else has_1_1=0; fi
if [ "$(printf '%s\n' 1.2 "$version" | sort -V | head -n 1)" = 1.2 ]; then has_1_2=1; else has_1_2=0; fi
needs_1_1="needs pg_rollout 1.1 (installed: $version)"
needs_1_2="needs pg_rollout 1.2 (installed: $version)"
# Whether a query that needs version 1.<N> (0: any) can run here.
available() { [ "$1" = 0 ] || { [ "$1" = 1 ] && [ "$has_1_1" = 1 ]; } || { [ "$1" = 2 ] && [ "$has_1_2" = 1 ]; }; }
# The row form: feature_enabled_row(id, flag, row), or an overload of feature_enabled.
row_function=$(value "SELECT CASE WHEN to_regprocedure('feature_enabled_row(bigint, text, record)') IS NOT NULL
                                  THEN 'feature_enabled_row' ELSE 'feature_enabled' END")

echo "== Setting up: $ROWS users, flags, the hand-written PL/pgSQL seed model"
sql <<SQL
CREATE TABLE users (id bigint, tier text, country text);
INSERT INTO users
SELECT g, (ARRAY['free', 'free', 'pro', 'enterprise', 'internal'])[1 + (g * 7) % 5],
       (ARRAY['US', 'DE', 'FR', 'NZ', 'IS', 'JP', 'BR', 'IN'])[1 + (g * 13) % 8]
FROM generate_series(1, $ROWS) AS g;
VACUUM (FREEZE, ANALYZE) users;

-- The hand-written seed model, as teams write it: a flags table with an integer percentage,
-- allowed tiers and allowed user ids, a per-user override table, and a PL/pgSQL function.
CREATE TABLE users_sample AS SELECT * FROM users WHERE id <= $PLPGSQL_ROWS;
VACUUM (FREEZE, ANALYZE) users_sample;
CREATE TABLE feature_flags (
    name text PRIMARY KEY,
    enabled boolean NOT NULL DEFAULT false,
    rollout_percentage integer NOT NULL DEFAULT 0,
    allowed_tiers text[],
    allowed_user_ids bigint[]
);
CREATE TABLE user_feature_flags (
    user_id bigint NOT NULL,
    flag_name text NOT NULL REFERENCES feature_flags (name),
    enabled boolean NOT NULL,
    PRIMARY KEY (user_id, flag_name)
);
INSERT INTO feature_flags
VALUES ('f', true, 30, '{free,pro,enterprise,internal}', ARRAY(SELECT g FROM generate_series(1000001, 1001000) AS g));
INSERT INTO user_feature_flags SELECT g * 1000, 'f', g % 2 = 0 FROM generate_series(1, 1000) AS g;
ANALYZE feature_flags;
ANALYZE user_feature_flags;
CREATE FUNCTION is_feature_enabled(p_user_id bigint, p_tier text, p_flag text) RETURNS boolean
LANGUAGE plpgsql STABLE AS \$\$
DECLARE
    f feature_flags%ROWTYPE;
    o boolean;
BEGIN
    SELECT enabled INTO o FROM user_feature_flags WHERE user_id = p_user_id AND flag_name = p_flag;
    IF FOUND THEN
        RETURN o;
    END IF;
    SELECT * INTO f FROM feature_flags WHERE name = p_flag;
    IF NOT FOUND OR NOT f.enabled THEN
        RETURN false;
    END IF;
    IF p_user_id = ANY (f.allowed_user_ids) THEN
        RETURN true;
    END IF;
    IF f.allowed_tiers IS NOT NULL AND NOT (p_tier = ANY (f.allowed_tiers)) THEN
        RETURN false;
    END IF;
    RETURN abs(hashtext(p_flag || ':' || p_user_id::text)) % 100 < f.rollout_percentage;
END
\$\$;
SQL

# The plain flag: 30%, salt = key 'f', so it must select exactly the floor's ids.
if [ "$has_1_1" = 1 ]; then
  sql -o /dev/null <<'SQL'
SELECT rollout.create_flag('f');
SELECT rollout.set_enabled('f', true);
SELECT rollout.set_rollout('f', 30);
-- The full flag: three attribute rules, a 1,000-user allow list, a 30% fallthrough.
SELECT rollout.create_flag('f_full');
SELECT rollout.set_enabled('f_full', true);
SELECT rollout.add_rule('f_full', '[{"attribute": "tier", "op": "eq", "value": "internal"}]', 100);
SELECT rollout.add_rule('f_full', '[{"attribute": "tier", "op": "in", "values": ["pro", "enterprise"]},
                                    {"attribute": "country", "op": "in", "values": ["NZ", "IS"]}]', 50);
SELECT rollout.add_rule('f_full', '[{"attribute": "country", "op": "eq", "value": "BR"}]', 10);
SELECT rollout.allow_users('f_full', ARRAY(SELECT g::text FROM generate_series(1000001, 1001000) AS g));
SELECT rollout.set_rollout('f_full', 30);
SQL
else
  sql -c "INSERT INTO rollout.flags (key, enabled, rollout_percentage) VALUES ('f', true, 30)"
fi
# A running 50/50 experiment (GrowthBook hash v2, coverage 1).
if [ "$has_1_2" = 1 ]; then
  sql -o /dev/null -c "SELECT rollout.create_experiment('e', ARRAY['control', 'treatment'])" \
    -c "SELECT rollout.set_experiment_status('e', 'running')"
fi

size=$(value "SELECT pg_size_pretty(pg_relation_size('users'))")
buffers=$(value "SHOW shared_buffers")
sql -c "CREATE EXTENSION pg_prewarm" -c "SELECT pg_prewarm('users'), pg_prewarm('users_sample')" >/dev/null
echo "   users: $size in shared_buffers of $buffers (pg_prewarm); pg_rollout $version"
if [ "$(value "SELECT pg_relation_size('users') + pg_relation_size('users_sample')
                      > (SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers')")" = t ]; then
  echo "   WARNING: the tables do not fit in shared_buffers; figures include reads (scripts/bench.sh sets 1GB)"
fi

# name|needs 1.N (0: any version)|query
queries=(
  "count(*)|0|SELECT count(*) FROM users"
  "hashint8(id) > 0|0|SELECT count(*) FROM users WHERE hashint8(id) > 0"
  "floor|0|SELECT count(*) FROM users WHERE rollout_floor(id, 'f')"
  "plain 30% flag|0|SELECT count(*) FROM users WHERE feature_enabled(id, 'f')"
  "plain 30% flag, counters off|0|SELECT count(*) FROM users WHERE feature_enabled(id, 'f')"
  "3 rules + allow list + 30%|1|SELECT count(*) FROM users WHERE feature_enabled(id, 'f_full')"
  "row attributes, same flag|1|SELECT count(*) FROM users WHERE $row_function(id, 'f_full', users)"
  "name/value pairs, same flag|1|SELECT count(*) FROM users WHERE feature_enabled_with(id, 'f_full', 'tier', tier, 'country', country)"
  "experiment_variant 50/50|2|SELECT count(*) FROM users WHERE experiment_variant(id, 'e') = 'treatment'"
  "count(*) sample|0|SELECT count(*) FROM users_sample"
  "PL/pgSQL seed logic|0|SELECT count(*) FROM users_sample WHERE is_feature_enabled(id, tier, 'f')"
)

# One session per round, every query once, in order; \timing's figures in query order.
round_sql=$(mktemp)
trap 'rm -f "$round_sql"' EXIT
{
  # Untimed: load the flag cache and touch both tables in this backend before the clock starts.
  echo "SELECT feature_enabled(1, 'f'), (SELECT count(*) FROM users), (SELECT count(*) FROM users_sample);"
  echo '\timing on'
  for q in "${queries[@]}"; do
    IFS='|' read -r name needs query <<<"$q"
    if available "$needs"; then
      # The evaluation counters (pg_rollout 1.2, when preloaded) off for this query alone.
      case $name in *"counters off") printf '\\timing off\nSET rollout.track_evaluations = off;\n\\timing on\n' ;; esac
      echo "$query;"
      case $name in *"counters off") printf '\\timing off\nRESET rollout.track_evaluations;\n\\timing on\n' ;; esac
    fi
  done
} >"$round_sql"

declare -A times
for round in $(seq 1 "$RUNS"); do
  mapfile -t round_ms < <(sql -f "$round_sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
  i=0
  for q in "${queries[@]}"; do
    IFS='|' read -r name needs _ <<<"$q"
    if available "$needs"; then
      times[$name]+="${round_ms[$i]} "
      i=$((i + 1))
    fi
  done
  echo "   round $round of $RUNS done"
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A ms
for q in "${queries[@]}"; do
  IFS='|' read -r name needs _ <<<"$q"
  [ -n "${times[$name]:-}" ] && ms[$name]=$(median "${times[$name]}")
done

# ns per row above the bare scan of the same table.
per_row() {  # NAME
  local base=count\(\*\) rows=$ROWS
  if [ "$1" = "PL/pgSQL seed logic" ]; then base="count(*) sample"; rows=$PLPGSQL_ROWS; fi
  awk -v t="${ms[$1]}" -v b="${ms[$base]}" -v n="$rows" 'BEGIN { printf "%.1f", (t - b) * 1e6 / n }'
}
floor_ns=$(per_row floor)
plpgsql_ns=$(per_row "PL/pgSQL seed logic")

echo
echo "== Per-row cost, $ROWS rows (PL/pgSQL: the first $PLPGSQL_ROWS), median of $RUNS, one core"
printf '  %-30s %10s %14s %10s %12s  %s\n' query "ms" "ns/row added" "x floor" "PL/pgSQL /" target
target() {
  case $1 in
    "plain 30% flag") echo "<= 1.2x floor (counters on)" ;;
    "3 rules + allow list + 30%") echo "<= 2x floor" ;;
    "row attributes, same flag" | "name/value pairs, same flag") echo "<= 3x floor" ;;
    "experiment_variant 50/50") echo "<= 1.5x floor" ;;
    *) echo "" ;;
  esac
}
for q in "${queries[@]}"; do
  IFS='|' read -r name needs _ <<<"$q"
  case $name in "count(*)" | "count(*) sample") printf '  %-30s %10.1f\n' "$name" "${ms[$name]}"; continue ;; esac
  if [ -z "${ms[$name]:-}" ]; then
    if [ "$needs" = 2 ]; then printf '  %-30s %s\n' "$name" "$needs_1_2"; else printf '  %-30s %s\n' "$name" "$needs_1_1"; fi
    continue
  fi
  ns=$(per_row "$name")
  awk -v n="$name" -v t="${ms[$name]}" -v ns="$ns" -v f="$floor_ns" -v p="$plpgsql_ns" -v tg="$(target "$name")" \
    'BEGIN { printf "  %-30s %10.1f %14.1f %10.2f %12.0f  %s\n", n, t, ns, ns / f, p / ns, tg }'
done
echo "  (ns/row added: above count(*) of the same table; PL/pgSQL /: how many times cheaper than the PL/pgSQL seed logic, target >= 50)"

same=$(value "SELECT count(*) FILTER (WHERE rollout_floor(id, 'f')) || ' ' ||
                     count(*) FILTER (WHERE rollout_floor(id, 'f') IS DISTINCT FROM feature_enabled(id, 'f'))
              FROM users")
echo "  plain flag vs floor: the floor selects ${same% *} ids; feature_enabled differs on ${same#* } rows (must be 0)"

# The evaluation counters' cost: the plain flag with counting on against off, same rounds.
counting=$(value "SELECT CASE WHEN to_regproc('rollout._counting') IS NULL THEN 'no counters (pg_rollout < 1.2)'
                              ELSE (rollout._counting()).status END")
if [ -n "${ms[plain 30% flag, counters off]:-}" ]; then
  awk -v on="$(per_row "plain 30% flag")" -v off="$(per_row "plain 30% flag, counters off")" -v c="$counting" \
    'BEGIN { printf "  evaluation counters (%s): plain flag %.1f ns/row counted, %.1f ns/row not; ratio %.3f (target <= 1.05)\n", c, on, off, on / off }'
fi

echo
echo "== pgbench point test: -M prepared, 2 clients, $PGBENCH_ROUNDS interleaved runs of ${PGBENCH_SECONDS}s, medians"
dir=$(mktemp -d)
trap 'rm -f "$round_sql"; rm -rf "$dir"' EXIT
printf '\\set uid random(1, %s)\nSELECT feature_enabled(:uid, '"'f'"');\n' "$ROWS" >"$dir/feature_enabled.sql"
printf '\\set uid random(1, %s)\nSELECT hashint8(:uid) > 0;\n' "$ROWS" >"$dir/hashint8.sql"
tps() { "$pgbench" -n -M prepared -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$dir/$1.sql" "$db" 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'; }
fe="" hi=""
for round in $(seq 1 "$PGBENCH_ROUNDS"); do
  a=$(tps feature_enabled)
  b=$(tps hashint8)
  fe+="$a " hi+="$b "
  echo "   round $round: feature_enabled $a tps, hashint8 $b tps"
done
fe_median=$(median "$fe")
hi_median=$(median "$hi")
awk -v a="$fe_median" -v b="$hi_median" 'BEGIN { printf "  median tps: feature_enabled %.0f, hashint8 %.0f; ratio %.3f (target >= 0.95)\n", a, b, a / b }'

psql -X -q -d postgres -c "DROP DATABASE $db"
