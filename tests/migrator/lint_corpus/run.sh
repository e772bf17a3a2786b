#!/usr/bin/env bash
# The lint comparison (suite `lint_squawk` of scripts/test.sh): applies schema.sql to a fresh
# database on the server in DATABASE_URL, lints cases/*/up.sql with `migrator lint` (reading that
# catalog) and with squawk (npm package squawk-cli, pinned in package.json), and compares both
# with manifest.txt (compare.js). Exits non-zero if migrator misses the manifest, misses a danger
# squawk catches, or does not raise fewer false alarms.
#
# Environment: BUILD_DIR (default build), DATABASE_URL (a role that may CREATE DATABASE), PGHOST/PGPORT
# for psql (scripts/cluster.sh exports all of them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build_dir=${BUILD_DIR:-$here/../../../build}
: "${DATABASE_URL:?lint_squawk needs DATABASE_URL (run it inside scripts/cluster.sh)}"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "lint_squawk: node and npm are needed; run scripts/setup.sh" >&2
  exit 1
fi
# squawk at the exact version package.json pins (its platform binary is an exact-pinned optional
# dependency), into tests/migrator/lint_corpus/node_modules. No lock file: the one npm writes lists
# only this machine's binary package, and `npm ci` then refuses it as out of sync.
(cd "$here" && npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null)
squawk="$here/node_modules/.bin/squawk"

work=$(mktemp -d "${TMPDIR:-/tmp}/pg_rollout_lint.XXXXXX")
database="lint_corpus_$$"
cleanup() {
  psql -X -q -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $database"
url="${DATABASE_URL%/*}/$database"
psql -X -q -v ON_ERROR_STOP=1 -d "$url" -f "$here/schema.sql"

cases=("$here"/cases/*/up.sql)
status=0
"$build_dir/bin/migrator" --database-url "$url" --json lint "${cases[@]}" >"$work/ours.json" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 6 ]; then
  echo "lint_squawk: migrator lint failed (exit $status)" >&2
  exit 1
fi
status=0
# --assume-in-transaction: the migrator runs each migration in a transaction (squawk then also
# checks what only matters inside one, such as VALIDATE after ADD ... NOT VALID).
"$squawk" --reporter json --pg-version 15 --assume-in-transaction "${cases[@]}" >"$work/squawk.json" 2>"$work/squawk.err" || status=$?
if [ "$status" -gt 1 ] || ! [ -s "$work/squawk.json" ]; then
  echo "lint_squawk: squawk failed (exit $status)" >&2
  cat "$work/squawk.err" >&2
  exit 1
fi
echo "migrator $("$build_dir/bin/migrator" --version | cut -d' ' -f2), squawk $("$squawk" --version | cut -d' ' -f2)"
node "$here/compare.js" "$here/manifest.txt" "$work/ours.json" "$work/squawk.json"
