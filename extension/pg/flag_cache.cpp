#include "pg/flag_cache.h"

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/flag.h"

extern "C" {
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include "pg/border.h"

uint64_t rollout_cache_generation = 1;

namespace {

rollout::FlagSet* cached_flags = nullptr;  // owned; replaced on reload
bool cache_valid = false;
// Set when the cache was loaded under an old transaction snapshot (see load_flags): it may miss
// a change whose invalidation this backend already consumed, so it is dropped at transaction end.
bool cache_expires_at_xact_end = false;
Oid flags_relid = InvalidOid;

void invalidate(void) {
  cache_valid = false;
  cache_expires_at_xact_end = false;
  rollout_cache_generation++;
}

void relcache_callback(Datum /*arg*/, Oid relid) {
  if (relid == InvalidOid || (flags_relid != InvalidOid && relid == flags_relid)) {
    invalidate();
    // The table may have been dropped and re-created (DROP/CREATE EXTENSION): look it up again.
    flags_relid = InvalidOid;
  }
}

void xact_callback(XactEvent event, void* /*arg*/) {
  if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
       event == XACT_EVENT_PARALLEL_ABORT) &&
      cache_expires_at_xact_end) {
    invalidate();
  }
}

// One row of rollout.flags, as plain data that outlives the table scan.
struct FlagRow {
  char* key;
  bool enabled;
  int32 rollout_basis_points;
  char* salt;  // NULL: bucket by key
};

AttrNumber find_column(TupleDesc desc, const char* name, Oid type) {
  for (int i = 0; i < desc->natts; i++) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0 && att->atttypid == type) {
      return att->attnum;
    }
  }
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("rollout.flags has no column \"%s\" of the expected type", name),
                  errhint("rollout.flags must keep the columns CREATE EXTENSION pg_rollout gave it; undo the ALTER TABLE.")));
  return InvalidAttrNumber;
}

// numeric percentage (0..100, two decimals) -> basis points (0..10000).
int32 percentage_to_basis_points(Datum percentage) {
  Datum hundred = DirectFunctionCall1(int4_numeric, Int32GetDatum(100));
  Datum scaled = DirectFunctionCall2(numeric_mul, percentage, hundred);
  return DatumGetInt32(DirectFunctionCall1(numeric_int4, scaled));
}

// Reads every row of rollout.flags into palloc'd FlagRows in the current memory context.
//
// The rows are read with the latest snapshot, not the transaction's: the cache outlives the
// transaction, and a REPEATABLE READ snapshot could predate a change whose invalidation was
// already consumed, leaving the cache stale with no further invalidation to come. The latest
// snapshot still shows this transaction its own changes. Parallel mode cannot take a new
// snapshot; there the active one is used and, if older than "now", dropped at transaction end.
FlagRow* read_flag_rows(int* count) {
  RangeVar* name = makeRangeVar(pstrdup("rollout"), pstrdup("flags"), -1);
  Oid relid = RangeVarGetRelid(name, AccessShareLock, true);
  if (!OidIsValid(relid)) {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("table rollout.flags does not exist"),
                    errhint("Run CREATE EXTENSION pg_rollout in this database.")));
  }
  flags_relid = relid;

  Relation rel = table_open(relid, NoLock);  // locked by RangeVarGetRelid until transaction end
  TupleDesc desc = RelationGetDescr(rel);
  const AttrNumber key_col = find_column(desc, "key", TEXTOID);
  const AttrNumber enabled_col = find_column(desc, "enabled", BOOLOID);
  const AttrNumber percentage_col = find_column(desc, "rollout_percentage", NUMERICOID);
  const AttrNumber salt_col = find_column(desc, "salt", TEXTOID);

  const bool parallel = IsInParallelMode();
  Snapshot snapshot = RegisterSnapshot(parallel ? GetActiveSnapshot() : GetLatestSnapshot());
  cache_expires_at_xact_end = parallel && IsolationUsesXactSnapshot();

  int capacity = 16;
  int n = 0;
  FlagRow* rows = static_cast<FlagRow*>(palloc(sizeof(FlagRow) * capacity));
  TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
  TupleTableSlot* slot = table_slot_create(rel, nullptr);
  while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
    if (n == capacity) {
      capacity *= 2;
      rows = static_cast<FlagRow*>(repalloc(rows, sizeof(FlagRow) * capacity));
    }
    bool isnull;
    Datum key = slot_getattr(slot, key_col, &isnull);
    if (isnull) continue;  // the primary key forbids it; never trust it blindly
    rows[n].key = TextDatumGetCString(key);
    Datum enabled = slot_getattr(slot, enabled_col, &isnull);
    rows[n].enabled = !isnull && DatumGetBool(enabled);
    Datum percentage = slot_getattr(slot, percentage_col, &isnull);
    rows[n].rollout_basis_points = isnull ? 0 : percentage_to_basis_points(percentage);
    Datum salt = slot_getattr(slot, salt_col, &isnull);
    rows[n].salt = isnull ? nullptr : TextDatumGetCString(salt);
    n++;
  }
  ExecDropSingleTupleTableSlot(slot);
  table_endscan(scan);
  UnregisterSnapshot(snapshot);
  table_close(rel, NoLock);

  *count = n;
  return rows;
}

void load_flags(void) {
  MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout flag load", ALLOCSET_SMALL_SIZES);
  MemoryContext old = MemoryContextSwitchTo(scratch);
  int count = 0;
  FlagRow* rows = read_flag_rows(&count);
  MemoryContextSwitchTo(old);

  rollout_pg::call_core("compiling feature flags", [&] {
    std::vector<rollout::FlagDefinition> definitions;
    definitions.reserve(count);
    for (int i = 0; i < count; i++) {
      rollout::FlagDefinition d;
      d.key = rows[i].key;
      d.enabled = rows[i].enabled;
      d.rollout_basis_points =
          rows[i].rollout_basis_points < 0 ? 0 : static_cast<uint32_t>(rows[i].rollout_basis_points);
      if (rows[i].salt != nullptr) d.salt = rows[i].salt;
      definitions.push_back(std::move(d));
    }
    auto compiled = std::make_unique<rollout::FlagSet>();
    rollout::Status status = rollout::FlagSet::Compile(std::move(definitions), compiled.get());
    if (!status.ok) throw std::invalid_argument(status.message);
    delete cached_flags;
    cached_flags = compiled.release();
  });
  MemoryContextDelete(scratch);
}

}  // namespace

void rollout_cache_init(void) {
  CacheRegisterRelcacheCallback(relcache_callback, (Datum)0);
  RegisterXactCallback(xact_callback, nullptr);
}

const rollout::FlagSet* rollout_flag_set(void) {
  // Loading takes a lock, which processes pending invalidations and may move the generation;
  // load again until a load completes with no invalidation in between.
  while (!cache_valid) {
    const uint64_t generation = rollout_cache_generation;
    load_flags();
    cache_valid = generation == rollout_cache_generation;
  }
  return cached_flags;
}
