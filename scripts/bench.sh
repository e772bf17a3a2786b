#!/usr/bin/env bash
# All benchmarks: the core (Google Benchmark) and SQL-level evaluation on a throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j "$(nproc 2>/dev/null || echo 2)"
make install
echo "== core (build/bin/bench_core)"
build/bin/bench_core --benchmark_min_time=0.2 --benchmark_color=false
echo
echo "== SQL (bench/sql_bench.sh on a throwaway cluster)"
scripts/cluster.sh bash bench/sql_bench.sh
