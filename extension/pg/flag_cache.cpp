// The snapshot-exact flag cache: see flag_cache.h for the contract.
#include "pg/flag_cache.h"

#include <cstring>
#include <memory>

#include "core/experiment.h"
#include "core/flag.h"
#include "pg/guc.h"
#include "pg/status.h"

extern "C" {
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

#include "pg/border.h"

uint64_t rollout_environment_generation = 1;
RolloutCacheStats rollout_cache_counters = {0, 0, 0};

namespace {

constexpr int kMaxEnvironmentLength = 64;

// A compiled configuration and the key of the row version that names it.
struct Entry {
  bool used;
  int64 version;               // rollout.config_version.version; 0 for a 1.0 schema
  TransactionId xmin;          // raw xmin of that row version
  char environment[kMaxEnvironmentLength];
  uint64 legacy_stamp;         // 1.0 schema only: the check count that loaded it
  rollout::FlagSet* set;       // owned (new/delete)
  rollout::ExperimentSet* experiments;  // owned: the same document's experiments
  uint64 last_used;            // check count of its last use
  uint64 last_xact;            // transaction (xact_counter) of its last use
  uint64 serial;               // unique per load
};

// Configurations kept: the latest, plus any this transaction used (freed at its end). Grows when
// a transaction uses many versions (e.g. a loop that changes and evaluates flags).
Entry** entries = nullptr;
int entry_count = 0;
int entry_capacity = 0;
uint64 use_clock = 0;
uint64 xact_counter = 1;  // moves at every transaction end
uint64 next_serial = 1;
Entry* latest = nullptr;  // the entry last returned

// The snapshot last checked and what it saw.
struct SnapshotMemo {
  bool valid;
  uint64 completion_count;
  TransactionId xmin;
  TransactionId xmax;
  CommandId curcid;
  Snapshot pointer;  // compared only when completion_count is 0 (restored snapshots)
  uint64 environment_generation;
};
SnapshotMemo memo;

Oid version_relid = InvalidOid;
bool legacy_schema = false;  // rollout.config_version missing: the 1.0 schema before ALTER EXTENSION UPDATE

void relcache_callback(Datum /*arg*/, Oid relid) {
  if (relid == InvalidOid || relid == version_relid) {
    version_relid = InvalidOid;  // dropped and re-created (DROP/CREATE EXTENSION): look it up again
    memo.valid = false;
  }
}

void free_entry(Entry* e) {
  if (e->set != nullptr) {
    rollout::FlagSet* set = e->set;
    e->set = nullptr;
    delete set;  // noexcept destructors
  }
  if (e->experiments != nullptr) {
    rollout::ExperimentSet* experiments = e->experiments;
    e->experiments = nullptr;
    delete experiments;
  }
  e->used = false;
  if (latest == e) latest = nullptr;
}

// At transaction end keep only the configuration last used: nothing can hold the others now.
void xact_callback(XactEvent event, void* /*arg*/) {
  if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_COMMIT &&
      event != XACT_EVENT_PARALLEL_ABORT && event != XACT_EVENT_PREPARE) {
    return;
  }
  for (int i = 0; i < entry_count; i++) {
    if (entries[i]->used && entries[i] != latest) free_entry(entries[i]);
  }
  xact_counter++;
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    // A configuration loaded from this transaction's own aborted writes can never be seen again,
    // and a failed load may have left the memo half-updated.
    memo.valid = false;
  }
}

bool snapshot_matches_memo(Snapshot snapshot) {
  return memo.valid && memo.completion_count == snapshot->snapXactCompletionCount &&
         memo.xmin == snapshot->xmin && memo.xmax == snapshot->xmax && memo.curcid == snapshot->curcid &&
         (snapshot->snapXactCompletionCount != 0 || memo.pointer == snapshot) &&
         memo.environment_generation == rollout_environment_generation;
}

void remember_snapshot(Snapshot snapshot) {
  memo.completion_count = snapshot->snapXactCompletionCount;
  memo.xmin = snapshot->xmin;
  memo.xmax = snapshot->xmax;
  memo.curcid = snapshot->curcid;
  memo.pointer = snapshot;
  memo.environment_generation = rollout_environment_generation;
  memo.valid = true;
}

Oid lookup_version_relid(void) {
  RangeVar* name = makeRangeVar(pstrdup("rollout"), pstrdup("config_version"), -1);
  Oid relid = RangeVarGetRelid(name, NoLock, true);
  if (OidIsValid(relid)) {
    legacy_schema = false;
    return relid;
  }
  RangeVar* flags = makeRangeVar(pstrdup("rollout"), pstrdup("flags"), -1);
  if (!OidIsValid(RangeVarGetRelid(flags, NoLock, true))) {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("pg_rollout is not installed in this database"),
                    errhint("Run CREATE EXTENSION pg_rollout.")));
  }
  legacy_schema = true;
  return InvalidOid;
}

// Reads the version row the snapshot sees. Returns false if the table vanished (looked up again).
bool read_version(Snapshot snapshot, int64* version, TransactionId* xmin) {
  Relation rel = try_relation_open(version_relid, AccessShareLock);
  if (rel == nullptr) return false;
  TupleDesc desc = RelationGetDescr(rel);
  AttrNumber version_att = InvalidAttrNumber;
  for (int i = 0; i < desc->natts; i++) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (!att->attisdropped && att->atttypid == INT8OID && strcmp(NameStr(att->attname), "version") == 0) {
      version_att = att->attnum;
    }
  }
  if (version_att == InvalidAttrNumber) {
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("rollout.config_version has no bigint column \"version\""),
                    errhint("The table belongs to pg_rollout; recreate the extension to repair it.")));
  }
  TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
  HeapTuple tuple = heap_getnext(scan, ForwardScanDirection);
  bool found = tuple != nullptr;
  if (found) {
    bool isnull;
    Datum v = heap_getattr(tuple, version_att, desc, &isnull);
    *version = isnull ? 0 : DatumGetInt64(v);
    *xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
  }
  table_endscan(scan);
  relation_close(rel, NoLock);  // keep the lock to transaction end, as any reader does
  if (!found) {
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("rollout.config_version is empty"),
                    errhint("The table belongs to pg_rollout and holds one row; recreate the extension to repair it.")));
  }
  return true;
}

// The environment document the snapshot sees, as a palloc'd C string, read as the extension's
// owner so evaluating roles need no privilege on the configuration tables.
char* load_document(const char* environment) {
  Oid owner = InvalidOid;
  {
    RangeVar* name = makeRangeVar(pstrdup("rollout"), pstrdup("flags"), -1);
    Oid relid = RangeVarGetRelid(name, NoLock, false);
    HeapTuple tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tp)) elog(ERROR, "cache lookup failed for relation %u", relid);
    owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tp))->relowner;
    ReleaseSysCache(tp);
  }
  MemoryContext caller = CurrentMemoryContext;
  Oid saved_user;
  int saved_context;
  GetUserIdAndSecContext(&saved_user, &saved_context);
  SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);

  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  const char* query;
  if (legacy_schema) {
    // The 1.0 table, until ALTER EXTENSION pg_rollout UPDATE: its flags as a 1.1 document.
    query =
        "SELECT pg_catalog.jsonb_build_object('environment', $1, 'flags', coalesce(pg_catalog.jsonb_agg("
        "pg_catalog.jsonb_build_object('key', f.key, 'salt', coalesce(f.salt, f.key), 'enabled', f.enabled, "
        "'rollout_bp', (f.rollout_percentage * 100)::int)), '[]'))::text FROM rollout.flags f";
  } else {
    query = "SELECT rollout._environment_document($1)::text";
  }
  Oid argtypes[1] = {TEXTOID};
  Datum args[1] = {CStringGetTextDatum(environment)};
  int rc = SPI_execute_with_args(query, 1, argtypes, args, nullptr, true, 1);
  if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "loading the flag configuration failed (SPI %d)", rc);
  bool isnull;
  Datum document = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  char* result = nullptr;
  {
    MemoryContext spi = MemoryContextSwitchTo(caller);
    result = isnull ? pstrdup("{}") : TextDatumGetCString(document);
    MemoryContextSwitchTo(spi);
  }
  SPI_finish();
  SetUserIdAndSecContext(saved_user, saved_context);
  return result;
}

Entry* find_entry(int64 version, TransactionId xmin, const char* environment) {
  for (int i = 0; i < entry_count; i++) {
    Entry& e = *entries[i];
    if (e.used && !legacy_schema && e.version == version && e.xmin == xmin && strcmp(e.environment, environment) == 0) {
      return &e;
    }
  }
  return nullptr;
}

// A free entry: an unused one, else the least recently used one that this transaction has not
// used (a statement of this transaction may still hold those), else a new one.
Entry* claim_entry(void) {
  Entry* victim = nullptr;
  for (int i = 0; i < entry_count; i++) {
    Entry* e = entries[i];
    if (!e->used) return e;
    if (e->last_xact != xact_counter && e != latest && (victim == nullptr || e->last_used < victim->last_used)) victim = e;
  }
  if (victim != nullptr) {
    free_entry(victim);
    return victim;
  }
  if (entry_count == entry_capacity) {
    const int capacity = entry_capacity == 0 ? 4 : entry_capacity * 2;
    entries = static_cast<Entry**>(entries == nullptr ? MemoryContextAlloc(TopMemoryContext, sizeof(Entry*) * capacity)
                                                       : repalloc(entries, sizeof(Entry*) * capacity));
    entry_capacity = capacity;
  }
  Entry* e = static_cast<Entry*>(MemoryContextAllocZero(TopMemoryContext, sizeof(Entry)));
  entries[entry_count++] = e;
  return e;
}

Entry* load_entry(int64 version, TransactionId xmin, const char* environment) {
  MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout flag load", ALLOCSET_DEFAULT_SIZES);
  MemoryContext old = MemoryContextSwitchTo(scratch);
  char* document = load_document(environment);
  MemoryContextSwitchTo(old);

  rollout::FlagSet* set = nullptr;
  rollout::ExperimentSet* experiments = nullptr;
  rollout_pg::Problem problem;
  rollout_pg::call_core("compiling feature flags", [&] {
    auto compiled = std::make_unique<rollout::FlagSet>();
    auto compiled_experiments = std::make_unique<rollout::ExperimentSet>();
    rollout::Status status = rollout::FlagSet::Compile(document, compiled.get());
    if (status.ok) status = rollout::ExperimentSet::Compile(document, compiled_experiments.get());
    if (status.ok) {
      set = compiled.release();
      experiments = compiled_experiments.release();
    } else {
      problem.set(status);
    }
  });
  MemoryContextDelete(scratch);
  if (problem.failed) {
    problem.raise("the flag configuration of environment \"%s\" does not compile", environment);
  }
  Entry* e = claim_entry();
  e->used = true;
  e->version = version;
  e->xmin = xmin;
  strlcpy(e->environment, environment, sizeof e->environment);
  e->set = set;
  e->experiments = experiments;
  e->serial = next_serial++;
  rollout_cache_counters.reloads++;
  return e;
}

}  // namespace

void rollout_cache_init(void) {
  CacheRegisterRelcacheCallback(relcache_callback, (Datum)0);
  RegisterXactCallback(xact_callback, nullptr);
}

uint64_t rollout_cache_version(void) { return latest != nullptr ? static_cast<uint64_t>(latest->version) : 0; }

const rollout::FlagSet* rollout_current_flags(uint64_t* serial) {
  Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
  if (latest != nullptr && latest->set != nullptr && snapshot_matches_memo(snapshot)) {
    rollout_cache_counters.hits++;
    latest->last_xact = xact_counter;  // held by this transaction's statements from now on
    if (serial != nullptr) *serial = latest->serial;
    return latest->set;
  }
  const char* environment = rollout_environment_name();
  if (strlen(environment) >= static_cast<size_t>(kMaxEnvironmentLength)) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("rollout.environment is too long"),
                    errhint("Environment names have at most %d bytes.", kMaxEnvironmentLength - 1)));
  }
  use_clock++;
  rollout_cache_counters.checks++;
  int64 version = 0;
  TransactionId xmin = InvalidTransactionId;
  for (int attempt = 0;; attempt++) {
    // A 1.0 schema has no version row: every new snapshot loads again, until the update creates it.
    if (!OidIsValid(version_relid)) version_relid = lookup_version_relid();
    if (legacy_schema) break;
    if (read_version(snapshot, &version, &xmin)) break;
    version_relid = InvalidOid;
    if (attempt == 3) elog(ERROR, "rollout.config_version keeps disappearing");
  }
  Entry* e = legacy_schema ? nullptr : find_entry(version, xmin, environment);
  if (e == nullptr) e = load_entry(version, xmin, environment);
  e->last_used = use_clock;
  e->last_xact = xact_counter;
  latest = e;
  remember_snapshot(snapshot);
  if (serial != nullptr) *serial = e->serial;
  return e->set;
}

const rollout::ExperimentSet* rollout_current_experiments(uint64_t* serial) {
  rollout_current_flags(serial);
  return latest->experiments;
}
