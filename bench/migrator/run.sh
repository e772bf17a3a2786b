#!/usr/bin/env bash
# The migrator's speed (issue 12, "Speed"): apply MIGRATIONS small migrations (default 500) and
# revert them all, against a floor and two peers, in one run on one throwaway cluster.
#
#   bash bench/migrator/run.sh          (builds nothing: needs build/bin/migrator; BUILD_DIR overrides)
#
# Tools, each ROUNDS times (default 3) in interleaved rounds, each time in a fresh database; the
# median counts:
#   floor     ONE psql session running the same SQL: the advisory lock taken once, then per
#             migration BEGIN, its statements, INSERT (up) or DELETE (down) of a state row, COMMIT.
#             The least any migration tool must do.
#   migrator  `migrator up`, then `migrator down --to 0` (checksums, history rows, lock_timeout).
#   dbmate    npm package dbmate (version pinned by package-lock.json here), its Go binary run
#             directly, --no-dump-schema: `dbmate migrate`, then `dbmate rollback` once per
#             migration, since dbmate rolls back one migration per run and has no "all" option.
#   sqitch    Debian package sqitch (installed here with apt-get when missing and run as root):
#             `sqitch deploy`, then `sqitch revert -y`; each change script wraps its SQL in
#             BEGIN/COMMIT, as sqitch's own templates do.
# Every tool runs the same SQL over TCP to 127.0.0.1. After each up the database must hold every
# table and index the migrations create, after each down none: otherwise the script stops.
#
# Prints tables of wall-clock and CPU seconds with ratios to the floor, the statements (round
# trips) the server received from the floor and the migrator, and whether the migrator meets the
# target (up and down each at most 1.2x the floor). Exits 0 when it measured: it is a benchmark,
# not a test. A peer that cannot be installed is reported as not measured.
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin), BUILD_DIR (default build),
# MIGRATIONS, ROUNDS, MIGRATOR_BENCH_CACHE (where npm installs dbmate; default
# ~/.cache/pg_rollout/migrator-bench), MIGRATOR_BENCH_TOOLS (default "floor migrator dbmate sqitch"),
# MIGRATOR_BEFORE (another migrator binary, e.g. one built before a change: measured too, as
# "before", right after the migrator in every round).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
build_dir=${BUILD_DIR:-$root/build}
migrations=${MIGRATIONS:-500}
rounds=${ROUNDS:-3}
cache=${MIGRATOR_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pg_rollout/migrator-bench}
tools=${MIGRATOR_BENCH_TOOLS:-floor migrator dbmate sqitch}
before=${MIGRATOR_BEFORE:-}
if [ -n "$before" ]; then
  [ -x "$before" ] || { echo "migrator bench: MIGRATOR_BEFORE=$before is not an executable" >&2; exit 2; }
  tools=$(sed 's/\<migrator\>/migrator before/' <<<"$tools")
fi
target=1.2
psql_bin=$PG_BINDIR/psql

for n in "$migrations" "$rounds"; do
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
    echo "migrator bench: MIGRATIONS and ROUNDS must be whole numbers from 1, got '$n'" >&2
    exit 2
  fi
done
migrator=$build_dir/bin/migrator
if [ ! -x "$migrator" ]; then
  echo "migrator bench: $migrator not found; build it: cmake -S . -B build && cmake --build build --target migrator" >&2
  exit 1
fi

# ---- peers ----------------------------------------------------------------------------------
declare -A skipped=()
dbmate=""
install_dbmate() {
  if ! command -v npm >/dev/null; then
    skipped[dbmate]="npm is missing (scripts/setup.sh installs it)"
    return
  fi
  mkdir -p "$cache"
  # `npm install`, not `npm ci`: npm writes only this platform's optional binary package into the
  # lock file, so `npm ci` would refuse it as out of sync. The versions stay pinned (package.json
  # names dbmate's exact version, dbmate its binaries' exact versions, the lock their hashes).
  if ! cmp -s "$here/package-lock.json" "$cache/installed-from.json" || [ ! -d "$cache/node_modules" ]; then
    rm -rf "$cache/node_modules" "$cache/installed-from.json"
    cp "$here/package.json" "$here/package-lock.json" "$cache/"
    if ! (cd "$cache" && npm install --no-audit --no-fund --loglevel=error >/dev/null); then
      skipped[dbmate]="npm install failed in $cache"
      return
    fi
    cp "$here/package-lock.json" "$cache/installed-from.json"
  fi
  # The Go binary that the npm package's node wrapper would spawn: no node start-up per run.
  dbmate=$(find "$cache/node_modules/@dbmate" -path '*/bin/dbmate' -type f | head -n 1)
  [ -n "$dbmate" ] || skipped[dbmate]="no dbmate binary for this platform in $cache/node_modules/@dbmate"
}
install_sqitch() {
  if command -v sqitch >/dev/null && perl -MDBD::Pg -e 1 2>/dev/null; then return; fi
  if [ "$(id -u)" -ne 0 ]; then
    skipped[sqitch]="sqitch or libdbd-pg-perl is missing; as root: apt-get install sqitch libdbd-pg-perl"
    return
  fi
  echo "== installing sqitch and libdbd-pg-perl (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends sqitch libdbd-pg-perl \
    >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends sqitch libdbd-pg-perl \
      >/dev/null 2>&1 || skipped[sqitch]="apt-get install sqitch libdbd-pg-perl failed"
  fi
}
case " $tools " in *" dbmate "*) install_dbmate ;; esac
case " $tools " in *" sqitch "*) install_sqitch ;; esac

# ---- the migrations, in each tool's layout --------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_rollout_migrator_bench.XXXXXX")
chmod 755 "$work"
source "$root/scripts/cluster.sh"
# The migrator needs no extension: pg_rollout need not be installed for this benchmark.
# Autovacuum off: its workers would add CPU to whichever tool runs when they exit (see cpu_sample).
CLUSTER_SETTINGS="${CLUSTER_SETTINGS:-} -c shared_preload_libraries='' -c autovacuum=off"
cluster_start
trap 'cluster_stop; rm -rf "$work"' EXIT

# Migration i works on table bench_<g>, g = (i + 3) / 4, in four kinds taking turns: create the
# table (with a comment), add a column, index it, insert a few rows; each down undoes its up.
echo "== generating $migrations migrations in $work"
mkdir -p "$work/migrator" "$work/dbmate" "$work/sqitch/deploy" "$work/sqitch/revert"
lock_key=7243901823
names=(create_table add_note index_name insert_rows)
for i in $(seq 1 "$migrations"); do
  printf '%s/migrator/%04d_%s\n' "$work" "$i" "${names[$(((i - 1) % 4))]}"
done | xargs mkdir
awk -v n="$migrations" -v work="$work" -v key="$lock_key" '
  function up_sql(i, g, k) {
    g = int((i + 3) / 4); k = (i - 1) % 4
    if (k == 0) return sprintf("CREATE TABLE bench_%d (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  name text NOT NULL,\n  created_at timestamptz NOT NULL DEFAULT now()\n);\nCOMMENT ON TABLE bench_%d IS '\''benchmark table %d'\'';", g, g, g)
    if (k == 1) return sprintf("ALTER TABLE bench_%d ADD COLUMN note text;", g)
    if (k == 2) return sprintf("CREATE INDEX bench_%d_name_idx ON bench_%d (name);", g, g)
    return sprintf("INSERT INTO bench_%d (name, note) VALUES ('\''alpha'\'', '\''a'\''), ('\''beta'\'', '\''b'\''), ('\''gamma'\'', '\''c'\'');", g)
  }
  function down_sql(i, g, k) {
    g = int((i + 3) / 4); k = (i - 1) % 4
    if (k == 0) return sprintf("DROP TABLE bench_%d;", g)
    if (k == 1) return sprintf("ALTER TABLE bench_%d DROP COLUMN note;", g)
    if (k == 2) return sprintf("DROP INDEX bench_%d_name_idx;", g)
    return sprintf("DELETE FROM bench_%d WHERE name IN ('\''alpha'\'', '\''beta'\'', '\''gamma'\'');", g)
  }
  function name_of(i, k) {
    k = (i - 1) % 4
    return k == 0 ? "create_table" : k == 1 ? "add_note" : k == 2 ? "index_name" : "insert_rows"
  }
  function write(path, text) { printf "%s\n", text > path; close(path) }
  BEGIN {
    floor_up = work "/floor_up.sql"; floor_down = work "/floor_down.sql"; plan = work "/sqitch/sqitch.plan"
    print "\\set ON_ERROR_STOP 1\nSET client_min_messages = warning;" > floor_up
    printf "SELECT pg_advisory_lock(%s);\n", key > floor_up
    print "CREATE TABLE IF NOT EXISTS floor_state (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());" > floor_up
    print "\\set ON_ERROR_STOP 1" > floor_down
    printf "SELECT pg_advisory_lock(%s);\n", key > floor_down
    print "%syntax-version=1.0.0\n%project=bench\n" > plan
    for (i = 1; i <= n; i++) {
      v = sprintf("%04d", i); dir = v "_" name_of(i); up = up_sql(i); down = down_sql(i)
      # The migrator: <version>_<name>/up.sql and down.sql (the directories exist already).
      write(work "/migrator/" dir "/up.sql", up)
      write(work "/migrator/" dir "/down.sql", down)
      printf "BEGIN;\n%s\nINSERT INTO floor_state (version) VALUES (%d);\nCOMMIT;\n", up, i > floor_up
      write(work "/dbmate/" dir ".sql", "-- migrate:up\n" up "\n\n-- migrate:down\n" down)
      write(work "/sqitch/deploy/m" v ".sql", "BEGIN;\n" up "\nCOMMIT;")
      write(work "/sqitch/revert/m" v ".sql", "BEGIN;\n" down "\nCOMMIT;")
      printf "m%s 2024-01-01T00:00:00Z bench <bench@example.invalid> # %s\n", v, name_of(i) > plan
    }
    for (i = n; i >= 1; i--) {
      printf "BEGIN;\n%s\nDELETE FROM floor_state WHERE version = %d;\nCOMMIT;\n", down_sql(i), i > floor_down
    }
  }' </dev/null
cat >"$work/sqitch/sqitch.conf" <<CONF
[core]
	engine = pg
	plan_file = sqitch.plan
	top_dir = .
[engine "pg"]
	client = $psql_bin
[user]
	name = bench
	email = bench@example.invalid
CONF
tables=$(((migrations + 3) / 4))
indexes=$(((migrations + 1) / 4))

# ---- measuring ------------------------------------------------------------------------------
url_of() { echo "postgresql://postgres@127.0.0.1:$PGPORT/$1"; }
admin() { "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 -d "$(url_of postgres)" -c "SET client_min_messages = warning" -c "$1"; }

run_up() {
  local tool=$1 db=$2 url
  url=$(url_of "$db")
  case $tool in
    floor) "$psql_bin" -X -q -d "$url" -f "$work/floor_up.sql" >/dev/null ;;
    migrator) "$migrator" --database-url "$url" --dir "$work/migrator" up "${migrator_up_flags[@]}" >/dev/null ;;
    before) "$before" --database-url "$url" --dir "$work/migrator" up "${before_up_flags[@]}" >/dev/null ;;
    dbmate) "$dbmate" --url "$url?sslmode=disable" --migrations-dir "$work/dbmate" --no-dump-schema migrate >/dev/null ;;
    sqitch) (cd "$work/sqitch" && sqitch deploy --target "db:pg://postgres@127.0.0.1:$PGPORT/$db" >/dev/null) ;;
  esac
}
run_down() {
  local tool=$1 db=$2 url
  url=$(url_of "$db")
  case $tool in
    floor) "$psql_bin" -X -q -d "$url" -f "$work/floor_down.sql" >/dev/null ;;
    migrator) "$migrator" --database-url "$url" --dir "$work/migrator" down --to 0 "${migrator_down_flags[@]}" >/dev/null ;;
    before) "$before" --database-url "$url" --dir "$work/migrator" down --to 0 "${before_down_flags[@]}" >/dev/null ;;
    dbmate)
      for _ in $(seq 1 "$migrations"); do
        "$dbmate" --url "$url?sslmode=disable" --migrations-dir "$work/dbmate" --no-dump-schema rollback >/dev/null
      done
      ;;
    sqitch) (cd "$work/sqitch" && sqitch revert -y --target "db:pg://postgres@127.0.0.1:$PGPORT/$db" >/dev/null) ;;
  esac
}
# What the migrations left in database $1: "<tables> <indexes> <rows>".
contents() {
  "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 -d "$(url_of "$1")" -c "
    SELECT (SELECT count(*) FROM pg_class WHERE relname ~ '^bench_[0-9]+\$' AND relkind = 'r') || ' ' ||
           (SELECT count(*) FROM pg_class WHERE relname ~ '^bench_[0-9]+_name_idx\$' AND relkind = 'i') || ' ' ||
           (SELECT count(*) FROM pg_attribute WHERE attname = 'note' AND attrelid::regclass::text ~ '^bench_[0-9]+\$')"
}
check_contents() {
  local tool=$1 db=$2 phase=$3 expected=$4 got
  got=$(contents "$db")
  # Beside the migrations directory: where a backup before a destructive step would go.
  if [ -n "$(ls -A "$work/.migrator/backups" 2>/dev/null)" ]; then
    echo "migrator bench: after $tool $phase, a backup was taken ($work/.migrator/backups): not what the floor does" >&2
    exit 1
  fi
  if [ "$got" != "$expected" ]; then
    echo "migrator bench: after $tool $phase, database $db holds tables/indexes/note columns '$got', expected '$expected'" >&2
    exit 1
  fi
}
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# A backup before destructive steps is work the floor does not do: `down` (whose scripts drop tables)
# runs with --no-backup when the binary has it, so the bench measures migrating. `up` runs without it:
# it still scans its scripts for destructive statements, finds none and takes no backup.
migrator_up_flags=()
migrator_down_flags=()
before_up_flags=()
before_down_flags=()
if "$migrator" down --help 2>/dev/null | grep -q -- '--no-backup'; then migrator_down_flags+=(--no-backup); fi
if [ -n "$before" ] && "$before" down --help 2>/dev/null | grep -q -- '--no-backup'; then
  before_down_flags+=(--no-backup)
fi

# CPU seconds, client and server, beside wall-clock seconds: on a shared machine the wall clock
# also counts the time other programs held the CPU, and swings with them; the CPU a tool and its
# server backend burn stays put. A single-connection tool's wall time on an idle machine is about
# that CPU plus the round trips' latency. Client: the children times of this shell (bash `times`,
# so a tool's own children count: sqitch's psql runs, the 500 dbmate runs); `times` runs in this
# shell itself, never in a $(...) subshell, whose children times hold only its own children. Server:
# the CPU of backends that have exited, which the postmaster accumulates as its children's times
# (/proc/PID/stat cutime + cstime); autovacuum is off, so only the tool's own sessions exit.
postmaster=$(head -n 1 "$CLUSTER_DIR/data/postmaster.pid")
clock_ticks=$(getconf CLK_TCK)
# (A process may end between the glob and cat's read: cat then fails, the rest still counts.)
server_children() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v p="$postmaster" '{ sub(/^.*\) /, ""); if ($2 == p) n++ } END { print n + 0 }'; }
idle_children=$(server_children)
# Waits until every session that has ended was reaped by the postmaster (at most 10 s).
settle() {
  local i
  for i in $(seq 1 200); do
    [ "$(server_children)" -gt "$idle_children" ] || return 0
    sleep 0.05
  done
}
# Sets cpu_client and cpu_server, seconds so far. `cpu_sample before` settles first, so the set-up's
# sessions are counted before the tool starts; `cpu_sample after` reads the client first, so that
# settle's own processes are not counted as the tool's.
cpu_client=0
cpu_server=0
cpu_sample() {
  [ "$1" = after ] || settle
  times >"$work/times"
  [ "$1" != after ] || settle
  read -r cpu_client cpu_server < <(awk -v t="$clock_ticks" -v f="$work/times" '
    function s(x, m) { m = x; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); return m * 60 + x }
    NR == 1 { sub(/^.*\) /, ""); server = ($14 + $15) / t }
    END { while ((getline line < f) > 0) if (++n == 2) { split(line, c, " "); client = s(c[1]) + s(c[2]) }
          printf "%.3f %.3f\n", client, server }' "/proc/$postmaster/stat")
}
cpu_used() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.3f", (y[1] - x[1]) + (y[2] - x[2]) }'; }

declare -A times=() cpu=()
# measure TOOL DB PHASE EXPECTED: runs run_PHASE (up or down), records its wall-clock and CPU
# seconds, and checks the database's contents against EXPECTED (see contents).
measure() {
  local tool=$1 db=$2 phase=$3 expected=$4 c0 c1 t0 t1 wall used
  cpu_sample before
  c0="$cpu_client $cpu_server"
  t0=$EPOCHREALTIME
  "run_$phase" "$tool" "$db"
  t1=$EPOCHREALTIME
  cpu_sample after
  c1="$cpu_client $cpu_server"
  check_contents "$tool" "$db" "$phase" "$expected"
  wall=$(seconds "$t0" "$t1")
  used=$(cpu_used "$c0" "$c1")
  times[$tool.$phase]+="$wall "
  cpu[$tool.$phase]+="$used "
  printf '  %-4s %7.3f s (cpu %7.3f s)' "$phase" "$wall" "$used"
}
read -r -a tool_list <<<"$tools"
echo "== $rounds rounds of up and down, $migrations migrations, cluster on 127.0.0.1:$PGPORT," \
  "load average $(cut -d ' ' -f 1-3 /proc/loadavg) on $(nproc) cores"
for round in $(seq 1 "$rounds"); do
  for tool in "${tool_list[@]}"; do
    [ -z "${skipped[$tool]:-}" ] || continue
    db=mb_${tool}_$round
    admin "DROP DATABASE IF EXISTS $db" >/dev/null
    admin "CREATE DATABASE $db" >/dev/null
    printf '   round %d  %-8s' "$round" "$tool"
    measure "$tool" "$db" up "$tables $indexes $(((migrations + 2) / 4))"
    measure "$tool" "$db" down "0 0 0"
    echo
    admin "DROP DATABASE $db" >/dev/null
  done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio_of() { awk -v a="$1" -v f="${2:-0}" 'BEGIN { if (f > 0) printf "%.2f", a / f; else print "-" }'; }
declare -A ratio=()
# table NAME ARRAY: medians of one measure per tool, with ratios to the floor's.
table() {
  local measure=$1 tool up down
  local -n values=$2
  echo
  echo "== $migrations migrations, $measure, median of $rounds rounds (seconds; ratio to the floor)"
  printf '%-10s %10s %8s %10s %8s\n' tool up ratio down ratio
  local floor_up floor_down
  floor_up=$(median <<<"${values[floor.up]:-}")
  floor_down=$(median <<<"${values[floor.down]:-}")
  for tool in "${tool_list[@]}"; do
    if [ -n "${skipped[$tool]:-}" ]; then
      printf '%-10s not measured: %s\n' "$tool" "${skipped[$tool]}"
      continue
    fi
    up=$(median <<<"${values[$tool.up]}")
    down=$(median <<<"${values[$tool.down]}")
    ratio[$measure.$tool.up]=$(ratio_of "$up" "$floor_up")
    ratio[$measure.$tool.down]=$(ratio_of "$down" "$floor_down")
    printf '%-10s %10.3f %7sx %10.3f %7sx\n' "$tool" "$up" "${ratio[$measure.$tool.up]}" "$down" \
      "${ratio[$measure.$tool.down]}"
  done
}
# Round trips, which neither load nor noise changes: one more up and down of the floor and the
# migrator with every statement logged, counting the statements (a multi-statement string counts
# once, as it is one round trip) the server received in each tool's database.
declare -A statements=()
count_round_trips() {
  local tool db log seen
  log="$CLUSTER_DIR/server.log"
  admin "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
  admin "ALTER SYSTEM SET log_line_prefix = '%d '" >/dev/null
  admin "SELECT pg_reload_conf()" >/dev/null
  sleep 0.5
  for tool in floor migrator before; do
    case " $tools " in *" $tool "*) ;; *) continue ;; esac
    [ -z "${skipped[$tool]:-}" ] || continue
    db=mb_${tool}_count
    admin "DROP DATABASE IF EXISTS $db" >/dev/null
    admin "CREATE DATABASE $db" >/dev/null
    seen=$(grep -cE "^$db LOG:  (statement|execute)" "$log" || true)
    run_up "$tool" "$db"
    statements[$tool.up]=$(($(grep -cE "^$db LOG:  (statement|execute)" "$log" || true) - seen))
    seen=$(grep -cE "^$db LOG:  (statement|execute)" "$log" || true)
    run_down "$tool" "$db"
    statements[$tool.down]=$(($(grep -cE "^$db LOG:  (statement|execute)" "$log" || true) - seen))
    admin "DROP DATABASE $db" >/dev/null
  done
  admin "ALTER SYSTEM RESET log_statement" >/dev/null
  admin "ALTER SYSTEM RESET log_line_prefix" >/dev/null
  admin "SELECT pg_reload_conf()" >/dev/null
}
count_round_trips

table "wall clock" times
table "CPU (client + server)" cpu
echo
echo "== $migrations migrations, statements the server received (one run, logged)"
printf '%-10s %10s %10s\n' tool up down
for tool in floor migrator before; do
  [ -n "${statements[$tool.up]:-}" ] || continue
  printf '%-10s %10s %10s\n' "$tool" "${statements[$tool.up]}" "${statements[$tool.down]}"
done
echo
case " $tools " in *" dbmate "*) echo "(dbmate down: $migrations runs of \`dbmate rollback\`, one migration each)" ;; esac
[ ${#migrator_down_flags[@]} -eq 0 ] || echo "(migrator down ran with ${migrator_down_flags[*]}; up scanned for destructive statements)"
echo "(load average at the end: $(cut -d ' ' -f 1-3 /proc/loadavg) on $(nproc) cores)"

for measure in "wall clock" "CPU (client + server)"; do
  u=${ratio[$measure.migrator.up]:-}
  d=${ratio[$measure.migrator.down]:-}
  if [ -z "$u" ] || [ "$u" = - ]; then
    echo "target, $measure: not judged (the floor and the migrator must both be measured)"
  elif awk -v u="$u" -v d="$d" -v t="$target" 'BEGIN { exit !(u <= t && d <= t) }'; then
    echo "target, $measure: MET, migrator up ${u}x and down ${d}x the floor (target: each at most ${target}x)"
  else
    echo "target, $measure: MISSED, migrator up ${u}x and down ${d}x the floor (target: each at most ${target}x)"
  fi
done
