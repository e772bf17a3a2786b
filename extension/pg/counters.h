// Evaluation counters in shared memory (like pg_stat_statements), read through the views
// rollout.flag_stats and rollout.experiment_stats.
//
// Counting is on only when pg_rollout is in shared_preload_libraries (the shared table is sized
// at server start) and rollout.track_evaluations is on (the default). An evaluation adds to a
// backend-local slot (two increments; the slot is reached through the call site's fn_extra
// memo); the slots are added to the shared counters, which are atomics, at the end of every
// transaction (commit and abort, parallel workers included) and before the counters are read.
//
// The shared table has rollout.max_tracked entries (PGC_POSTMASTER, default 1000), one per
// (database, environment, flag) and per (database, experiment, variation). Entries are never
// removed (rollout.reset_stats() zeros them), so a pointer to one stays valid; once the table is
// full, counts for new names go to a single "overflow" entry, shown as its own row.
//
// Include after the PostgreSQL headers.
#pragma once

#include <cstdint>
#include <string_view>

// A backend-local counting slot. Plain data: the hot path increments it.
struct RolloutCounterSlot {
  uint64_t evaluations;
  uint64_t true_results;
  // Where the slot is flushed to: see counters.cpp.
  void* shared;
  bool shared_resolved;
};

// True when evaluations are being counted in this backend (preloaded and
// rollout.track_evaluations on). Read on every evaluation.
extern bool rollout_counting;

// From _PG_init: defines the counters' settings and, while shared_preload_libraries is being
// processed, requests the shared memory.
void rollout_counters_init(void);

// The slot of a flag in an environment, created on first use (in TopMemoryContext; it lives as
// long as the backend). REQUIRES: rollout_counting.
RolloutCounterSlot* rollout_flag_counter(std::string_view environment, std::string_view flag);

// Counts one evaluation of a flag through a slot from rollout_flag_counter.
inline void rollout_count(RolloutCounterSlot* slot, bool result) {
  slot->evaluations++;
  slot->true_results += result ? 1 : 0;
}

// Counts one evaluation of experiment `experiment` that served the variation at `position`
// (0 is the control). Does nothing when counting is off or position < 0. Looks the slot up by
// name each call (a local hash lookup); callers on a per-row path may keep the slot instead:
// rollout_experiment_counter + rollout_count.
void count_experiment(std::string_view experiment, int position);
RolloutCounterSlot* rollout_experiment_counter(std::string_view experiment, int position);
