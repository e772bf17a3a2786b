#!/usr/bin/env bash
# CREATE EXTENSION pg_rollout in several databases of one cluster at the same time, on a cluster
# where the extension's roles (rollout_reader, rollout_editor, rollout_admin: cluster-wide) do not
# exist yet: every one succeeds, as one after the other would. Rounds drop the extension and the
# roles again so each round races on creating them. Exits non-zero, with psql's errors, otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
cluster_start >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_rollout_create_ext.XXXXXX")
trap 'cluster_stop; rm -rf "$work"' EXIT

databases=(race_a race_b race_c race_d)
for db in "${databases[@]}"; do psql -qX -c "CREATE DATABASE $db"; done
rounds=${ROUNDS:-15}
failed=0
for round in $(seq 1 "$rounds"); do
  pids=()
  for db in "${databases[@]}"; do
    psql -qX -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION pg_rollout" >"$work/$db.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      echo "FAIL: round $round: CREATE EXTENSION in ${databases[$i]}:"
      cat "$work/${databases[$i]}.out"
      failed=1
    fi
  done
  [ "$failed" -eq 0 ] || exit 1
  for db in "${databases[@]}"; do psql -qX -d "$db" -c "DROP EXTENSION pg_rollout CASCADE"; done
  psql -qX -c "DROP ROLE rollout_admin, rollout_editor, rollout_reader"
done
echo "concurrent CREATE EXTENSION: $rounds rounds in ${#databases[@]} databases, all created"
