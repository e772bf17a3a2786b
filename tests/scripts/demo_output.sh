#!/usr/bin/env bash
# Runs scripts/demo.sh and checks what a new user reads: a line per build phase while it builds,
# the headings as written (quotes included), the flag's share, and the cluster removed at the end.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=$(bash scripts/demo.sh 2>&1)
status=$?
failed=0
expect() {  # a fixed line (after leading blanks) the output must contain
  if ! grep -qxF -- "$1" <<<"$(sed 's/^ *//; s/ *$//' <<<"$out")"; then
    echo "FAIL: the demo's output lacks the line: $1"
    failed=1
  fi
}
expect_regex() {
  if ! grep -qE -- "$1" <<<"$out"; then
    echo "FAIL: the demo's output has no line matching: $1"
    failed=1
  fi
}
[ "$status" -eq 0 ] || { echo "FAIL: scripts/demo.sh exited $status"; failed=1; }
for phase in "core library" "migrator" "unit tests and benchmarks \(for make test, make bench\)" \
  "extension \(PGXS\)" "install the extension"; do
  expect_regex "^ +$phase \.\.\. +done \([0-9]+s\)$"
done
expect "== feature_enabled(user_id, 'new_checkout') for a few users"
expect "== The flag: new_checkout, enabled, 25% rollout, and every enterprise user (rule 1)"
expect_regex "^ +2[45][0-9]{3} \| +2[45]\.[0-9]{2}$"
expect "== Demo done; the throwaway cluster is stopped and removed."
if [ "$failed" -ne 0 ]; then
  echo "--- demo output:"
  echo "$out"
  exit 1
fi
echo "demo: build phases shown, headings intact, share about 25%, ran to the end"
