#!/usr/bin/env bash
# The GrowthBook SDK comparison (suite `growthbook` of scripts/test.sh): generates cases whose
# answers come from GrowthBook's own JavaScript SDK, then checks the core (growthbook_core_check)
# and the installed extension (compare.sql, on the server in PGHOST/PGPORT) against them; then
# the same for experiments (generate_cases.js COUNT experiments, growthbook_experiment_core_check,
# experiment_compare.sql: experiment_variant against the SDK's run()).
# Exits non-zero on any difference.
#
# Environment: BUILD_DIR (default build), GROWTHBOOK_CASES (default 12000, at least 10000).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build_dir=${BUILD_DIR:-$here/../../build}
count=${GROWTHBOOK_CASES:-12000}
if ! [[ "$count" =~ ^[0-9]+$ ]] || [ "$count" -lt 10000 ]; then
  echo "growthbook: GROWTHBOOK_CASES must be a number of at least 10000, not '$count'" >&2
  exit 2
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "growthbook: node and npm are needed; run scripts/setup.sh" >&2
  exit 1
fi
# The SDK version package-lock.json pins, into tests/growthbook/node_modules.
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d "${TMPDIR:-/tmp}/pg_rollout_growthbook.XXXXXX")
trap 'rm -rf "$work"' EXIT
node "$here/generate_cases.js" "$count" >"$work/cases.json"
"$build_dir/bin/growthbook_core_check" "$work/cases.json"
psql -X -v ON_ERROR_STOP=1 -v cases_file="$work/cases.json" -f "$here/compare.sql"

# Experiments: the same count of users over count / 10 experiments, SDK run() against the core's
# ExperimentSet and experiment_variant().
node "$here/generate_cases.js" "$count" experiments >"$work/experiments.json"
"$build_dir/bin/growthbook_experiment_core_check" "$work/experiments.json"
psql -X -v ON_ERROR_STOP=1 -v cases_file="$work/experiments.json" -f "$here/experiment_compare.sql"
