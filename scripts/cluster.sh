#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, the demo and the benchmarks.
#
#   scripts/cluster.sh COMMAND [ARGS...]   start a cluster, run COMMAND in it, stop it when
#                                          COMMAND exits (Ctrl-C goes to COMMAND, e.g. psql)
#   source scripts/cluster.sh; cluster_start; ...; (stopped on exit)
#
# The cluster lives in a fresh `mktemp -d`, runs as an unprivileged OS user (`postgres` when
# invoked as root, since PostgreSQL refuses to run as root; else the invoking user), listens on
# a unix socket in that directory and on 127.0.0.1 at a free port that is never 5432, and loads
# pg_rollout through shared_preload_libraries. cluster_start waits until it accepts
# connections and exports PGHOST, PGPORT, PGUSER, PGDATABASE and DATABASE_URL. An EXIT/INT/TERM
# trap stops the server and removes the directory, also when a test fails or is interrupted
# (when executed with a COMMAND, INT is the command's instead: see the end of this file).
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin), CLUSTER_SETTINGS (extra
# `-c name=value` options for the server).

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
CLUSTER_DIR=""
CLUSTER_OWNER=""

_cluster_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u "$CLUSTER_OWNER" -- "$@")
  else
    "$@"
  fi
}

_cluster_free_port() {
  local port from=20000 to=32768
  # Below the kernel's ephemeral range: a port a client connection holds as its own end there makes
  # the server's bind fail ("Address already in use") though nothing listens on it.
  read -r to _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "${to:-0}" -gt $((from + 1000)) ] || to=60000
  for _ in $(seq 1 100); do
    port=$((from + RANDOM % (to - from)))
    # Nothing answers on it (bash's /dev/tcp connect fails): take it.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

cluster_stop() {
  [ -n "$CLUSTER_DIR" ] || return 0
  if [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
    _cluster_as_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 ||
      _cluster_as_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$CLUSTER_DIR"
  CLUSTER_DIR=""
}

_cluster_on_signal() {
  [ -n "${CLUSTER_CHILD:-}" ] && kill -TERM "$CLUSTER_CHILD" 2>/dev/null
  cluster_stop
  trap - EXIT
  exit 130
}

cluster_start() {
  if [ "$(id -u)" -eq 0 ]; then
    CLUSTER_OWNER=postgres
    if ! id postgres >/dev/null 2>&1; then
      echo "cluster: no 'postgres' OS user; run scripts/setup.sh first" >&2
      return 1
    fi
  else
    CLUSTER_OWNER=$(id -un)
  fi
  if [ ! -x "$PG_BINDIR/initdb" ]; then
    echo "cluster: $PG_BINDIR/initdb not found; run scripts/setup.sh first" >&2
    return 1
  fi

  CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pg_rollout_cluster.XXXXXX")
  trap cluster_stop EXIT
  trap _cluster_on_signal INT TERM HUP
  chmod 755 "$CLUSTER_DIR"
  [ "$(id -u)" -eq 0 ] && chown "$CLUSTER_OWNER" "$CLUSTER_DIR"

  if ! _cluster_as_owner "$PG_BINDIR/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1; then
    echo "cluster: initdb failed:" >&2
    cat "$CLUSTER_DIR/initdb.log" >&2
    return 1
  fi

  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(_cluster_free_port) || { echo "cluster: no free port" >&2; return 1; }
    # shellcheck disable=SC2086
    if _cluster_as_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 60 \
      -o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$CLUSTER_DIR \
          -c shared_preload_libraries=pg_rollout -c fsync=off -c synchronous_commit=off \
          -c full_page_writes=off -c max_connections=60 ${CLUSTER_SETTINGS:-}" start >/dev/null 2>&1; then
      break
    fi
    if [ "$attempt" -eq 5 ]; then
      echo "cluster: server did not start; its log:" >&2
      tail -n 30 "$CLUSTER_DIR/server.log" >&2
      return 1
    fi
  done

  export PGHOST="$CLUSTER_DIR" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
  export DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  local _
  for _ in $(seq 1 100); do
    "$PG_BINDIR/pg_isready" -q && return 0
    sleep 0.1
  done
  echo "cluster: server is not accepting connections" >&2
  return 1
}

# Executed (not sourced): run the given command inside a cluster.
#
# The command owns Ctrl-C: SIGINT from the terminal reaches it directly (it shares the
# terminal's process group), and one sent to this script from elsewhere is passed on to it, so
# in `scripts/cluster.sh psql` Ctrl-C cancels the running query or clears the input line as psql
# users expect, exactly once, and the cluster stays up. The cluster goes away when the command
# exits, whatever its status; TERM and HUP to this script stop both at once.

# True when this script's process group is its terminal's foreground group: a SIGINT it gets
# then came from the terminal, which sent the same signal to the command. (Fields 5 and 8 of
# /proc/PID/stat, counted from the state after the command name: pgrp and tpgid, which is -1
# without a terminal.)
_cluster_in_terminal_foreground() {
  local stat pgrp tpgid
  stat=$(</proc/$$/stat) || return 1
  read -r _ _ pgrp _ _ tpgid _ <<<"${stat##*) }"
  [ "$pgrp" = "$tpgid" ]
}

_cluster_forward_int() {
  # Forwarding a terminal's Ctrl-C too would hand the command a second SIGINT a moment later,
  # which cancels the next statement psql runs.
  if [ -n "${CLUSTER_CHILD:-}" ] && ! _cluster_in_terminal_foreground; then
    kill -INT "$CLUSTER_CHILD" 2>/dev/null
  fi
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ $# -eq 0 ]; then
    echo "usage: scripts/cluster.sh COMMAND [ARGS...]   (e.g. scripts/cluster.sh psql)" >&2
    exit 2
  fi
  cluster_start
  trap _cluster_forward_int INT
  # In the background with `wait`, so TERM to this script stops the cluster at once (a
  # foreground child would defer the trap until it exits); stdin stays the terminal's. A
  # background command of a script starts with SIGINT and SIGQUIT ignored: give them back.
  ( trap - INT QUIT; exec "$@" ) <&0 &
  CLUSTER_CHILD=$!
  # `wait` returns early whenever a trapped signal arrives: wait again until the command is
  # gone, then once more for its exit status (bash keeps it for a reaped background job).
  while kill -0 "$CLUSTER_CHILD" 2>/dev/null; do
    wait "$CLUSTER_CHILD" || true
  done
  status=0
  wait "$CLUSTER_CHILD" || status=$?
  CLUSTER_CHILD=""
  trap - INT
  cluster_stop
  exit "$status"
fi
