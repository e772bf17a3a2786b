#!/usr/bin/env bash
# `scripts/cluster.sh psql` in a real terminal (tmux): Ctrl-C cancels a running query and clears
# a half-typed line, psql and the cluster stay up, and the cluster is removed when psql exits.
# Exits non-zero, with the terminal's contents, when any of that does not happen.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v tmux >/dev/null || { echo "tmux is needed; run scripts/setup.sh" >&2; exit 1; }

session="pg_rollout_ctrl_c_$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_rollout_ctrl_c.XXXXXX")
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  echo "--- terminal:"
  tmux capture-pane -p -t "$session" -S -100 2>/dev/null || true
  exit 1
}

# Waits up to $2 seconds (default 30) for the terminal to show a line matching the regex $1.
wait_for() {
  local _
  for _ in $(seq 1 $((${2:-30} * 10))); do
    tmux capture-pane -p -t "$session" -S -100 2>/dev/null | grep -qE "$1" && return 0
    sleep 0.1
  done
  return 1
}

# Types text literally; a trailing ';' is escaped, or tmux would take it for its own command
# separator.
type_text() {
  local text=$1
  [[ "$text" == *';' ]] && text="${text%;}\\;"
  tmux send-keys -t "$session" -l "$text"
}
press() { tmux send-keys -t "$session" "$1"; }

tmux new-session -d -s "$session" -x 160 -y 50 \
  "PG_BINDIR='${PG_BINDIR:-}' bash scripts/cluster.sh psql -X; echo \"exit status \$?\" >'$work/status'; sleep 600"
wait_for '^postgres=#' 60 || fail "no psql prompt"
type_text "SELECT 'DIR=' || current_setting('data_directory') AS d;"
press Enter
wait_for 'DIR=/' || fail "no data directory shown"
data_dir=$(tmux capture-pane -p -t "$session" -S -100 | sed -n 's/^ *DIR=\(\/[^ ]*\).*/\1/p' | head -n 1)
[ -d "$data_dir" ] || fail "data directory '$data_dir' is not there"

# 1. Ctrl-C during a query cancels the query only.
type_text "SELECT pg_sleep(60);"
press Enter
sleep 1
press C-c
wait_for 'canceling statement due to user request' 10 || fail "Ctrl-C did not cancel the query"

# 2. Ctrl-C on a half-typed line discards it; the next statement runs on the same server.
type_text "SELECT 1 +"
sleep 0.5
press C-c
sleep 0.5
type_text "SELECT 'still' || ' here' AS answer;"
press Enter
wait_for '^ still here$' 10 || fail "psql did not survive Ctrl-C at the prompt"
[ ! -e "$work/status" ] || fail "cluster.sh exited after Ctrl-C: $(cat "$work/status")"
[ -d "$data_dir" ] || fail "the cluster was removed while psql still runs"
# Each Ctrl-C reaches psql once: a second SIGINT passed on by cluster.sh would cancel whatever
# psql runs next.
cancels=$(tmux capture-pane -p -t "$session" -S -100 | grep -c 'Cancel request sent' || true)
[ "$cancels" = 1 ] || fail "one Ctrl-C during a query sent $cancels cancel requests"

# 3. Leaving psql ends cluster.sh with psql's status and removes the cluster.
type_text '\q'
press Enter
for _ in $(seq 1 300); do [ -s "$work/status" ] && break; sleep 0.1; done
[ "$(cat "$work/status" 2>/dev/null)" = "exit status 0" ] || fail "cluster.sh did not exit 0 after \\q"
[ ! -e "$data_dir" ] || fail "the cluster directory $data_dir is still there after psql exited"

# 4. Without a terminal (setsid), a SIGINT sent to cluster.sh is passed on to the command, whose
# exit status cluster.sh returns after removing the cluster. (A script's background command
# starts with SIGINT ignored, which a shell cannot trap: env gives it back.)
PG_BINDIR="${PG_BINDIR:-}" env --default-signal=INT setsid bash scripts/cluster.sh bash -c \
  "trap 'exit 7' INT; echo \"\$PGHOST\" >'$work/host'; while :; do sleep 0.1; done" \
  </dev/null >"$work/forward.log" 2>&1 &
cluster_pid=$!
for _ in $(seq 1 600); do [ -s "$work/host" ] && break; sleep 0.1; done
[ -s "$work/host" ] || fail "the command under cluster.sh did not start: $(cat "$work/forward.log")"
kill -INT "$cluster_pid"
for _ in $(seq 1 300); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cluster_pid" 2>/dev/null; then
  kill -TERM "$cluster_pid"
  wait "$cluster_pid" || true
  fail "cluster.sh was still running 30 s after SIGINT"
fi
status=0
wait "$cluster_pid" || status=$?
[ "$status" = 7 ] || fail "cluster.sh returned $status after SIGINT, not the command's 7"
[ ! -e "$(cat "$work/host")" ] || fail "the cluster's socket directory is still there after SIGINT"
echo "cluster.sh psql: Ctrl-C cancels the query once and clears the line; \\q exits 0 and removes the cluster; a SIGINT without a terminal reaches the command"
