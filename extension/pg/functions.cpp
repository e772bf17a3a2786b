// SQL-callable flag evaluation: feature_enabled(user_id, flag) for bigint, text and uuid ids.
//
// The hot path does no catalog access, no SPI and no allocation: the flag argument is resolved
// to a compiled flag once per query (it is almost always a constant) and kept in fn_extra with
// the cache generation it was resolved under; it is resolved again only when the flag text
// changes from one row to the next or an invalidation has moved the generation.
#include <cstring>
#include <string_view>

#include "core/bucket.h"
#include "core/flag.h"
#include "pg/flag_cache.h"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/uuid.h"
}

namespace {

// Per-call-site memo of the last flag key resolved, kept in fn_extra (fn_mcxt).
struct FlagLookup {
  uint64_t generation;
  const rollout::CompiledFlag* flag;  // nullptr: no such flag
  int key_length;
  int key_capacity;
  char* key;
};

const rollout::CompiledFlag* resolve_flag(FunctionCallInfo fcinfo, const char* key, int length) {
  FmgrInfo* flinfo = fcinfo->flinfo;
  auto* lookup = static_cast<FlagLookup*>(flinfo->fn_extra);
  if (lookup == nullptr) {
    lookup = static_cast<FlagLookup*>(MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(FlagLookup)));
    flinfo->fn_extra = lookup;
  }
  if (lookup->key_capacity < length) {
    char* grown = static_cast<char*>(MemoryContextAlloc(flinfo->fn_mcxt, length));
    if (lookup->key != nullptr) pfree(lookup->key);
    lookup->key = grown;
    lookup->key_capacity = length;
  }
  const rollout::FlagSet* flags = rollout_flag_set();  // may load; may raise an ERROR
  lookup->flag = flags->find(std::string_view(key, length));
  if (length > 0) memcpy(lookup->key, key, length);
  lookup->key_length = length;
  lookup->generation = rollout_cache_generation;
  return lookup->flag;
}

inline const rollout::CompiledFlag* lookup_flag(FunctionCallInfo fcinfo, const text* flag) {
  const char* key = VARDATA_ANY(flag);
  const int length = static_cast<int>(VARSIZE_ANY_EXHDR(flag));
  const auto* lookup = static_cast<const FlagLookup*>(fcinfo->flinfo->fn_extra);
  if (likely(lookup != nullptr && lookup->generation == rollout_cache_generation && lookup->key_length == length &&
             memcmp(lookup->key, key, length) == 0)) {
    return lookup->flag;
  }
  return resolve_flag(fcinfo, key, length);
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(feature_enabled_bigint);
PG_FUNCTION_INFO_V1(feature_enabled_text);
PG_FUNCTION_INFO_V1(feature_enabled_uuid);

Datum feature_enabled_bigint(PG_FUNCTION_ARGS) {
  const int64 user_id = PG_GETARG_INT64(0);
  const rollout::CompiledFlag* flag = lookup_flag(fcinfo, PG_GETARG_TEXT_PP(1));
  if (flag == nullptr) PG_RETURN_BOOL(false);
  char digits[rollout::kMaxDecimalLength];
  const size_t length = rollout::format_decimal(static_cast<int64_t>(user_id), digits);
  PG_RETURN_BOOL(flag->enabled_for(std::string_view(digits, length)));
}

Datum feature_enabled_text(PG_FUNCTION_ARGS) {
  const text* user_id = PG_GETARG_TEXT_PP(0);
  const rollout::CompiledFlag* flag = lookup_flag(fcinfo, PG_GETARG_TEXT_PP(1));
  if (flag == nullptr) PG_RETURN_BOOL(false);
  PG_RETURN_BOOL(flag->enabled_for(std::string_view(VARDATA_ANY(user_id), VARSIZE_ANY_EXHDR(user_id))));
}

Datum feature_enabled_uuid(PG_FUNCTION_ARGS) {
  const pg_uuid_t* user_id = PG_GETARG_UUID_P(0);
  const rollout::CompiledFlag* flag = lookup_flag(fcinfo, PG_GETARG_TEXT_PP(1));
  if (flag == nullptr) PG_RETURN_BOOL(false);
  char canonical[rollout::kUuidTextLength];
  rollout::format_uuid(user_id->data, canonical);
  PG_RETURN_BOOL(flag->enabled_for(std::string_view(canonical, sizeof canonical)));
}

}  // extern "C"
