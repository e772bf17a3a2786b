// A call's arguments as the evaluation functions read them: the user id's text, and whether an
// argument is a constant a call site may memoize in fn_extra.
//
// Include after the PostgreSQL headers (postgres.h, fmgr.h, nodes/primnodes.h, utils/builtins.h,
// utils/fmgrprotos.h, utils/jsonb.h, utils/numeric.h, utils/uuid.h).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/bucket.h"
#include "core/attribute.h"

namespace rollout_pg {

// The SQL type of a function's user id argument (argument 0): each evaluation function has a
// bigint, a text and a uuid form.
enum class IdKind { kBigint, kText, kUuid };

// Room for the user id's text form when it is not a text argument.
struct IdBuffer {
  char bytes[rollout::kMaxDecimalLength + rollout::kUuidTextLength];
};

// The user id (argument 0) as the text the SDKs hash: decimal for bigint, the canonical
// lower-case form for uuid, the bytes of a text. Empty for NULL. Points into `buffer` or the
// argument.
inline std::string_view user_id_arg(FunctionCallInfo fcinfo, IdKind kind, IdBuffer* buffer) {
  if (PG_ARGISNULL(0)) return {};
  switch (kind) {
    case IdKind::kBigint: {
      const size_t n = rollout::format_decimal(static_cast<int64_t>(PG_GETARG_INT64(0)), buffer->bytes);
      return std::string_view(buffer->bytes, n);
    }
    case IdKind::kText: {
      const text* id = PG_GETARG_TEXT_PP(0);
      return std::string_view(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));
    }
    case IdKind::kUuid: {
      char(&out)[rollout::kUuidTextLength] = *reinterpret_cast<char(*)[rollout::kUuidTextLength]>(buffer->bytes);
      rollout::format_uuid(PG_GETARG_UUID_P(0)->data, out);
      return std::string_view(buffer->bytes, rollout::kUuidTextLength);
    }
  }
  return {};
}

// Whether argument `arg` of the call is a Const: the same value for every call through this
// FmgrInfo, so what is derived from it may be kept in fn_extra. Not get_fn_expr_arg_stable: that
// also accepts external Params, whose value changes between calls sharing one expression state
// (PL/pgSQL evaluates `feature_enabled(id, k)` with a variable k that way, once per loop
// iteration, within one FmgrInfo).
inline bool argument_is_constant(FmgrInfo* flinfo, int arg) {
  Node* expr = flinfo->fn_expr;
  if (expr == nullptr || !IsA(expr, FuncExpr)) return false;
  List* args = reinterpret_cast<FuncExpr*>(expr)->args;
  return arg < list_length(args) && IsA(list_nth(args, arg), Const);
}

// A numeric as an attribute: its double for comparisons and its text for string operators.
inline rollout::AttributeValue number_attribute(Numeric number) {
  const double value = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(number)));
  const char* text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(number)));
  return rollout::AttributeValue::Number(value, text);
}

// The attribute `name` of a jsonb object (nullptr: none): a string, number or boolean member as
// itself; absent when the member is missing, null, an array or an object.
inline rollout::AttributeValue jsonb_attribute(Jsonb* object, std::string_view name) {
  if (object == nullptr) return rollout::AttributeValue::Absent();
  JsonbValue key;
  key.type = jbvString;
  key.val.string.val = const_cast<char*>(name.data());
  key.val.string.len = static_cast<int>(name.size());
  const JsonbValue* value = findJsonbValueFromContainer(&object->root, JB_FOBJECT, &key);
  if (value == nullptr) return rollout::AttributeValue::Absent();
  switch (value->type) {
    case jbvString:
      return rollout::AttributeValue::String(std::string_view(value->val.string.val, value->val.string.len));
    case jbvNumeric:
      return number_attribute(value->val.numeric);
    case jbvBool:
      return rollout::AttributeValue::Bool(value->val.boolean);
    default:
      return rollout::AttributeValue::Absent();
  }
}

// Argument `arg` as a jsonb object of attributes: nullptr when it is NULL or not an object.
inline Jsonb* jsonb_object_arg(FunctionCallInfo fcinfo, int arg) {
  if (PG_ARGISNULL(arg)) return nullptr;
  Jsonb* value = PG_GETARG_JSONB_P(arg);
  return JB_ROOT_IS_OBJECT(value) ? value : nullptr;
}

}  // namespace rollout_pg
