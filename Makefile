# pg_rollout
#
#   make           build the extension (PGXS) and, through CMake, the core library, migrator,
#                  unit tests and benchmarks (in build/)
#   make install   install the extension into the server that $(PG_CONFIG) names
#   make test      every test suite, with a pass/fail summary (scripts/test.sh)
#   make demo      the end-to-end demo on a throwaway cluster (scripts/demo.sh)
#   make bench     the benchmarks (scripts/bench.sh)
#   make installcheck   pg_regress + isolation tests against the server in PGHOST/PGPORT

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

MODULE_big = pg_rollout
OBJS = $(patsubst %.cpp,%.o,$(wildcard extension/pg/*.cpp))
# The control file lives in extension/, so DATA installs it (EXTENSION would expect it here).
MODULEDIR = extension
DATA = extension/pg_rollout.control $(wildcard extension/pg_rollout--*.sql)

REGRESS = feature_enabled flags_table evaluation operators bad_input roles_audit distribution experiments experiment_results counters flag_adoption
ISOLATION = cache_invalidation snapshot_levels one_statement concurrent_assign evaluation_counters
ISOLATION_OPTS = --inputdir=tests/isolation --outputdir=output_iso

# The core is built once, by CMake, into a static library (-fPIC) linked into the module.
CORE_LIB = $(BUILD_DIR)/lib/librollout_core.a
# Server headers as system headers: our -Wall -Wextra -Werror applies to our code only.
PG_CPPFLAGS = -I$(CURDIR)/extension -isystem $(includedir_server)
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-register
SHLIB_LINK = $(CORE_LIB) -lre2 -licuuc -lstdc++
EXTRA_CLEAN = output_iso

# No LLVM bitcode for JIT inlining: the hot path calls into the C++ core library, which
# bitcode of the thin fmgr layer could not inline anyway.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: cmake-build test demo bench format

all: cmake-build
$(shlib): $(CORE_LIB)
$(OBJS): $(wildcard extension/core/*.h extension/pg/*.h)
$(CORE_LIB): cmake-build ;

# Under `make -jN` the CMake build shares this make's job slots ('+'); otherwise it gets -j JOBS.
CMAKE_BUILD_JOBS = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j $(JOBS))

cmake-build:
	@test -f $(BUILD_DIR)/CMakeCache.txt || cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	+cmake --build $(BUILD_DIR) $(CMAKE_BUILD_JOBS)

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

bench:
	bash scripts/bench.sh

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean: clean-cmake
clean-cmake:
	rm -rf $(BUILD_DIR)
