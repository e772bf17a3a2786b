#!/usr/bin/env bash
# Every test suite of pg_rollout, ending in a pass/fail summary; exits non-zero on any failure.
#
#   unit         GoogleTest suites of the core and the migrator (SQLite), plain and under
#                AddressSanitizer + UndefinedBehaviorSanitizer (CTest, label unit / unit_san)
#   pg_regress   the extension's regression tests (sql/, expected/) on a throwaway cluster
#   growthbook   >= 10,000 cases answered by GrowthBook's JavaScript SDK (npm, pinned by
#                tests/growthbook/package-lock.json) against the core and feature_enabled()
#   isolation    concurrent-session tests of the flag cache and of experiment_assign (tests/isolation/)
#   lint_squawk  `migrator lint` and squawk (npm squawk-cli) on a corpus of 51 migrations against a
#                manifest of the real dangers (tests/migrator/lint_corpus/run.sh)
#   migrator_pg  the CTest suites that need a server (label pg), on the same cluster: the
#                migrator's integration tests and the randomized multi-session consistency test
#                of flag evaluation (tests/consistency/)
#   no_preload   pg_regress again on a cluster without shared_preload_libraries
#   scripts      scripts/cluster.sh psql under Ctrl-C in a real terminal (tmux), and the demo's
#                output (tests/scripts/)
#   upgrade      1.0 -> current: same answers and flags after ALTER EXTENSION UPDATE, same catalog
#                as a fresh install (tests/upgrade/run.sh, its own cluster)
#   standby      a primary and a streaming hot standby: evaluation on the standby follows replay
#                (tests/standby/run.sh, its own two servers)
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || exit 1

names=()
verdicts=()
seconds=()
failed=0

record() {  # NAME VERDICT SECONDS
  names+=("$1")
  verdicts+=("$2")
  seconds+=("$3")
  [ "$2" = PASS ] || failed=1
}

run_suite() {
  local name=$1
  shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS status=0
  # Background + wait: a TERM to this script runs the cluster's trap at once (see cluster.sh).
  "$@" <&0 &
  CLUSTER_CHILD=$!
  wait "$CLUSTER_CHILD" || status=$?
  CLUSTER_CHILD=""
  if [ "$status" -eq 0 ]; then
    record "$name" PASS $((SECONDS - start))
  else
    record "$name" "FAIL (exit $status)" $((SECONDS - start))
  fi
  return "$status"
}

summary() {
  echo
  echo "=== Summary"
  local i
  for i in "${!names[@]}"; do
    printf '  %-12s %-16s %4ss\n' "${names[$i]}" "${verdicts[$i]}" "${seconds[$i]}"
  done
  if [ "$failed" -eq 0 ]; then
    echo "ALL TEST SUITES PASSED"
  else
    echo "SOME TEST SUITES FAILED"
  fi
}

show_regression_diffs() {
  local f
  for f in regression.diffs output_iso/regression.diffs; do
    [ -s "$f" ] && { echo "--- $f"; cat "$f"; }
  done
  return 0
}

jobs=$(nproc 2>/dev/null || echo 2)
if ! run_suite build make -j "$jobs" || ! run_suite install make install; then
  summary
  exit 1
fi

run_suite unit ctest --test-dir build --label-exclude "^pg" --no-tests=error --output-on-failure -j "$jobs"

# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
# The suites create thousands of flags and experiments (growthbook), each with its evaluation
# counter: room for all of them, so the isolation spec counts into its own entries.
if CLUSTER_SETTINGS="-c rollout.max_tracked=100000" cluster_start; then
  rm -f regression.diffs output_iso/regression.diffs
  run_suite pg_regress make installcheck ISOLATION= || show_regression_diffs
  run_suite growthbook bash tests/growthbook/run.sh
  run_suite isolation make installcheck REGRESS= || show_regression_diffs
  run_suite lint_squawk bash tests/migrator/lint_corpus/run.sh
  run_suite migrator_pg ctest --test-dir build --label-regex "^pg" --no-tests=error --output-on-failure -j "$jobs"
  cluster_stop
else
  record cluster "FAIL (no server)" 0
fi

# The extension must also load on first use, without shared_preload_libraries.
if CLUSTER_SETTINGS="-c shared_preload_libraries=''" cluster_start; then
  rm -f regression.diffs
  # shellcheck disable=SC2016 # the inner script expands $preload itself
  run_suite no_preload bash -c '
    preload=$(psql -XAtc "SHOW shared_preload_libraries") || exit 1
    [ -z "$preload" ] || { echo "shared_preload_libraries is \"$preload\", expected empty"; exit 1; }
    make installcheck ISOLATION=' || show_regression_diffs
  cluster_stop
else
  record cluster "FAIL (no server)" 0
fi

run_suite scripts bash -c 'bash tests/scripts/cluster_psql_ctrl_c.sh && bash tests/scripts/demo_output.sh && bash tests/scripts/concurrent_create_extension.sh'
run_suite upgrade bash tests/upgrade/run.sh
run_suite standby bash tests/standby/run.sh

summary
exit "$failed"
