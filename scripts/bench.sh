#!/usr/bin/env bash
# All benchmarks: the core (Google Benchmark), SQL-level evaluation on a throwaway cluster and the
# migrator against psql, dbmate and sqitch, each printing ratios against a floor measured in the
# same run. Builds and installs pg_rollout and the floor module (bench/floor, installed only by
# this script) into the server PG_CONFIG names; PG_CONFIG and PG_BINDIR override the PostgreSQL
# 15 defaults, e.g. to benchmark a private copy of PostgreSQL. Takes about ten minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_BINDIR=${PG_BINDIR:-$("$PG_CONFIG" --bindir)}
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
echo "== Building and installing into $("$PG_CONFIG" --pkglibdir)"
make -j "$jobs" >/dev/null
make install >/dev/null
make -C bench/floor install >/dev/null
echo "== core (build/bin/bench_core)"
build/bin/bench_core --benchmark_min_time=0.2 --benchmark_color=false
echo
echo "== SQL (bench/sql_bench.sh on a throwaway cluster)"
CLUSTER_SETTINGS="-c shared_buffers=1GB ${CLUSTER_SETTINGS:-}" scripts/cluster.sh bash bench/sql_bench.sh
echo
echo "== experiment_results (bench/results_bench.sh on a throwaway cluster)"
scripts/cluster.sh bash bench/results_bench.sh
echo "== migrator (bench/migrator/run.sh: 500 migrations up and down, against psql, dbmate, sqitch)"
bash bench/migrator/run.sh
