#!/usr/bin/env bash
# The end-to-end demo: installs what is missing, builds, installs the extension, starts a
# throwaway cluster, evaluates a 25% flag, applies and reverts example migrations, and stops
# the cluster (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# The build, one line per phase as it goes (the whole of it takes a minute or more).
jobs=$(nproc 2>/dev/null || echo 2)
log=build/demo-build.log
mkdir -p build
: >"$log"
build_phase() {  # DESCRIPTION COMMAND...
  local what=$1 start=$SECONDS
  shift
  printf '   %-58s ' "$what ..."
  if ! "$@" >>"$log" 2>&1; then
    echo "failed"
    tail -n 40 "$log"
    echo "demo: build failed; full log in $log" >&2
    exit 1
  fi
  echo "done ($((SECONDS - start))s)"
}
echo "== Building and installing (log: $log)"
if [ ! -f build/CMakeCache.txt ]; then
  build_phase "configure (CMake)" cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
build_phase "core library" cmake --build build --target rollout_core -j "$jobs"
build_phase "migrator" cmake --build build --target migrator -j "$jobs"
build_phase "unit tests and benchmarks (for make test, make bench)" cmake --build build -j "$jobs"
build_phase "extension (PGXS)" make -j "$jobs"
build_phase "install the extension" make install

# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
cluster_start
echo
echo "== Throwaway cluster on port $PGPORT (socket in $PGHOST)"

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_rollout;
SELECT rollout.create_flag('new_checkout', 'The new checkout flow') \gset
SELECT rollout.set_enabled('new_checkout', true), rollout.set_rollout('new_checkout', 25) \gset
SELECT rollout.add_rule('new_checkout', '[{"attribute":"tier","op":"in","values":["enterprise"]}]') AS rule \gset

\echo
\echo == The flag: new_checkout, enabled, 25% rollout, and every enterprise user (rule 1)
SELECT c.flag, c.enabled, c.rollout_percentage, r.constraints
FROM rollout.flag_configs c LEFT JOIN rollout.rules r USING (flag, environment);

\echo '== feature_enabled(user_id, ''new_checkout'') for a few users'
SELECT user_id, feature_enabled(user_id, 'new_checkout') AS enabled
FROM (VALUES (1), (2), (3), (42), (1000), (123456)) AS u(user_id);

\echo '== feature_explain(42, ''new_checkout'', attributes): why'
SELECT a.attributes, e.value, e.reason, e.rule_index, e.bucket
FROM (VALUES ('{}'::jsonb), ('{"tier":"enterprise"}')) AS a(attributes),
     LATERAL feature_explain(42, 'new_checkout', a.attributes) AS e;

\echo == Share of 100,000 users who get the flag
SELECT count(*) FILTER (WHERE feature_enabled(g, 'new_checkout')) AS users_with_flag,
       round(100.0 * count(*) FILTER (WHERE feature_enabled(g, 'new_checkout')) / count(*), 2) AS percent
FROM generate_series(1, 100000) AS g;
SQL

# Backups (down reverts a migration that drops a table, so it backs up first) go into the throwaway
# cluster's directory, removed with it, not into the clone.
migrator=(build/bin/migrator --database-url "$DATABASE_URL" --dir migrator/examples/migrations
  --backup-dir "$CLUSTER_DIR/backups")
echo "== migrator status (before)"
"${migrator[@]}" status
echo
echo "== migrator up"
"${migrator[@]}" up
echo
echo "== migrator status (after up)"
"${migrator[@]}" status
echo
psql -X -q -c '\d accounts'
echo "== migrator down"
"${migrator[@]}" down
echo
echo "== migrator status (after down)"
"${migrator[@]}" status

cluster_stop
echo
echo "== Demo done; the throwaway cluster is stopped and removed."
