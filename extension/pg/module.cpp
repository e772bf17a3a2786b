// Module entry: PG_MODULE_MAGIC, _PG_init, and the 1.0 cache trigger kept for 1.0 schemas.
#include "pg/counters.h"
#include "pg/flag_cache.h"
#include "pg/guc.h"

extern "C" {
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
PG_FUNCTION_INFO_V1(rollout_flags_changed);
}

// Works both from shared_preload_libraries (callbacks registered in the postmaster are
// inherited by every backend) and when loaded on first use by a backend.
void _PG_init(void) {
  rollout_define_gucs();
  rollout_cache_init();
  rollout_counters_init();
  // Only once every rollout.* setting is defined: reserving the prefix removes the placeholders
  // still undefined, which would drop a postgresql.conf or -c value of a later definition (such
  // as rollout.max_tracked) instead of applying it.
  MarkGUCPrefixReserved("rollout");
}

// The 1.0 schema's statement trigger on rollout.flags (1.1 drops it). A database still on 1.0
// evaluates with this library by reloading its flags for every new snapshot, so the trigger has
// nothing left to do.
Datum rollout_flags_changed(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("rollout.flags_changed() must be called as a trigger")));
  }
  return PointerGetDatum(nullptr);
}
