#!/usr/bin/env bash
# pg_rollout on a streaming hot standby: PostgreSQL's own replication as the scale-out path.
#
# Starts a primary (its own initdb in a temporary directory, wal_level=replica, a loopback port
# that is never 5432 and a unix socket in that directory) and a hot standby made from it with
# `pg_basebackup -R`, then shows:
#   1. evaluation works on the standby and agrees with the primary;
#   2. a change committed on the primary (rollout.set_rollout, then a direct UPDATE of
#      rollout.flag_configs) is seen by a standby session that was opened before the change, once
#      the standby has replayed it: same backend (no reconnect), no cache clear;
#   3. while replay is paused the standby session keeps the old answer, and after replay it never
#      serves the old one again (asked several times, one user and a count over 10,000 users);
#   4. a REPEATABLE READ transaction on the standby keeps the version of its snapshot across replay;
#   5. the management API and direct writes on the standby fail with a read-only error (25006);
#   6. experiment_variant works on the standby, agrees with the primary and follows a replayed
#      weight change in the open session; experiment_assign (and rollout.track) fail there with
#      25006, experiment_assign with a hint naming experiment_variant.
# Both servers are stopped and their directory removed on exit, also on failure or interrupt.
#
#   bash tests/standby/run.sh
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin); the extension must be installed
# into that server. Exits 0 when every check passes, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Only cluster.sh's helpers (PG_BINDIR, running as the cluster owner, a free port): the two
# servers here are made by hand, not by cluster_start.
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
if [ "$(id -u)" -eq 0 ]; then CLUSTER_OWNER=postgres; else CLUSTER_OWNER=$(id -un); fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/pg_rollout_standby.XXXXXX")
chmod 755 "$DIR"
[ "$(id -u)" -eq 0 ] && chown "$CLUSTER_OWNER" "$DIR"

as_owner() { _cluster_as_owner "$@"; }

SESSION_PID=""
cleanup() {
  [ -n "$SESSION_PID" ] && kill "$SESSION_PID" 2>/dev/null
  local node
  for node in standby primary; do
    if [ -f "$DIR/$node/postmaster.pid" ]; then
      as_owner "$PG_BINDIR/pg_ctl" -D "$DIR/$node" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
trap '' PIPE  # a closed session pipe is then an error, not a silent death that skips cleanup

free_port() { _cluster_free_port; }

start_node() {  # NAME: starts it on a free port (another one if that one is taken meanwhile), echoes the port
  local name=$1 port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    while [ "$port" = "${PRIMARY_PORT:-}" ]; do port=$(free_port); done
    if as_owner "$PG_BINDIR/pg_ctl" -D "$DIR/$name" -l "$DIR/$name.log" -w -t 60 \
      -o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR \
          -c shared_preload_libraries=pg_rollout -c wal_level=replica -c max_wal_senders=4 \
          -c hot_standby=on -c fsync=off -c max_connections=20" start >/dev/null 2>&1; then
      echo "$port"
      return 0
    fi
    [ "$attempt" -lt 5 ] || break
  done
  echo "the $name did not start; its log:" >&2
  tail -n 30 "$DIR/$name.log" >&2
  exit 1
}

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

primary() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$DIR" -p "$PRIMARY_PORT" -U postgres -d postgres "$@"; }
standby() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$DIR" -p "$STANDBY_PORT" -U postgres -d postgres "$@"; }

# --- The two servers ------------------------------------------------------------------------------
as_owner "$PG_BINDIR/initdb" -D "$DIR/primary" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
  >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log"; exit 1; }
PRIMARY_PORT=$(start_node primary) || exit 1

primary >/dev/null <<'SQL'
CREATE EXTENSION pg_rollout;
SELECT rollout.create_flag('f', 'replicated flag');
SELECT rollout.set_rollout('f', 30);
SELECT rollout.set_enabled('f', true);
SQL

as_owner "$PG_BINDIR/pg_basebackup" -D "$DIR/standby" -R -X stream -c fast -h "$DIR" -p "$PRIMARY_PORT" -U postgres
STANDBY_PORT=$(start_node standby) || exit 1
[ "$(standby -c "SELECT pg_is_in_recovery()")" = t ] || { echo "the standby is not in recovery"; exit 1; }
echo "primary on 127.0.0.1:$PRIMARY_PORT, hot standby on 127.0.0.1:$STANDBY_PORT (pg_basebackup -R)"

wait_for_replay() {  # waits until the standby has replayed everything the primary has written
  local lsn i
  lsn=$(primary -c "SELECT pg_current_wal_lsn()")
  for i in $(seq 1 300); do
    [ "$(standby -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && return 0
    sleep 0.1
  done
  echo "the standby did not replay up to $lsn in 30s"
  exit 1
}

# --- A standby session that stays open through every change ------------------------------------
# A psql coprocess: each request is one statement followed by an end marker, so every answer is
# read whole, errors included.
coproc SESSION { "$PG_BINDIR/psql" -X -q -At -h "$DIR" -p "$STANDBY_PORT" -U postgres -d postgres 2>&1; }
# The answer lands in $ANSWER: a coprocess's pipes are closed inside $(...) subshells.
ANSWER=""
ask() {  # SQL: sets ANSWER to the standby session's answer (all lines, errors included)
  local line
  ANSWER=""
  printf '%s;\n\\echo @@end\n' "$1" >&"${SESSION[1]}"
  while IFS= read -r -t 30 line <&"${SESSION[0]}"; do
    [ "$line" = @@end ] && return 0
    ANSWER+="${ANSWER:+$'\n'}$line"
  done
  echo "no answer from the standby session to: $1"
  exit 1
}

USERS="SELECT count(*) FROM generate_series(1, 10000) AS u WHERE feature_enabled(u, 'f')"
ask "SELECT pg_backend_pid()"; SESSION_BACKEND=$ANSWER

# Some user whose answer each change flips, found on the primary, so the checks are not vacuous.
flip_user() {  # CURRENT NEXT: a user in at CURRENT % and out at NEXT % (or the reverse)
  primary -c "SELECT u FROM generate_series(1, 10000) AS u
              WHERE (SELECT bucket FROM feature_explain(u, 'f')) BETWEEN least($1, $2) / 100.0 AND greatest($1, $2) / 100.0
              ORDER BY u LIMIT 1"
}

check_repeatedly() {  # WHAT USER WANT_USER WANT_COUNT: the open session answers as the primary, 5 times
  local what=$1 user=$2 want_user=$3 want_count=$4 i got_user got_count ok=1
  for i in 1 2 3 4 5; do
    ask "SELECT feature_enabled($user, 'f')"; got_user=$ANSWER
    ask "$USERS"; got_count=$ANSWER
    if [ "$got_user" != "$want_user" ] || [ "$got_count" != "$want_count" ]; then
      fail "$what: check $i on the standby gave user $user=$got_user and $got_count users, expected $want_user and $want_count"
      ok=0
    fi
    sleep 0.05
  done
  [ "$ok" -eq 1 ] && pass "$what: the open standby session answers user $user=$want_user and $want_count of 10,000 users, 5 times"
  return 0
}

# 1. Evaluation works on the standby.
wait_for_replay
want_count=$(primary -c "$USERS")
ask "$USERS"; got_count=$ANSWER
if [ "$got_count" = "$want_count" ] && [ "$want_count" -gt 2500 ] && [ "$want_count" -lt 3500 ]; then
  pass "evaluation on the standby: $got_count of 10,000 users at 30%, as on the primary"
else
  fail "evaluation on the standby: $got_count users, primary $want_count (30% flag)"
fi

# 2 and 3. rollout.set_rollout on the primary, replay paused then resumed.
user=$(flip_user 30 60)
ask "SELECT feature_enabled($user, 'f')"; before=$ANSWER
[ "$before" = f ] || fail "user $user should be out at 30% on the standby, got '$before'"
standby -c "SELECT pg_wal_replay_pause()" >/dev/null
primary -c "SELECT rollout.set_rollout('f', 60)" >/dev/null
want_user=$(primary -c "SELECT feature_enabled($user, 'f')")
want_count=$(primary -c "$USERS")
[ "$want_user" = t ] || fail "user $user should be in at 60% on the primary, got '$want_user'"
sleep 0.5
ask "SELECT feature_enabled($user, 'f')"; paused_user=$ANSWER
ask "$USERS"; paused_count=$ANSWER
if [ "$paused_user" = f ] && [ "$paused_count" = "$got_count" ]; then
  pass "replay paused: the standby session still serves the replayed version (user $user=f, $paused_count users)"
else
  fail "replay paused: the standby served user $user=$paused_user, $paused_count users before replaying the change"
fi
standby -c "SELECT pg_wal_replay_resume()" >/dev/null
wait_for_replay
check_repeatedly "after set_rollout('f', 60) replayed" "$user" "$want_user" "$want_count"

# 4, with 2 and 3: a direct UPDATE of rollout.flag_configs (the kill switch) while the standby
# session is in a REPEATABLE READ transaction begun before it: the transaction keeps its
# snapshot's version after the replay; after COMMIT the session serves the new one.
ask "BEGIN ISOLATION LEVEL REPEATABLE READ"
ask "SELECT feature_enabled($user, 'f')"; rr_before=$ANSWER
primary -c "UPDATE rollout.flag_configs SET enabled = false WHERE flag = 'f'" >/dev/null
wait_for_replay
ask "SELECT feature_enabled($user, 'f')"; rr_after_replay=$ANSWER
ask "$USERS"; rr_count=$ANSWER
ask "COMMIT"
if [ "$rr_before" = t ] && [ "$rr_after_replay" = t ] && [ "$rr_count" = "$want_count" ]; then
  pass "a REPEATABLE READ transaction on the standby keeps its snapshot's version across replay (user $user=t, $rr_count users)"
else
  fail "REPEATABLE READ on the standby: user $user=$rr_before before, $rr_after_replay after replay in the same transaction ($rr_count users, expected t, t, $want_count)"
fi
check_repeatedly "after a direct UPDATE (enabled = false) replayed" "$user" f 0

# 2 and 3 again: a direct UPDATE switching the flag back on at 5%.
primary -c "UPDATE rollout.flag_configs SET enabled = true, rollout_percentage = 5 WHERE flag = 'f'" >/dev/null
want_count=$(primary -c "$USERS")
wait_for_replay
check_repeatedly "after a direct UPDATE (enabled, 5%) replayed" "$user" \
  "$(primary -c "SELECT feature_enabled($user, 'f')")" "$want_count"
ask "SELECT pg_backend_pid()"
if [ -n "$SESSION_BACKEND" ] && [ "$ANSWER" = "$SESSION_BACKEND" ]; then
  pass "one standby backend (pid $SESSION_BACKEND) served every check: no reconnect"
else
  fail "the standby session was reconnected"
fi

# 5. The standby refuses writes, through the API and directly.
for call in "SELECT rollout.set_enabled('f', true)" "SELECT rollout.set_rollout('f', 100)" \
  "SELECT rollout.create_flag('g')" "SELECT rollout.allow_users('f', ARRAY['1'])" \
  "UPDATE rollout.flag_configs SET enabled = true WHERE flag = 'f'"; do
  state=$(standby -v ON_ERROR_STOP=0 -c "$call" -c '\echo :LAST_ERROR_SQLSTATE' 2>"$DIR/error.txt" | tail -n 1)
  if [ "$state" = 25006 ] && grep -q 'read-only transaction' "$DIR/error.txt"; then
    pass "on the standby, $call fails: $(head -n 1 "$DIR/error.txt")"
  else
    fail "on the standby, $call gave SQLSTATE '$state', expected 25006: $(cat "$DIR/error.txt")"
  fi
done
ask "$USERS"
[ "$ANSWER" = "$want_count" ] || fail "the refused writes changed the standby's answers"

# 6. Experiments: experiment_variant on the standby, experiment_assign refused there.
primary >/dev/null <<'SQL'
SELECT rollout.create_experiment('e', ARRAY['control', 'treatment']);
SELECT rollout.set_experiment_status('e', 'running');
SQL
TREATED="SELECT count(*) FROM generate_series(1, 10000) AS u WHERE experiment_variant(u, 'e') = 'treatment'"
for weights in '{0.5,0.5}' '{0.2,0.8}'; do
  [ "$weights" = '{0.5,0.5}' ] || primary -c "SELECT rollout.set_weights('e', '$weights')" >/dev/null
  want_treated=$(primary -c "$TREATED")
  wait_for_replay
  ask "$TREATED"
  if [ "$ANSWER" = "$want_treated" ] && [ "$want_treated" -gt 0 ]; then
    pass "experiment_variant on the standby (weights $weights): $ANSWER of 10,000 users in treatment, as on the primary"
  else
    fail "experiment_variant on the standby (weights $weights): '$ANSWER' users in treatment, primary $want_treated"
  fi
done
for call in "SELECT experiment_assign(1, 'e')" "SELECT rollout.track(1, 'purchase')"; do
  state=$(standby -v ON_ERROR_STOP=0 -c "$call" -c '\echo :LAST_ERROR_SQLSTATE' 2>"$DIR/error.txt" | tail -n 1)
  if [ "$state" = 25006 ] && { [ "$call" != "SELECT experiment_assign(1, 'e')" ] || grep -q 'HINT:.*experiment_variant' "$DIR/error.txt"; }; then
    pass "on the standby, $call fails: $(head -n 1 "$DIR/error.txt")"
  else
    fail "on the standby, $call gave SQLSTATE '$state', expected 25006 (with a hint naming experiment_variant): $(cat "$DIR/error.txt")"
  fi
done

printf '\\q\n' >&"${SESSION[1]}"
if [ "$failures" -eq 0 ]; then
  echo "standby: all checks passed"
else
  echo "standby: $failures check(s) failed"
  exit 1
fi
