// Module entry: PG_MODULE_MAGIC, _PG_init, and the trigger that invalidates flag caches.
#include "pg/flag_cache.h"

extern "C" {
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/inval.h"

PG_MODULE_MAGIC;

void _PG_init(void);
PG_FUNCTION_INFO_V1(rollout_flags_changed);
}

// Works both from shared_preload_libraries (callbacks registered in the postmaster are
// inherited by every backend) and when loaded on first use by a backend.
void _PG_init(void) { rollout_cache_init(); }

// Statement trigger on rollout.flags: queue a relcache invalidation of the table. It is
// processed locally at the end of the statement (the writer sees its change) and sent to every
// other backend at commit; an aborted transaction sends nothing.
Datum rollout_flags_changed(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("rollout.flags_changed() must be called as a trigger")));
  }
  auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
  CacheInvalidateRelcache(trigger->tg_relation);
  return PointerGetDatum(nullptr);
}
