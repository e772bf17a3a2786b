// Evaluation counters: see counters.h. The shape follows pg_stat_statements (shared memory
// requested in shmem_request_hook, a hash table and an LWLock made in shmem_startup_hook, a
// reset function, views over a set-returning function), with counters as atomics so that
// flushing a known entry takes no lock.
#include "pg/counters.h"

#include <cstring>

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
}

bool rollout_counting = false;

namespace {

constexpr int kEnvironmentBytes = 64;  // environment names are at most 63 bytes
constexpr int kNameBytes = 256;        // flag keys are at most 200 bytes
constexpr int32 kKindFlag = 1;
constexpr int32 kKindExperiment = 2;
const char* const kTrancheName = "pg_rollout counters";

// Hashed as bytes (HASH_BLOBS): always zero-filled before the text is copied in.
struct CounterKey {
  Oid database;
  int32 kind;
  int32 position;  // the variation's position for experiments, 0 for flags
  char environment[kEnvironmentBytes];
  char name[kNameBytes];
};

struct SharedCounter {
  CounterKey key;
  pg_atomic_uint64 evaluations;
  pg_atomic_uint64 true_results;
  pg_atomic_uint64 last_evaluated;  // TimestampTz of the last flush that added evaluations; 0 never
};

struct SharedState {
  LWLock* lock;  // guards the hash table's structure (lookups and inserts), not the counters
  SharedCounter overflow;
};

struct LocalCounter {
  CounterKey key;
  RolloutCounterSlot slot;
  bool too_long;  // the name does not fit a key: counted in the overflow entry
};

bool preloaded = false;
bool track_evaluations = true;
int max_tracked = 1000;
SharedState* shared_state = nullptr;
HTAB* shared_table = nullptr;
HTAB* local_table = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

void init_counter(SharedCounter* counter) {
  pg_atomic_init_u64(&counter->evaluations, 0);
  pg_atomic_init_u64(&counter->true_results, 0);
  pg_atomic_init_u64(&counter->last_evaluated, 0);
}

Size shared_size() {
  return add_size(MAXALIGN(sizeof(SharedState)), hash_estimate_size(max_tracked, sizeof(SharedCounter)));
}

void request_shared_memory(void) {
  if (previous_request_hook != nullptr) previous_request_hook();
  RequestAddinShmemSpace(shared_size());
  RequestNamedLWLockTranche(kTrancheName, 1);
}

void start_shared_memory(void) {
  if (previous_startup_hook != nullptr) previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found;
  shared_state = static_cast<SharedState*>(ShmemInitStruct("pg_rollout counters state", sizeof(SharedState), &found));
  if (!found) {
    shared_state->lock = &(GetNamedLWLockTranche(kTrancheName))->lock;
    memset(&shared_state->overflow.key, 0, sizeof(CounterKey));
    init_counter(&shared_state->overflow);
  }
  HASHCTL info;
  memset(&info, 0, sizeof info);
  info.keysize = sizeof(CounterKey);
  info.entrysize = sizeof(SharedCounter);
  shared_table = ShmemInitHash("pg_rollout counters", max_tracked, max_tracked, &info, HASH_ELEM | HASH_BLOBS);
  LWLockRelease(AddinShmemInitLock);
}

// The shared entry of a local counter, created when absent; the overflow entry when the name
// is too long or the table is full. Never raises an ERROR (it runs in transaction-abort
// callbacks): HASH_ENTER_NULL returns NULL instead of failing when out of room.
SharedCounter* shared_entry(LocalCounter* local) {
  if (local->slot.shared_resolved) return static_cast<SharedCounter*>(local->slot.shared);
  SharedCounter* entry = &shared_state->overflow;
  if (!local->too_long) {
    LWLockAcquire(shared_state->lock, LW_SHARED);
    auto* found_entry = static_cast<SharedCounter*>(hash_search(shared_table, &local->key, HASH_FIND, nullptr));
    LWLockRelease(shared_state->lock);
    if (found_entry == nullptr) {
      LWLockAcquire(shared_state->lock, LW_EXCLUSIVE);
      bool found;
      found_entry = static_cast<SharedCounter*>(hash_search(shared_table, &local->key, HASH_ENTER_NULL, &found));
      if (found_entry != nullptr && !found) init_counter(found_entry);
      LWLockRelease(shared_state->lock);
    }
    if (found_entry != nullptr) entry = found_entry;
  }
  local->slot.shared = entry;
  local->slot.shared_resolved = true;
  return entry;
}

// Adds every local slot to the shared counters and empties it.
void flush(void) {
  if (local_table == nullptr || shared_state == nullptr) return;
  const TimestampTz now = GetCurrentStatementStartTimestamp();
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, local_table);
  LocalCounter* local;
  while ((local = static_cast<LocalCounter*>(hash_seq_search(&scan))) != nullptr) {
    if (local->slot.evaluations == 0) continue;
    SharedCounter* entry = shared_entry(local);
    pg_atomic_fetch_add_u64(&entry->evaluations, local->slot.evaluations);
    pg_atomic_fetch_add_u64(&entry->true_results, local->slot.true_results);
    uint64 last = pg_atomic_read_u64(&entry->last_evaluated);
    while (static_cast<int64>(last) < now &&
           !pg_atomic_compare_exchange_u64(&entry->last_evaluated, &last, static_cast<uint64>(now))) {
    }
    local->slot.evaluations = 0;
    local->slot.true_results = 0;
  }
}

void on_transaction_end(XactEvent event, void* /*arg*/) {
  switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
      flush();
      break;
    default:
      break;
  }
}

void update_counting(void) { rollout_counting = preloaded && track_evaluations; }
void track_assign(bool newval, void* /*extra*/) {
  track_evaluations = newval;
  update_counting();
}

bool copy_text(char* out, int size, std::string_view text) {
  if (text.size() >= static_cast<size_t>(size)) {
    memcpy(out, text.data(), size - 1);
    return false;
  }
  memcpy(out, text.data(), text.size());
  return true;
}

RolloutCounterSlot* local_counter(int32 kind, std::string_view environment, std::string_view name, int32 position) {
  if (local_table == nullptr) {
    HASHCTL info;
    memset(&info, 0, sizeof info);
    info.keysize = sizeof(CounterKey);
    info.entrysize = sizeof(LocalCounter);
    local_table = hash_create("pg_rollout local counters", 64, &info, HASH_ELEM | HASH_BLOBS);
  }
  CounterKey key;
  memset(&key, 0, sizeof key);
  key.database = MyDatabaseId;
  key.kind = kind;
  key.position = position;
  bool fits = copy_text(key.environment, kEnvironmentBytes, environment);
  fits = copy_text(key.name, kNameBytes, name) && fits;
  bool found;
  auto* local = static_cast<LocalCounter*>(hash_search(local_table, &key, HASH_ENTER, &found));
  if (!found) {
    memset(&local->slot, 0, sizeof local->slot);
    local->too_long = !fits;
  }
  return &local->slot;
}

void zero_counter(SharedCounter* counter) {
  pg_atomic_write_u64(&counter->evaluations, 0);
  pg_atomic_write_u64(&counter->true_results, 0);
  pg_atomic_write_u64(&counter->last_evaluated, 0);
}

// Calls visit(entry) for each shared entry of this database, holding the table's lock shared
// (entries are only added under it, never removed).
template <typename Visit>
void for_each_entry_of_database(Visit&& visit) {
  LWLockAcquire(shared_state->lock, LW_SHARED);
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, shared_table);
  SharedCounter* entry;
  while ((entry = static_cast<SharedCounter*>(hash_seq_search(&scan))) != nullptr) {
    if (entry->key.database == MyDatabaseId) visit(entry);
  }
  LWLockRelease(shared_state->lock);
}

}  // namespace

void rollout_counters_init(void) {
  preloaded = process_shared_preload_libraries_in_progress;
  DefineCustomBoolVariable("rollout.track_evaluations",
                           "Counts flag and experiment evaluations for rollout.flag_stats.",
                           "Needs pg_rollout in shared_preload_libraries.", &track_evaluations, true, PGC_USERSET, 0,
                           nullptr, track_assign, nullptr);
  update_counting();
  // A PGC_POSTMASTER setting can only be defined while the server starts.
  if (!preloaded) return;
  DefineCustomIntVariable("rollout.max_tracked",
                          "Number of flags per environment and experiment variations the evaluation counters hold.",
                          "Further ones are counted together in an overflow row.", &max_tracked, 1000, 100, 1000000,
                          PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
  previous_request_hook = shmem_request_hook;
  shmem_request_hook = request_shared_memory;
  previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = start_shared_memory;
  RegisterXactCallback(on_transaction_end, nullptr);
}

RolloutCounterSlot* rollout_flag_counter(std::string_view environment, std::string_view flag) {
  return local_counter(kKindFlag, environment, flag, 0);
}

RolloutCounterSlot* rollout_experiment_counter(std::string_view experiment, int position) {
  return local_counter(kKindExperiment, std::string_view(), experiment, position);
}

void count_experiment(std::string_view experiment, int position) {
  if (!rollout_counting || position < 0) return;
  rollout_count(rollout_experiment_counter(experiment, position), true);
}

extern "C" {

PG_FUNCTION_INFO_V1(rollout_counting_status);
Datum rollout_counting_status(PG_FUNCTION_ARGS) {
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
  desc = BlessTupleDesc(desc);
  const bool available = preloaded && shared_state != nullptr;
  const char* status = !available           ? "off: pg_rollout is not in shared_preload_libraries"
                       : !track_evaluations ? "off: rollout.track_evaluations is off in this session"
                                            : "on";
  Datum values[2] = {CStringGetTextDatum(status), BoolGetDatum(available)};
  bool nulls[2] = {false, false};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

// This database's counters (after adding this backend's pending counts), and the overflow
// entry when it has counted anything: kind ('flag', 'experiment', 'overflow'), environment,
// name, position, evaluations, true results, last evaluation. No rows when not preloaded.
PG_FUNCTION_INFO_V1(rollout_evaluation_counters);
Datum rollout_evaluation_counters(PG_FUNCTION_ARGS) {
  InitMaterializedSRF(fcinfo, 0);
  if (shared_state == nullptr) return (Datum)0;
  auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  flush();
  auto emit = [&](const char* kind, SharedCounter* entry, bool with_key) {
    Datum values[7];
    bool nulls[7] = {false, false, false, false, false, false, false};
    values[0] = CStringGetTextDatum(kind);
    if (with_key) {
      values[1] = CStringGetTextDatum(entry->key.environment);
      values[2] = CStringGetTextDatum(entry->key.name);
      values[3] = Int32GetDatum(entry->key.position);
      nulls[1] = entry->key.kind != kKindFlag;
      nulls[3] = entry->key.kind != kKindExperiment;
    } else {
      nulls[1] = nulls[2] = nulls[3] = true;
    }
    const uint64 evaluations = pg_atomic_read_u64(&entry->evaluations);
    const uint64 trues = pg_atomic_read_u64(&entry->true_results);
    const uint64 last = pg_atomic_read_u64(&entry->last_evaluated);
    values[4] = Int64GetDatum(static_cast<int64>(evaluations));
    values[5] = Int64GetDatum(static_cast<int64>(trues));
    values[6] = TimestampTzGetDatum(static_cast<TimestampTz>(last));
    nulls[6] = last == 0;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  };
  for_each_entry_of_database(
      [&](SharedCounter* entry) { emit(entry->key.kind == kKindFlag ? "flag" : "experiment", entry, true); });
  if (pg_atomic_read_u64(&shared_state->overflow.evaluations) > 0) emit("overflow", &shared_state->overflow, false);
  return (Datum)0;
}

// Zeros this database's counters and the overflow entry, and this backend's pending counts.
// Entries stay (their memory is never reused for another name).
PG_FUNCTION_INFO_V1(rollout_reset_counters);
Datum rollout_reset_counters(PG_FUNCTION_ARGS) {
  if (shared_state == nullptr) PG_RETURN_VOID();
  if (local_table != nullptr) {
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, local_table);
    LocalCounter* local;
    while ((local = static_cast<LocalCounter*>(hash_seq_search(&scan))) != nullptr) {
      local->slot.evaluations = 0;
      local->slot.true_results = 0;
    }
  }
  for_each_entry_of_database(zero_counter);
  zero_counter(&shared_state->overflow);
  PG_RETURN_VOID();
}

}  // extern "C"
