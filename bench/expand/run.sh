#!/usr/bin/env bash
# Zero downtime, measured (issue 14): a ROWS-row table (default 5,000,000) under a pgbench workload
# while its schema changes: column `descr` renamed to `description`, column `price` text -> integer
# with a backfill. One throwaway cluster; every figure comes from this run.
#
#   bash bench/expand/run.sh [backfill|migrator]    (builds nothing; BUILD_DIR overrides build/)
#
# Modes:
#   backfill  (default) the expand done by hand in SQL as the expand phase does it (new column
#             `_migrator_new_price`, a two-way sync trigger that steps aside for the backfill, the
#             version schema public_v0002 with a view of the new shape; each DDL with a 500 ms
#             lock_timeout, retried), then build/bin/backfill_bench runs run_backfill() alone.
#   migrator  `migrator up` on a declarative migration (migration.yaml, written here), then
#             `migrator complete 0002` once the old-schema client has stopped (the old application
#             version is retired before the contract phase), the new-schema client running on.
#
# The workload, both times (pgbench, fixed rate, per-transaction logs; each client one pgbench run
# that keeps its connections, as an application pool does):
#   baseline  OLD_RATE tx/s of the old-schema script (a select, an update of price, an insert through
#             public.orders) plus NEW_RATE tx/s of the same script, BASE_SECONDS long, no migration.
#   during    OLD_RATE tx/s of the old-schema script from before the migration to its end, plus
#             NEW_RATE tx/s through public_v0002.orders (description, integer price) from the end of
#             the expand on.
# Latency is what a client sees: execution time plus pgbench's schedule lag.
#
# Reports: client errors (failed transactions and aborted clients), p99 latency during the migration
# against the baseline, the longest lock wait of any client (log_lock_waits, deadlock_timeout 10 ms:
# waits shorter than that are not logged), backfill rows/s, and the consistency check (every row's
# new column equals its old value converted). Targets: 0 errors, p99 ratio <= 2, longest lock wait
# < 200 ms, >= 50,000 rows/s, 0 inconsistent rows. Exits 0 when it measured (it is a benchmark).
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin), BUILD_DIR (default build), ROWS,
# OLD_RATE (default 200), NEW_RATE (default 100), BASE_SECONDS (default 40), BACKFILL_OPTIONS
# (name=value settings for backfill_bench; default "batch_rows=100 target_batch_us=500
# nice_ratio=0.5", the migrator's defaults), MIGRATOR_OPTIONS (global options for `migrator up` in
# mode migrator, e.g. "--backfill-target 50ms --backfill-nice-ratio 2"), COMPLETE_OPTIONS (global
# options for `migrator complete`, e.g. "--backup-compression 0"), TIMELINE (a file to write
# a per-second latency timeline of the migration to), SAMPLE (a file to write, every 200 ms through
# the migration, the server's busy sessions and their wait events, and any vacuum's progress),
# NO_BACKFILL (mode backfill: SECONDS of the expand's triggers and views under both clients with no
# backfill, to tell their cost from the backfill's; the consistency check then counts every row),
# BENCH_SETTINGS (more server settings for the throwaway cluster, e.g. "-c fsync=on -c
# synchronous_commit=on -c full_page_writes=on" for a durable server; the default is the test
# cluster's, without fsync), CLIENT_LOGS (a directory to copy pgbench's per-transaction logs to),
# WARM_WAL (WAL segments made and recycled before the workload starts, as a server in its steady
# state has them; default 160, 2.5 GB; 0: none, every new segment zero-filled as on a new cluster).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=${1:-backfill}
export PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
build_dir=${BUILD_DIR:-$root/build}
rows=${ROWS:-5000000}
old_rate=${OLD_RATE:-200}
new_rate=${NEW_RATE:-100}
base_seconds=${BASE_SECONDS:-40}
warm_wal=${WARM_WAL:-160}
backfill_options=${BACKFILL_OPTIONS:-batch_rows=100 target_batch_us=500 nice_ratio=0.5}
read -r -a migrator_options <<<"${MIGRATOR_OPTIONS:-}"
read -r -a complete_options <<<"${COMPLETE_OPTIONS:-}"
version=0002

case "$mode" in
  backfill) tool=$build_dir/bin/backfill_bench ;;
  migrator) tool=$build_dir/bin/migrator ;;
  *)
    echo "expand bench: mode is backfill or migrator, got '$mode'" >&2
    exit 2
    ;;
esac
if [ ! -x "$tool" ]; then
  echo "expand bench: $tool not found; build it: cmake -S . -B build && cmake --build build --target $(basename "$tool")" >&2
  exit 1
fi
for n in "$rows" "$old_rate" "$new_rate" "$base_seconds"; do
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
    echo "expand bench: ROWS, OLD_RATE, NEW_RATE and BASE_SECONDS must be whole numbers from 1, got '$n'" >&2
    exit 2
  fi
done
if ! [[ "$warm_wal" =~ ^[0-9]+$ ]]; then
  echo "expand bench: WARM_WAL must be a whole number, got '$warm_wal'" >&2
  exit 2
fi

# shellcheck source=scripts/cluster.sh
source "$root/scripts/cluster.sh"
CLUSTER_SETTINGS="-c shared_preload_libraries='' ${BENCH_SETTINGS:-} -c max_wal_size=4GB -c checkpoint_timeout=30min" cluster_start
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "${CLIENT_LOGS:-}" ] && mkdir -p "$CLIENT_LOGS"; then cp "$work"/*.[0-9]* "$CLIENT_LOGS"/ 2>/dev/null || true; fi
  rm -rf "$work"
  cluster_stop
}
trap cleanup EXIT
chmod 755 "$work"
psql=("$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
url="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"
now_ms() { date +%s%3N; }

# Lock waits of the bench clients (application_name bench_old/bench_new) go to the server log.
"${psql[@]}" -c "ALTER SYSTEM SET log_lock_waits = on" -c "ALTER SYSTEM SET deadlock_timeout = '10ms'" \
  -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '" -c "SELECT pg_reload_conf()" >/dev/null

echo "expand bench ($mode): loading $rows rows ..."
start=$(now_ms)
"${psql[@]}" <<SQL
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, descr text,
                     price text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO orders (customer_id, descr, price)
  SELECT g % 100000, 'order ' || g, (g % 10000)::text FROM generate_series(1, $rows) g;
VACUUM ANALYZE orders;
SQL
echo "  loaded in $(( ($(now_ms) - start) / 1000 )) s"

# A server that has run a while starts each new WAL segment by renaming one a checkpoint recycled;
# a new cluster has none, and whichever backend first writes past a segment's end zero-fills the
# next one (16 MB, several ms) while it holds the WAL write lock: at the backfill's WAL rate twice
# a second, each time stalling a client's commit. As on a server in its steady state, WARM_WAL
# segments are made here and recycled by a checkpoint (min_wal_size keeps them all).
if [ "$warm_wal" -gt 0 ]; then
  start=$(now_ms)
  "${psql[@]}" -c "ALTER SYSTEM SET min_wal_size = '4GB'" -c "SELECT pg_reload_conf()" \
    -c "CREATE TABLE wal_warm (n int)" >/dev/null
  for _ in $(seq 1 "$warm_wal"); do
    echo "INSERT INTO wal_warm VALUES (1); SELECT pg_switch_wal();"
  done | "${psql[@]}" >/dev/null
  "${psql[@]}" -c "DROP TABLE wal_warm" -c "CHECKPOINT" >/dev/null
  recycled=$("${psql[@]}" -Atc "SELECT count(*) FROM pg_ls_waldir() WHERE name > pg_walfile_name(pg_current_wal_lsn())")
  echo "  $warm_wal WAL segments made, $recycled of them ready for reuse after a checkpoint, in $(( ($(now_ms) - start) / 1000 )) s"
fi

cat >"$work/old.sql" <<SQL
\set id random(1, $rows)
\set r random(1, 9999)
SELECT id, descr, price FROM public.orders WHERE id = :id;
UPDATE public.orders SET price = (:r)::text WHERE id = :id;
INSERT INTO public.orders (customer_id, descr, price) VALUES (:r, 'bench old', (:r)::text);
SQL
cat >"$work/new.sql" <<SQL
\set id random(1, $rows)
\set r random(1, 9999)
SELECT id, description, price FROM public_v$version.orders WHERE id = :id;
UPDATE public_v$version.orders SET price = :r WHERE id = :id;
INSERT INTO public_v$version.orders (customer_id, description, price) VALUES (:r, 'bench new', :r);
SQL

# load_start NAME SCRIPT RATE: one pgbench run in the background for as long as NAME is loaded,
# its clients keeping their connections (as an application's pool does; a client that reconnects
# makes the server start a backend, a storm of CPU that is no part of the workload), logging every
# transaction to $work/NAME.<pid>.
load_start() {
  local name=$1 script=$2 rate=$3
  (
    cd "$work"
    PGAPPNAME=bench_$name exec "$PG_BINDIR/pgbench" -n -c 2 -j 1 -R "$rate" -T 86400 -f "$script" -l \
      --log-prefix="$work/$name" -h 127.0.0.1 -p "$PGPORT" -U postgres postgres >"$work/$name.out" 2>"$work/$name.err"
  ) &
  pids+=($!)
  eval "load_pid_$name=$! load_rate_$name=$rate"
}
# load_stop NAME... : pgbench has no graceful stop, and when killed loses what its log's buffer
# holds (at most 8 KB, about 200 transactions): each client runs on for 2 s plus the time it takes
# to log 250 transactions past the last moment measured, then is killed. load_check verifies it.
load_stop() {
  local name pid rate margin=0 m
  for name in "$@"; do
    rate=$(eval echo "\${load_rate_$name:-1}")
    m=$((2 + (250 + rate - 1) / rate))
    [ "$m" -gt "$margin" ] && margin=$m
  done
  sleep "$margin"
  for name in "$@"; do
    pid=$(eval echo "\${load_pid_$name:-}")
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
# load_check NAME TO: warns when NAME's log ends before TO ms (its last transactions were lost).
load_check() {
  local last
  last=$(cat "$work/$1".[0-9]* 2>/dev/null | awk '{ t = $5 * 1000 + int($6 / 1000); if (t > m) m = t } END { printf "%.0f\n", m }')
  if [ "$last" -lt "$2" ]; then
    echo "expand bench: warning: the log of client $1 ends $(($2 - last)) ms before the end of its window" >&2
  fi
}

# Latency in µs (time + schedule lag) of every logged transaction of NAME that started in [FROM, TO] ms.
latencies() {
  local name=$1 from=$2 to=$3
  cat "$work/$name".[0-9]* 2>/dev/null |
    awk -v from="$from" -v to="$to" '$3 != "failed" && $3 != "skipped" {
      t = $5 * 1000 + int($6 / 1000); if (t >= from && t <= to) print $3 + ($7 == "" ? 0 : $7) }' || true
}
# Per-second timeline of NAME's transactions from FROM ms: second, count, p99 and max latency (ms).
timeline() {
  local name=$1 from=$2
  cat "$work/$name".[0-9]* 2>/dev/null |
    awk -v from="$from" '$3 != "failed" && $3 != "skipped" {
      t = $5 * 1000 + int($6 / 1000); if (t >= from) print int((t - from) / 1000), ($3 + ($7 == "" ? 0 : $7)) / 1000 }' |
    sort -k1,1n -k2,2n | awk -v name="$name" '
      function flush() { if (n) { i = int(n * 0.99); if (i < 1) i = 1; printf "%s %4d %5d %8.1f %8.1f\n", name, sec, n, v[i], v[n] } }
      $1 != sec { flush(); sec = $1; n = 0 } { v[++n] = $2 } END { flush() }' || true
}
p99() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", v[i] / 1000 }'; }
count_errors() {  # failed transactions (logged) plus client aborts and errors (told), over the given clients
  local total=0 name failed aborted
  for name in "$@"; do
    failed=$(cat "$work/$name".[0-9]* 2>/dev/null | awk '$3 == "failed" { n++ } END { print n + 0 }')
    aborted=$(grep -c "aborted\|ERROR" "$work/$name.err" 2>/dev/null || true)
    total=$((total + failed + ${aborted:-0}))
  done
  echo "$total"
}

# ---- baseline ----------------------------------------------------------------------------------
echo "expand bench: baseline, ${base_seconds} s of workload without a migration ..."
load_start base_old "$work/old.sql" "$old_rate"
load_start base_extra "$work/old.sql" "$new_rate"
sleep 3  # connected and warm, as the old client is when the migration starts
base_from=$(now_ms)
sleep "$base_seconds"
base_to=$(now_ms)
load_stop base_old base_extra
load_check base_old "$base_to"
load_check base_extra "$base_to"
base_p99=$({ latencies base_old "$base_from" "$base_to"; latencies base_extra "$base_from" "$base_to"; } | p99)
base_n=$({ latencies base_old "$base_from" "$base_to"; latencies base_extra "$base_from" "$base_to"; } | wc -l)
base_errors=$(count_errors base_old base_extra)
log_offset=$(stat -c %s "$CLUSTER_DIR/server.log")

# ---- the migration under load ------------------------------------------------------------------
load_start old "$work/old.sql" "$old_rate"
sleep 3
mig_from=$(now_ms)
if [ -n "${SAMPLE:-}" ]; then
  # One session, polling: what is busy (backend type, application, wait event, query start) and
  # how far any vacuum has got.
  "${psql[@]}" -At >"$SAMPLE" 2>&1 <<SQL &
SELECT floor(extract(epoch FROM clock_timestamp()) * 1000 - $mig_from)::bigint AS ms,
       coalesce((SELECT string_agg(coalesce(nullif(application_name, ''), backend_type) || ':' ||
                                   coalesce(wait_event_type || '/' || wait_event, 'cpu'), ' ' ORDER BY pid)
                 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'
                   AND backend_type <> 'walwriter' AND wait_event IS DISTINCT FROM 'AutoVacuumMain'
                   AND wait_event IS DISTINCT FROM 'BgWriterHibernate' AND wait_event IS DISTINCT FROM 'CheckpointerMain'
                   AND wait_event IS DISTINCT FROM 'LogicalLauncherMain' AND wait_event IS DISTINCT FROM 'WalWriterMain'
                   AND wait_event IS DISTINCT FROM 'BgWriterMain'), '-') AS busy,
       coalesce((SELECT string_agg(relid::regclass || ' ' || phase || ' ' || heap_blks_scanned || '/' || heap_blks_total, ' ')
                 FROM pg_stat_progress_vacuum), '') AS vacuum
\watch 0.2
SQL
  pids+=($!)
  sample_pid=$!
fi

ddl() {  # SQL: once, with a 500 ms lock_timeout, retried with backoff like the expand phase does
  local backoff=100 _
  for _ in $(seq 1 20); do
    if "${psql[@]}" -c "SET lock_timeout = '500ms'" -c "$1" 2>"$work/ddl.err"; then return 0; fi
    grep -q "lock timeout" "$work/ddl.err" || { cat "$work/ddl.err" >&2; return 1; }
    sleep "$(awk -v ms="$backoff" 'BEGIN { print ms / 1000 }')"
    backoff=$((backoff * 2 > 5000 ? 5000 : backoff * 2))
  done
  cat "$work/ddl.err" >&2
  return 1
}

backfill_json=""
if [ "$mode" = backfill ]; then
  expand_from=$(now_ms)
  ddl "ALTER TABLE public.orders ADD COLUMN _migrator_new_price integer"
  ddl "CREATE FUNCTION public._migrator_sync_orders_$version() RETURNS trigger LANGUAGE plpgsql AS \$\$
       BEGIN
         IF current_setting('migrator.backfill', true) = 'on' THEN RETURN NEW; END IF;
         IF TG_OP = 'INSERT' THEN
           IF NEW._migrator_new_price IS NULL THEN NEW._migrator_new_price := (NEW.price)::integer;
           ELSIF NEW.price IS NULL THEN NEW.price := (NEW._migrator_new_price)::text; END IF;
         ELSIF NEW._migrator_new_price IS DISTINCT FROM OLD._migrator_new_price THEN
           NEW.price := (NEW._migrator_new_price)::text;
         ELSIF NEW.price IS DISTINCT FROM OLD.price THEN
           NEW._migrator_new_price := (NEW.price)::integer;
         END IF;
         RETURN NEW;
       END \$\$"
  ddl "CREATE TRIGGER _migrator_sync_orders_$version BEFORE INSERT OR UPDATE ON public.orders
       FOR EACH ROW EXECUTE FUNCTION public._migrator_sync_orders_$version()"
  ddl "CREATE SCHEMA public_v$version; CREATE VIEW public_v$version.orders AS
       SELECT id, customer_id, descr AS description, _migrator_new_price AS price, created_at FROM public.orders"
  expand_ms=$(($(now_ms) - expand_from))
  expand_to=$(now_ms)
  load_start new "$work/new.sql" "$new_rate"
  # shellcheck disable=SC2086
  if [ -n "${NO_BACKFILL:-}" ]; then  # the expand's triggers and views alone, NO_BACKFILL seconds
    sleep "$NO_BACKFILL"
    backfill_json='{"rows":0,"seconds":0,"rows_per_second":0}'
  else
  backfill_json=$("$tool" "$url" "$version" public orders '"_migrator_new_price" = ("price")::integer' \
    '"_migrator_new_price" IS NULL' $backfill_options 2>"$work/backfill.err") || {
    echo "expand bench: backfill_bench failed:" >&2
    cat "$work/backfill.err" >&2
    exit 1
  }
  fi
  complete_ms=0
else
  mkdir -p "$work/migrations/${version}_orders_price"
  cat >"$work/migrations/${version}_orders_price/migration.yaml" <<YAML
operations:
  - rename_column: {table: orders, from: descr, to: description}
  - alter_column:
      table: orders
      column: price
      type: integer
      up: "price::integer"
      down: "price::text"
YAML
  expand_from=$(now_ms)
  # `up` runs the expand and the backfill; the second client starts once the version schema exists.
  "$tool" --database-url "$url" --dir "$work/migrations" --backup-dir "$work/backups" --pg-bin "$PG_BINDIR" \
    "${migrator_options[@]}" --json up >"$work/up.json" 2>"$work/up.err" &
  up_pid=$!
  pids+=("$up_pid")
  # The expand is done when the backfill reports its first batch (read from its output: a psql
  # poll would start a backend every time, a storm of CPU of its own on a small machine). Once the
  # second client runs, the bench only waits: polling on through the backfill forked 40 processes
  # a second (grep and sleep), which took 4% of a CPU beside the clients.
  new_started=""
  while [ -z "$new_started" ] && kill -0 "$up_pid" 2>/dev/null; do
    if grep -q backfill_progress "$work/up.err" 2>/dev/null; then
      expand_ms=$(($(now_ms) - expand_from))
      expand_to=$(now_ms)
      load_start new "$work/new.sql" "$new_rate"
      new_started=1
    else
      sleep 0.05
    fi
  done
  wait "$up_pid" || { echo "expand bench: migrator up failed:" >&2; cat "$work/up.err" >&2; exit 1; }
  [ -n "$new_started" ] || load_start new "$work/new.sql" "$new_rate"
  expand_ms=${expand_ms:-0}
  expand_to=${expand_to:-$(now_ms)}
fi
backfill_to=$(now_ms)
check_from=$backfill_to

# Consistency before the contract phase drops the old column (with the load still running, so the
# triggers' two-way sync is checked on live writes too).
if [ "$mode" = migrator ]; then
  # The backfill's own figures, from its checkpoint row.
  read -r backfill_rows backfill_seconds < <("${psql[@]}" -AtF ' ' -c "SELECT sum(rows_done),
    extract(epoch FROM max(finished_at) - min(started_at)) FROM migrator.backfill_progress WHERE version = '$version'")
  rps=$(awk -v r="$backfill_rows" -v s="$backfill_seconds" 'BEGIN { if (s + 0 > 0) print r / s; else print 0 }')
fi
inconsistent=$("${psql[@]}" -Atc "SELECT count(*) FROM public.orders WHERE _migrator_new_price IS DISTINCT FROM price::integer")
total_rows=$("${psql[@]}" -Atc "SELECT count(*) FROM public.orders")
check_to=$(now_ms)

if [ "$mode" = migrator ]; then
  # The contract phase drops what only the old version uses: as in a deployment, the old version's
  # clients are gone before it runs; the new version's keep running through it.
  load_stop old
  complete_from=$(now_ms)
  "$tool" --database-url "$url" --dir "$work/migrations" --backup-dir "$work/backups" --pg-bin "$PG_BINDIR" \
    "${complete_options[@]}" complete "$version" >"$work/complete.out" 2>&1 || { echo "expand bench: migrator complete failed:" >&2; cat "$work/complete.out" >&2; exit 1; }
  complete_ms=$(($(now_ms) - complete_from))
fi
mig_to=$(now_ms)
load_stop old new
load_check new "$mig_to"
# The window's second part: from `complete` on (the old client's wind-down before it is left out).
resume_from=${complete_from:-$((check_to + 1))}
if [ "$mode" = migrator ]; then load_check old "$check_to"; else load_check old "$mig_to"; fi
if [ -n "${sample_pid:-}" ]; then kill "$sample_pid" 2>/dev/null || true; fi

# The migration's window is [mig_from, mig_to] less the bench's own consistency check (two full
# scans of the table, run between the backfill and `complete`): its latencies are reported apart.
window() {  # latencies of both clients in [FROM, TO]
  latencies old "$1" "$2"
  latencies new "$1" "$2"
}
during() {
  window "$mig_from" "$((check_from - 1))"
  window "$resume_from" "$mig_to"
}
during_p99=$(during | p99)
during_n=$(during | wc -l)
new_p99=$({ latencies new "$mig_from" "$((check_from - 1))"; latencies new "$resume_from" "$mig_to"; } | p99)
phase_p99() { local p n; p=$(window "$1" "$2" | p99); n=$(window "$1" "$2" | wc -l); echo "$p ms ($n tx)"; }
during_errors=$(count_errors old new)
longest_wait=$(tail -c +"$((log_offset + 1))" "$CLUSTER_DIR/server.log" |
  grep -E ' bench_(old|new): LOG: +process [0-9]+ (acquired|still waiting)' |
  sed -nE 's/.* after ([0-9.]+) ms.*/\1/p' | sort -n | tail -1 || true)
if [ "$mode" = backfill ]; then
  rps=$(sed -nE 's/.*"rows_per_second":([0-9.e+]+).*/\1/p' <<<"$backfill_json")
  backfill_rows=$(sed -nE 's/.*"rows":([0-9]+).*/\1/p' <<<"$backfill_json")
  backfill_seconds=$(sed -nE 's/.*"seconds":([0-9.e+]+).*/\1/p' <<<"$backfill_json")
fi
ratio=$(awk -v a="$during_p99" -v b="$base_p99" 'BEGIN { if (b + 0 > 0 && a != "n/a") printf "%.2f", a / b; else print "n/a" }')

echo
echo "=== expand bench ($mode): $rows rows, workload ${old_rate}+${new_rate} tx/s (each tx: select, update, insert)"
printf '  %-44s %s\n' "baseline p99 latency (ms, $base_n tx)" "$base_p99"
printf '  %-44s %s\n' "p99 latency during the migration (ms, $during_n tx)" "$during_p99"
printf '  %-44s %s\n' "  of it, new-schema client p99 (ms)" "$new_p99"
printf '  %-44s %s\n' "  p99 during the expand (DDL)" "$(phase_p99 "$mig_from" "$expand_to")"
printf '  %-44s %s\n' "  p99 during the backfill" "$(phase_p99 "$expand_to" "$((check_from - 1))")"
if [ "$mode" = migrator ]; then
  printf '  %-44s %s\n' "  p99 during complete" "$(phase_p99 "$resume_from" "$mig_to")"
fi
printf '  %-44s %s\n' "p99 during the bench's consistency check" "$(phase_p99 "$check_from" "$check_to") (not counted)"
printf '  %-44s %s   (target <= 2)\n' "p99 ratio during / baseline" "$ratio"
printf '  %-44s %s   (target 0; baseline run: %s)\n' "client errors during the migration" "$during_errors" "$base_errors"
# What the clients were told, so an error can be traced to its phase (the work directory goes).
for name in old new; do
  [ -e "$work/$name.err" ] || continue
  grep -h "aborted\|ERROR" "$work/$name.err" | head -5 | sed "s/^/    $name client: /" || true
done
printf '  %-44s %s   (target < 200; waits under 10 ms are not logged)\n' "longest client lock wait (ms)" "${longest_wait:-none logged}"
printf '  %-44s %s\n' "expand (DDL) took (ms)" "$expand_ms"
if [ "$mode" = backfill ]; then
  printf '  %-44s %s rows in %.1f s = %.0f rows/s   (target >= 50000; options: %s)\n' "backfill" "$backfill_rows" \
    "$backfill_seconds" "$rps" "$backfill_options"
else
  printf '  %-44s %s rows in %.1f s = %.0f rows/s   (target >= 50000)\n' "backfill (its checkpoint row)" \
    "$backfill_rows" "$backfill_seconds" "$rps"
  printf '  %-44s %s ms (up, expand + backfill)\n' "migrator up" "$((backfill_to - expand_from))"
  printf '  %-44s %s\n' "migrator options" "${MIGRATOR_OPTIONS:-(defaults)}"
  [ -z "${COMPLETE_OPTIONS:-}" ] || printf '  %-44s %s\n' "migrator complete options" "$COMPLETE_OPTIONS"
  printf '  %-44s %s\n' "migrator complete (ms)" "$complete_ms"
fi
if [ -n "${TIMELINE:-}" ]; then
  {
    echo "# second from the migration's start, client, transactions, p99 ms, max ms; phases (s):" \
      "expand $(( (expand_to - mig_from) / 1000 )), backfill $(( (check_from - mig_from) / 1000 ))," \
      "check $(( (check_to - mig_from) / 1000 )), end $(( (mig_to - mig_from) / 1000 ))"
    { timeline old "$mig_from"; timeline new "$mig_from"; } | sort -k2,2n -k1,1
  } >"$TIMELINE"
fi
printf '  %-44s %s of %s rows   (target 0)\n' "rows whose new price != old price::integer" "$inconsistent" "$total_rows"
