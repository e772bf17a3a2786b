// The per-backend cache of compiled flags.
//
// Mirrors Citus' metadata cache: built lazily on first use, and cleared by a relcache
// invalidation callback when any transaction writing rollout.flags commits (the statement
// trigger rollout.flags_changed() queues the invalidation). A committed change is seen by every
// later transaction of every backend, the writing transaction sees its own change after the
// statement, and a rolled-back change is seen by nobody.
#pragma once

#include <cstdint>

namespace rollout {
class FlagSet;
}

// Moves whenever cached flags may be stale. Callers that keep a pointer into the flag set
// (fn_extra) store the generation they resolved it under and re-resolve when it has moved.
extern uint64_t rollout_cache_generation;

// Registers the invalidation and transaction callbacks. Called once from _PG_init.
void rollout_cache_init(void);

// The current flag set, compiled from rollout.flags if the cache is stale. May raise an ERROR.
// The pointer stays valid until rollout_cache_generation moves.
const rollout::FlagSet* rollout_flag_set(void);
