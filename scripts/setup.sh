#!/usr/bin/env bash
# Installs the Debian 12 packages pg_rollout needs to build, test and run its demo.
# Idempotent: packages already present are left alone, and `apt-get update` runs at most once,
# only when something is missing. Needs root (or sudo) only when it has to install.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config clang-format git ca-certificates procps
  # a terminal for the Ctrl-C test of scripts/cluster.sh psql
  tmux
  # PostgreSQL 15 server, client, contrib (pgbench) and the PGXS headers
  postgresql-15 postgresql-client-15 postgresql-contrib postgresql-server-dev-15
  # libraries
  libpqxx-dev libpq-dev libcli11-dev libsqlite3-dev sqlite3 libgtest-dev libgmock-dev
  libbenchmark-dev nlohmann-json3-dev libpg-query-dev libssl-dev libre2-dev libicu-dev
  libyaml-cpp-dev
)
# Node.js runs GrowthBook's JavaScript SDK for the comparison tests (tests/growthbook); any
# installed node will do, else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "setup: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_install=("${sudo[@]}" apt-get install -y -qq --no-install-recommends
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${sudo[@]}" apt-get update -qq
# Tests and the demo start their own throwaway clusters; keep the server package from creating
# and starting a default cluster on port 5432.
if ! dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null | grep -q '^install ok installed$'; then
  "${apt_install[@]}" postgresql-common </dev/null
  "${sudo[@]}" sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
    /etc/postgresql-common/createcluster.conf
fi
"${apt_install[@]}" "${missing[@]}" </dev/null
echo "setup: done"
