// SQL-callable validators used by the tables' triggers: the core checks a part of the
// configuration with the same code that compiles it, and its Status becomes an ERROR.
#include <string_view>

#include "core/flag.h"
#include "pg/status.h"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
}

#include "pg/border.h"

namespace rollout_pg {

void Problem::raise(const char* context, ...) const {
  char prefix[512] = {0};
  if (context != nullptr) {
    va_list args;
    va_start(args, context);
    vsnprintf(prefix, sizeof prefix, context, args);
    va_end(args);
  }
  int sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
  switch (code) {
    case rollout::ErrorCode::kInvalidParameter: sqlstate = ERRCODE_INVALID_PARAMETER_VALUE; break;
    case rollout::ErrorCode::kInvalidJson: sqlstate = ERRCODE_INVALID_JSON_TEXT; break;
    case rollout::ErrorCode::kInvalidRegex: sqlstate = ERRCODE_INVALID_REGULAR_EXPRESSION; break;
    case rollout::ErrorCode::kUndefinedObject: sqlstate = ERRCODE_UNDEFINED_OBJECT; break;
    case rollout::ErrorCode::kDuplicateObject: sqlstate = ERRCODE_DUPLICATE_OBJECT; break;
    case rollout::ErrorCode::kCycle: sqlstate = ERRCODE_INVALID_OBJECT_DEFINITION; break;
  }
  ereport(ERROR, (errcode(sqlstate),
                  prefix[0] != '\0' ? errmsg("%s: %s", prefix, message) : errmsg("%s", message),
                  hint[0] != '\0' ? errhint("%s", hint) : 0));
  pg_unreachable();
}

}  // namespace rollout_pg

namespace {

// The jsonb argument as JSON text (palloc'd), or nullptr for SQL NULL.
char* json_text(FunctionCallInfo fcinfo, int arg) {
  if (PG_ARGISNULL(arg)) return nullptr;
  Jsonb* value = PG_GETARG_JSONB_P(arg);
  return JsonbToCString(nullptr, &value->root, VARSIZE(value));
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(rollout_outer_user);
PG_FUNCTION_INFO_V1(rollout_validate_constraints);

// The role set by SET ROLE (or the session user): SECURITY DEFINER functions change only the
// current user, so this is who is acting even inside the management API.
Datum rollout_outer_user(PG_FUNCTION_ARGS) {
  (void)fcinfo;
  return DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
}

PG_FUNCTION_INFO_V1(rollout_validate_variants);
PG_FUNCTION_INFO_V1(rollout_validate_value);

Datum rollout_validate_constraints(PG_FUNCTION_ARGS) {
  const char* text = json_text(fcinfo, 0);
  if (text == nullptr) {
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("rule constraints must not be NULL"),
                    errhint("Use '[]' for a rule that matches every user.")));
  }
  rollout_pg::Problem problem;
  rollout_pg::call_core("validating constraints", [&] { problem.set(rollout::ValidateConstraints(text)); });
  if (problem.failed) problem.raise("invalid rule");
  PG_RETURN_VOID();
}

Datum rollout_validate_variants(PG_FUNCTION_ARGS) {
  const char* text = json_text(fcinfo, 0);
  if (text == nullptr) PG_RETURN_VOID();
  rollout_pg::Problem problem;
  rollout_pg::call_core("validating variants", [&] { problem.set(rollout::ValidateVariants(text)); });
  if (problem.failed) problem.raise("invalid variants");
  PG_RETURN_VOID();
}

Datum rollout_validate_value(PG_FUNCTION_ARGS) {
  const char* value = json_text(fcinfo, 0);
  const char* variants = json_text(fcinfo, 1);
  if (value == nullptr) {
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a served value must not be NULL"),
                    errhint("A boolean flag serves true or false; a multivariate flag also a variant key.")));
  }
  rollout_pg::Problem problem;
  rollout_pg::call_core("validating a value",
                        [&] { problem.set(rollout::ValidateServedValue(value, variants == nullptr ? "null" : variants)); });
  if (problem.failed) problem.raise(nullptr);
  PG_RETURN_VOID();
}

}  // extern "C"
