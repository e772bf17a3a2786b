// The per-backend cache of compiled flag configurations, and its consistency contract.
//
// CONTRACT. Evaluation uses exactly the configuration that a SELECT of the rollout tables would
// return at the same point of the same transaction, because it is keyed by what the calling
// statement's snapshot sees:
//   - rollout.config_version holds one row; a statement trigger on every configuration table
//     updates it in the writing transaction, so the row version a snapshot sees (its number and
//     raw xmin) names the configuration that snapshot sees. The writer's row lock orders writers.
//   - Per statement (more exactly: whenever the active snapshot differs from the one last checked)
//     the row is read with the active snapshot (a one-page heap scan). The same key as a cached
//     configuration means that configuration; another key means loading the configuration with the
//     same snapshot (SPI, one query, as the extension's owner). READ COMMITTED therefore sees the
//     version committed before each statement's snapshot for the whole statement; REPEATABLE READ
//     and SERIALIZABLE the transaction snapshot's; the writing transaction its own change from its
//     next command; parallel workers, which run with the leader's snapshot, the leader's; a hot
//     standby the replayed version its snapshot sees. No invalidation message is involved, so
//     there is no window between a commit becoming visible and its invalidation arriving.
//   - Shortcut: a snapshot whose snapXactCompletionCount, xmin, xmax and curcid equal those of the
//     snapshot last checked sees the same committed transactions and the same own commands
//     (PostgreSQL reuses snapshots on the same condition), so it sees the same row: no read.
//     That makes the per-statement cost a few memory reads while no transaction with an xid ends.
//   - A configuration is freed only at transaction end, and only if it is not the latest: a
//     statement that resolved a flag keeps using it even if a nested statement loads another.
//     An old version loaded for an old REPEATABLE READ snapshot is dropped at transaction end.
// Works with and without shared_preload_libraries (nothing lives in shared memory).
#pragma once

#include <cstdint>

namespace rollout {
class ExperimentSet;
class FlagSet;
}

// The configuration the active snapshot sees, for the current rollout.environment.
// Valid until the end of the current transaction. May raise an ERROR. `*serial` (if not null)
// receives a number unique to this loaded configuration in the backend's life: callers that keep
// pointers into it compare serials, since a later configuration may reuse a freed address.
const rollout::FlagSet* rollout_current_flags(uint64_t* serial);

// The experiments of the same configuration (compiled from the same document); same contract.
const rollout::ExperimentSet* rollout_current_experiments(uint64_t* serial);

// Registers the callbacks. Called once from _PG_init.
void rollout_cache_init(void);

// Moved by the rollout.environment assign hook: a different environment is another cache key.
extern uint64_t rollout_environment_generation;

struct RolloutCacheStats {
  uint64_t hits;     // snapshot unchanged since the last check: no read at all
  uint64_t checks;   // config_version reads
  uint64_t reloads;  // configurations loaded
};
extern RolloutCacheStats rollout_cache_counters;
uint64_t rollout_cache_version(void);  // the version of the configuration last returned (0: none)
