// The extension's settings: see guc.h.
#include "pg/guc.h"

#include <cstring>

#include "pg/flag_cache.h"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

namespace {

char* environment_setting = nullptr;
int missing_flag_setting = ROLLOUT_MISSING_OFF;
char* now_setting = nullptr;
char* actor_setting = nullptr;
char* api_action_setting = nullptr;

const struct config_enum_entry missing_flag_options[] = {
    {"off", ROLLOUT_MISSING_OFF, false},
    {"warning", ROLLOUT_MISSING_WARNING, false},
    {"error", ROLLOUT_MISSING_ERROR, false},
    {nullptr, 0, false},
};

void environment_assign(const char* /*newval*/, void* /*extra*/) { rollout_environment_generation++; }

// rollout.now is checked when set, so a bad value fails the SET, not a later evaluation.
bool now_check(char** newval, void** extra, GucSource /*source*/) {
  if (*newval == nullptr || (*newval)[0] == '\0') {
    *extra = nullptr;
    return true;
  }
  Datum parsed;
  bool ok = true;
  // timestamptz_in reports bad input with ereport; a check hook must return false instead.
  MemoryContext context = CurrentMemoryContext;
  PG_TRY();
  {
    parsed = DirectFunctionCall3(timestamptz_in, CStringGetDatum(*newval), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    FlushErrorState();
    ok = false;
  }
  PG_END_TRY();
  if (!ok) {
    GUC_check_errdetail("\"%s\" is not a timestamp.", *newval);
    GUC_check_errhint("Use e.g. '2026-12-01 09:00:00+00', or an empty string for the real time.");
    return false;
  }
  auto* value = static_cast<int64*>(malloc(sizeof(int64)));  // GUC extras are malloc'd
  if (value == nullptr) return false;
  *value = DatumGetTimestampTz(parsed);
  *extra = value;
  return true;
}

int64* now_override = nullptr;
void now_assign(const char* /*newval*/, void* extra) { now_override = static_cast<int64*>(extra); }

}  // namespace

void rollout_define_gucs(void) {
  DefineCustomStringVariable("rollout.environment", "Environment whose flag configuration evaluation uses.",
                             "Each flag has its own configuration per environment (rollout.environments).",
                             &environment_setting, "production", PGC_USERSET, 0, nullptr, environment_assign, nullptr);
  DefineCustomEnumVariable("rollout.missing_flag", "What evaluating an unknown flag does.",
                           "off: the flag is off (false); warning: off, with a warning; error: an error.",
                           &missing_flag_setting, ROLLOUT_MISSING_OFF, missing_flag_options, PGC_USERSET, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomStringVariable("rollout.now", "Evaluation time for rollout plans and override expiry.",
                             "Empty (the default) means the transaction's start time; set it to preview or test a plan.",
                             &now_setting, "", PGC_USERSET, 0, now_check, now_assign, nullptr);
  DefineCustomStringVariable("rollout.actor", "The application's own user id, recorded in rollout.audit_log.", nullptr,
                             &actor_setting, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("rollout.api_action", "Internal: the management function making a change, for the audit log.",
                             nullptr, &api_action_setting, "", PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr,
                             nullptr, nullptr);
}

const char* rollout_environment_name(void) {
  return environment_setting != nullptr && environment_setting[0] != '\0' ? environment_setting : "production";
}

int rollout_missing_flag_mode(void) { return missing_flag_setting; }

int64_t rollout_evaluation_time_us(void) {
  const TimestampTz at = now_override != nullptr ? *now_override : GetCurrentTransactionStartTimestamp();
  // PostgreSQL counts from 2000-01-01; the core from the Unix epoch.
  return static_cast<int64_t>(at) + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}
