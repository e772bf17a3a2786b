// SQL-callable evaluation: feature_enabled, feature_enabled_row, feature_value, feature_explain
// and features_for, each for bigint, text and uuid user ids.
//
// The hot path does no catalog access, no SPI and no allocation: the configuration the
// statement's snapshot sees comes from the cache (a few memory reads while the snapshot is
// unchanged), and the flag argument, almost always a constant, is resolved once per call site
// into fn_extra together with the configuration it was resolved in. Attributes are read only for
// the slots the flag's rules use: from a jsonb argument by key, or from a row's columns through a
// column map built once per query (the row form builds no jsonb at all).
//
// feature_enabled (every form), feature_value and features_for count each evaluation of an existing
// flag (counters.h: a backend-local slot memoized in the call site); feature_explain, a
// diagnostic, does not.
#include <cstring>
#include <string_view>

#include "core/bucket.h"
#include "core/flag.h"
#include "pg/counters.h"
#include "pg/flag_cache.h"
#include "pg/guc.h"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/typcache.h"
#include "utils/uuid.h"
}

#include "pg/call_args.h"

namespace {

using rollout_pg::IdBuffer;
using rollout_pg::IdKind;
using rollout_pg::user_id_arg;
using rollout_pg::jsonb_attribute;
using rollout_pg::jsonb_object_arg;
using rollout_pg::number_attribute;

// How one attribute slot is read from a row: which column, and how its type becomes text.
struct RowColumn {
  AttrNumber attnum;  // InvalidAttrNumber: the row has no such column (attribute absent)
  Oid type;
  Oid output_function;
  char text[64];  // decimal text of integer columns, canonical text of uuid columns
};

// Per-call-site state, in fn_extra (fn_mcxt). Plain data only.
struct CallSite {
  const rollout::FlagSet* set;  // the configuration `flag` was resolved in
  uint64 serial;                // ... and its serial (addresses of freed configurations are reused)
  const rollout::CompiledFlag* flag;
  bool warned;  // rollout.missing_flag = warning: warned once for this key
  bool key_stable_checked;
  bool key_stable;  // the flag argument is a constant or parameter: the same for every row
  int key_length;
  int key_capacity;
  char* key;
  rollout::AttributeValue* attributes;  // one per attribute slot of `set`
  int attribute_capacity;
  // The row form's column map, for rows of `row_type` under the slots of configuration `row_serial`.
  uint64 row_serial;
  Oid row_type;
  int32 row_typmod;
  TupleDesc row_desc;
  RowColumn* columns;  // one per attribute slot
  Datum* row_values;   // the row's columns, deformed once per row
  bool* row_nulls;
  // The pairs form: per pair, the slot + 1 of its name (0: unused) and its value's type.
  uint64 pairs_serial;
  RowColumn* pairs;
  // feature_value: the jsonb of the value served last (in configuration `value_serial`).
  uint64 value_serial;
  const rollout::ServedValue* last_value;
  Datum last_jsonb;
  // The evaluation counter of `flag` (nullptr until first counted; reset when `flag` is resolved).
  RolloutCounterSlot* counter;
};

CallSite* call_site(FunctionCallInfo fcinfo) {
  FmgrInfo* flinfo = fcinfo->flinfo;
  if (flinfo->fn_extra == nullptr) {
    flinfo->fn_extra = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(CallSite));
  }
  return static_cast<CallSite*>(flinfo->fn_extra);
}

// Counts an evaluation of the call site's flag (see counters.h): two increments on the hot path.
inline void count(CallSite* site, const rollout::FlagSet* set, const rollout::CompiledFlag* flag, bool result) {
  if (!rollout_counting) return;
  if (unlikely(site->counter == nullptr)) site->counter = rollout_flag_counter(set->environment(), flag->key());
  rollout_count(site->counter, result);
}

// Resolves the flag argument in the configuration the statement sees; nullptr: not found
// (rollout.missing_flag applied).
const rollout::CompiledFlag* resolve_flag(FunctionCallInfo fcinfo, CallSite* site, int arg,
                                          const rollout::FlagSet** set_out) {
  uint64_t serial;
  const rollout::FlagSet* set = rollout_current_flags(&serial);
  *set_out = set;
  // A constant flag argument (the usual case) was resolved on the first row: no text to compare.
  if (likely(site->key_stable && site->serial == serial)) return site->flag;
  if (PG_ARGISNULL(arg)) return nullptr;
  const text* flag = PG_GETARG_TEXT_PP(arg);
  const char* key = VARDATA_ANY(flag);
  const int length = static_cast<int>(VARSIZE_ANY_EXHDR(flag));
  if (likely(site->serial == serial && site->key_length == length && memcmp(site->key, key, length) == 0)) {
    return site->flag;
  }
  if (site->key_capacity < length) {
    char* grown = static_cast<char*>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, length));
    if (site->key != nullptr) pfree(site->key);
    site->key = grown;
    site->key_capacity = length;
  }
  if (length > 0) memcpy(site->key, key, length);
  site->key_length = length;
  site->flag = set->find(std::string_view(key, length));
  site->counter = nullptr;
  site->set = set;
  site->serial = serial;
  site->warned = false;
  if (!site->key_stable_checked) {
    site->key_stable = rollout_pg::argument_is_constant(fcinfo->flinfo, arg);
    site->key_stable_checked = true;
  }
  if (site->flag == nullptr) {
    const int mode = rollout_missing_flag_mode();
    if (mode == ROLLOUT_MISSING_ERROR) {
      ereport(ERROR,
              (errcode(ERRCODE_UNDEFINED_OBJECT),
               errmsg("flag \"%.*s\" does not exist in environment \"%s\"", length, key, set->environment().c_str()),
               errhint("Create it with rollout.create_flag(), or SET rollout.missing_flag = off to evaluate unknown "
                       "flags as off.")));
    }
    if (mode == ROLLOUT_MISSING_WARNING) {
      site->warned = true;
      ereport(WARNING, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("flag \"%.*s\" does not exist in environment \"%s\"; evaluating it as off", length, key,
                               set->environment().c_str()),
                        errhint("Create it with rollout.create_flag(), or check the key's spelling.")));
    }
  }
  return site->flag;
}


void ensure_attribute_room(FunctionCallInfo fcinfo, CallSite* site, const rollout::FlagSet* set) {
  const int needed = static_cast<int>(set->attribute_names().size());
  if (site->attribute_capacity < needed) {
    auto* grown = static_cast<rollout::AttributeValue*>(
        MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(rollout::AttributeValue) * needed));
    if (site->attributes != nullptr) pfree(site->attributes);
    site->attributes = grown;
    site->attribute_capacity = needed;
  }
}

// Fills the flag's attribute slots from a jsonb object (absent when not a key of it).
rollout::Subject subject_from_jsonb(FunctionCallInfo fcinfo, CallSite* site, const rollout::FlagSet* set,
                                    const rollout::CompiledFlag* flag, std::string_view user_id, int arg) {
  rollout::Subject subject;
  subject.user_id = user_id;
  const auto& slots = flag->attribute_slots();
  if (slots.empty()) return subject;
  ensure_attribute_room(fcinfo, site, set);
  subject.attributes = site->attributes;
  subject.attribute_count = set->attribute_names().size();
  Jsonb* attributes = jsonb_object_arg(fcinfo, arg);
  for (int slot : slots) site->attributes[slot] = jsonb_attribute(attributes, set->attribute_names()[slot]);
  return subject;
}

// A column's or argument's value as an attribute; integer and uuid text goes into column->text.
rollout::AttributeValue attribute_from_datum(Datum value, RowColumn& column) {
  switch (column.type) {
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID: {
      const text* t = DatumGetTextPP(value);
      return rollout::AttributeValue::String(std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
    }
    case INT2OID:
    case INT4OID:
    case INT8OID: {
      const int64 v = column.type == INT8OID   ? DatumGetInt64(value)
                      : column.type == INT4OID ? DatumGetInt32(value)
                                               : DatumGetInt16(value);
      const size_t n = rollout::format_decimal(v, column.text);
      return rollout::AttributeValue::Number(static_cast<double>(v), std::string_view(column.text, n));
    }
    case UNKNOWNOID:
      return rollout::AttributeValue::String(DatumGetCString(value));  // a literal
    case NUMERICOID:
      return number_attribute(DatumGetNumeric(value));
    case BOOLOID:
      return rollout::AttributeValue::Bool(DatumGetBool(value));
    case UUIDOID: {
      char(&out)[rollout::kUuidTextLength] = *reinterpret_cast<char(*)[rollout::kUuidTextLength]>(column.text);
      rollout::format_uuid(DatumGetUUIDP(value)->data, out);
      return rollout::AttributeValue::String(std::string_view(column.text, rollout::kUuidTextLength));
    }
    default: {
      const char* printed = OidOutputFunctionCall(column.output_function, value);
      if (column.type == FLOAT4OID || column.type == FLOAT8OID) {
        const double v = column.type == FLOAT8OID ? DatumGetFloat8(value) : DatumGetFloat4(value);
        return rollout::AttributeValue::Number(v, printed);
      }
      return rollout::AttributeValue::String(printed);
    }
  }
}

void describe_type(Oid type, RowColumn* column) {
  column->type = type;
  bool varlena;
  getTypeOutputInfo(type, &column->output_function, &varlena);
}

// The row form: maps attribute slots to the row type's columns once per query (and again only
// when the configuration or the row type changes), then reads just those columns per row.
rollout::Subject subject_from_row(FunctionCallInfo fcinfo, CallSite* site, const rollout::FlagSet* set,
                                  const rollout::CompiledFlag* flag, std::string_view user_id, int arg) {
  rollout::Subject subject;
  subject.user_id = user_id;
  const auto& slots = flag->attribute_slots();
  if (slots.empty() || PG_ARGISNULL(arg)) return subject;
  HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(arg);
  const Oid type = HeapTupleHeaderGetTypeId(row);
  const int32 typmod = HeapTupleHeaderGetTypMod(row);
  ensure_attribute_room(fcinfo, site, set);
  if (site->row_serial != site->serial || site->row_type != type || site->row_typmod != typmod ||
      site->columns == nullptr) {
    MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
    TupleDesc desc = lookup_rowtype_tupdesc(type, typmod);
    TupleDesc copy = CreateTupleDescCopy(desc);
    ReleaseTupleDesc(desc);
    const size_t count = set->attribute_names().size();
    auto* columns = static_cast<RowColumn*>(palloc0(sizeof(RowColumn) * (count == 0 ? 1 : count)));
    for (size_t slot = 0; slot < count; slot++) {
      const std::string& name = set->attribute_names()[slot];
      for (int i = 0; i < copy->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(copy, i);
        if (!att->attisdropped && name == NameStr(att->attname)) {
          columns[slot].attnum = att->attnum;
          describe_type(att->atttypid, &columns[slot]);
          break;
        }
      }
    }
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (copy->natts + 1)));
    bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * (copy->natts + 1)));
    MemoryContextSwitchTo(old);
    if (site->columns != nullptr) pfree(site->columns);
    if (site->row_values != nullptr) pfree(site->row_values);
    if (site->row_nulls != nullptr) pfree(site->row_nulls);
    if (site->row_desc != nullptr) FreeTupleDesc(site->row_desc);
    site->row_values = values;
    site->row_nulls = nulls;
    site->columns = columns;
    site->row_desc = copy;
    site->row_serial = site->serial;
    site->row_type = type;
    site->row_typmod = typmod;
  }
  HeapTupleData tuple;
  tuple.t_len = HeapTupleHeaderGetDatumLength(row);
  ItemPointerSetInvalid(&tuple.t_self);
  tuple.t_tableOid = InvalidOid;
  tuple.t_data = row;
  subject.attributes = site->attributes;
  subject.attribute_count = set->attribute_names().size();
  // One pass over the row for all its columns, rather than a walk from the start per column.
  heap_deform_tuple(&tuple, site->row_desc, site->row_values, site->row_nulls);
  for (int slot : slots) {
    rollout::AttributeValue& out = site->attributes[slot];
    RowColumn& column = site->columns[slot];
    out = rollout::AttributeValue::Absent();
    if (column.attnum == InvalidAttrNumber || site->row_nulls[column.attnum - 1]) continue;
    const Datum value = site->row_values[column.attnum - 1];
    out = attribute_from_datum(value, column);
  }
  return subject;
}

// The pairs form: feature_enabled_with(id, flag, 'tier', u.tier, 'country', u.country). The names
// are constants, matched to attribute slots once per configuration; per row only the values are
// read, as plain arguments: no row and no jsonb is built.
rollout::Subject subject_from_pairs(FunctionCallInfo fcinfo, CallSite* site, const rollout::FlagSet* set,
                                    const rollout::CompiledFlag* flag, std::string_view user_id) {
  rollout::Subject subject;
  subject.user_id = user_id;
  const int pairs = (PG_NARGS() - 2) / 2;
  if (site->pairs_serial != site->serial || site->pairs == nullptr) {
    if (get_fn_expr_variadic(fcinfo->flinfo) || (PG_NARGS() - 2) % 2 != 0) {
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("feature_enabled_with takes attribute names and values in pairs"),
                      errhint("Call it as feature_enabled_with(id, 'flag', 'tier', u.tier, 'country', u.country).")));
    }
    auto* map =
        static_cast<RowColumn*>(MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowColumn) * (pairs + 1)));
    for (int i = 0; i < pairs; i++) {
      const int name_arg = 2 + 2 * i;
      const Oid name_type = get_fn_expr_argtype(fcinfo->flinfo, name_arg);
      if (PG_ARGISNULL(name_arg) || (name_type != TEXTOID && name_type != UNKNOWNOID) ||
          !rollout_pg::argument_is_constant(fcinfo->flinfo, name_arg)) {
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("attribute name %d of feature_enabled_with must be a constant text", i + 1),
                        errhint("Write the names as literals: feature_enabled_with(id, 'flag', 'tier', u.tier).")));
      }
      // A literal name arrives as an unknown-type constant, which is a C string.
      std::string_view name_text;
      if (name_type == UNKNOWNOID) {
        name_text = DatumGetCString(PG_GETARG_DATUM(name_arg));
      } else {
        const text* name = PG_GETARG_TEXT_PP(name_arg);
        name_text = std::string_view(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
      }
      const int slot = set->attribute_slot(name_text);
      map[i].attnum = static_cast<AttrNumber>(slot + 1);  // 0: the configuration reads no such attribute
      describe_type(get_fn_expr_argtype(fcinfo->flinfo, name_arg + 1), &map[i]);
    }
    if (site->pairs != nullptr) pfree(site->pairs);
    site->pairs = map;
    site->pairs_serial = site->serial;
  }
  if (flag->attribute_slots().empty()) return subject;
  ensure_attribute_room(fcinfo, site, set);
  subject.attributes = site->attributes;
  subject.attribute_count = set->attribute_names().size();
  for (int slot : flag->attribute_slots()) site->attributes[slot] = rollout::AttributeValue::Absent();
  for (int i = 0; i < pairs; i++) {
    RowColumn& column = site->pairs[i];
    if (column.attnum == 0 || PG_ARGISNULL(3 + 2 * i)) continue;
    site->attributes[column.attnum - 1] = attribute_from_datum(PG_GETARG_DATUM(3 + 2 * i), column);
  }
  return subject;
}

Datum served_jsonb(CallSite* site, FunctionCallInfo fcinfo, const rollout::ServedValue* value) {
  if (site->last_value != value || site->value_serial != site->serial) {
    Datum parsed = DirectFunctionCall1(jsonb_in, CStringGetDatum(value->json.c_str()));
    Jsonb* copy = static_cast<Jsonb*>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE(DatumGetPointer(parsed))));
    memcpy(copy, DatumGetPointer(parsed), VARSIZE(DatumGetPointer(parsed)));
    if (site->last_value != nullptr) pfree(DatumGetPointer(site->last_jsonb));
    site->last_jsonb = PointerGetDatum(copy);
    site->last_value = value;
    site->value_serial = site->serial;
  }
  // A copy in the caller's context: the executor may free what it is given.
  const Size size = VARSIZE(DatumGetPointer(site->last_jsonb));
  void* result = palloc(size);
  memcpy(result, DatumGetPointer(site->last_jsonb), size);
  return PointerGetDatum(result);
}

// ---------------------------------------------------------------------------------------------

// Where feature_enabled's attributes come from: nowhere, a jsonb argument, a row, or name/value pairs.
enum class Attributes { kNone, kJsonb, kRow, kPairs };

// feature_enabled in all its forms. A plain flag (a percentage and nothing else) needs neither the
// attributes nor the evaluation time, so they are prepared only for flags that read them.
template <Attributes kFrom>
inline Datum enabled(FunctionCallInfo fcinfo, IdKind kind) {
  CallSite* site = call_site(fcinfo);
  const rollout::FlagSet* set;
  const rollout::CompiledFlag* flag = resolve_flag(fcinfo, site, 1, &set);
  if (flag == nullptr) PG_RETURN_BOOL(false);
  IdBuffer buffer;
  const std::string_view user_id = user_id_arg(fcinfo, kind, &buffer);
  // The pairs are checked (names constant, in pairs) whatever the flag, so they come first.
  if (kFrom != Attributes::kPairs && flag->plain()) {
    const bool result = flag->plain_enabled_for(user_id);
    count(site, set, flag, result);
    PG_RETURN_BOOL(result);
  }
  rollout::Subject subject;
  switch (kFrom) {
    case Attributes::kNone:
      subject.user_id = user_id;
      break;
    case Attributes::kJsonb:
      subject = subject_from_jsonb(fcinfo, site, set, flag, user_id, 2);
      break;
    case Attributes::kRow:
      subject = subject_from_row(fcinfo, site, set, flag, user_id, 2);
      break;
    case Attributes::kPairs:
      subject = subject_from_pairs(fcinfo, site, set, flag, user_id);
      break;
  }
  const bool result = flag->enabled_for(subject, rollout_evaluation_time_us());
  count(site, set, flag, result);
  PG_RETURN_BOOL(result);
}

inline Datum value(FunctionCallInfo fcinfo, IdKind kind) {
  CallSite* site = call_site(fcinfo);
  const rollout::FlagSet* set;
  const rollout::CompiledFlag* flag = resolve_flag(fcinfo, site, 1, &set);
  if (flag == nullptr) PG_RETURN_NULL();
  IdBuffer buffer;
  const rollout::Subject subject = subject_from_jsonb(fcinfo, site, set, flag, user_id_arg(fcinfo, kind, &buffer), 2);
  const rollout::Evaluation e = flag->evaluate(subject, rollout_evaluation_time_us());
  count(site, set, flag, e.value->on);
  return served_jsonb(site, fcinfo, e.value);
}

Datum text_or_null(const char* s, bool* isnull) {
  *isnull = s == nullptr;
  return s == nullptr ? (Datum)0 : CStringGetTextDatum(s);
}

inline Datum explain(FunctionCallInfo fcinfo, IdKind kind) {
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("feature_explain must be called in a context that accepts a row")));
  }
  desc = BlessTupleDesc(desc);
  CallSite* site = call_site(fcinfo);
  const rollout::FlagSet* set;
  const rollout::CompiledFlag* flag = resolve_flag(fcinfo, site, 1, &set);
  Datum values[7];
  bool nulls[7] = {false, false, false, false, false, false, false};
  if (flag == nullptr) {
    nulls[0] = nulls[2] = nulls[3] = nulls[4] = true;
    values[1] = CStringGetTextDatum(rollout::reason_name(rollout::Reason::kFlagNotFound));
    values[5] = CStringGetTextDatum(rollout::openfeature_reason(rollout::Reason::kFlagNotFound, false));
  } else {
    IdBuffer buffer;
    const rollout::Subject subject = subject_from_jsonb(fcinfo, site, set, flag, user_id_arg(fcinfo, kind, &buffer), 2);
    const rollout::Evaluation e = flag->evaluate(subject, rollout_evaluation_time_us());
    values[0] = served_jsonb(site, fcinfo, e.value);
    values[1] = CStringGetTextDatum(rollout::reason_name(e.reason));
    values[2] = Int32GetDatum(e.rule);
    nulls[2] = e.rule == 0;
    if (e.bucket >= 0) {
      char text[16];
      snprintf(text, sizeof text, "%d.%04d", e.bucket / 10000, e.bucket % 10000);
      values[3] =
          DirectFunctionCall3(numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    } else {
      nulls[3] = true;
    }
    values[4] = text_or_null(flag->variant_key(*e.value), &nulls[4]);
    values[5] = CStringGetTextDatum(rollout::openfeature_reason(e.reason, e.split));
  }
  values[6] = CStringGetTextDatum(set->environment().c_str());
  HeapTuple tuple = heap_form_tuple(desc, values, nulls);
  PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

inline Datum features(FunctionCallInfo fcinfo, IdKind kind) {
  InitMaterializedSRF(fcinfo, 0);
  auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  const rollout::FlagSet* set = rollout_current_flags(nullptr);
  CallSite* site = call_site(fcinfo);
  IdBuffer buffer;
  const std::string_view user_id = user_id_arg(fcinfo, kind, &buffer);
  const int64_t now = rollout_evaluation_time_us();
  for (size_t i = 0; i < set->size(); i++) {
    const rollout::CompiledFlag& flag = set->at(i);
    const rollout::Subject subject = subject_from_jsonb(fcinfo, site, set, &flag, user_id, 1);
    const rollout::Evaluation e = flag.evaluate(subject, now);
    if (rollout_counting) rollout_count(rollout_flag_counter(set->environment(), flag.key()), e.value->on);
    Datum values[2] = {CStringGetTextDatum(flag.key().c_str()),
                       DirectFunctionCall1(jsonb_in, CStringGetDatum(e.value->json.c_str()))};
    bool nulls[2] = {false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}

}  // namespace

extern "C" {

#define ROLLOUT_ENTRY(name, body, kind) \
  PG_FUNCTION_INFO_V1(name);            \
  Datum name(PG_FUNCTION_ARGS) { return body(fcinfo, kind); }

ROLLOUT_ENTRY(feature_enabled_bigint, enabled<Attributes::kNone>, IdKind::kBigint)
ROLLOUT_ENTRY(feature_enabled_text, enabled<Attributes::kNone>, IdKind::kText)
ROLLOUT_ENTRY(feature_enabled_uuid, enabled<Attributes::kNone>, IdKind::kUuid)
ROLLOUT_ENTRY(feature_enabled_bigint_jsonb, enabled<Attributes::kJsonb>, IdKind::kBigint)
ROLLOUT_ENTRY(feature_enabled_text_jsonb, enabled<Attributes::kJsonb>, IdKind::kText)
ROLLOUT_ENTRY(feature_enabled_uuid_jsonb, enabled<Attributes::kJsonb>, IdKind::kUuid)
ROLLOUT_ENTRY(feature_enabled_bigint_row, enabled<Attributes::kRow>, IdKind::kBigint)
ROLLOUT_ENTRY(feature_enabled_text_row, enabled<Attributes::kRow>, IdKind::kText)
ROLLOUT_ENTRY(feature_enabled_uuid_row, enabled<Attributes::kRow>, IdKind::kUuid)
ROLLOUT_ENTRY(feature_enabled_bigint_pairs, enabled<Attributes::kPairs>, IdKind::kBigint)
ROLLOUT_ENTRY(feature_enabled_text_pairs, enabled<Attributes::kPairs>, IdKind::kText)
ROLLOUT_ENTRY(feature_enabled_uuid_pairs, enabled<Attributes::kPairs>, IdKind::kUuid)
ROLLOUT_ENTRY(feature_value_bigint, value, IdKind::kBigint)
ROLLOUT_ENTRY(feature_value_text, value, IdKind::kText)
ROLLOUT_ENTRY(feature_value_uuid, value, IdKind::kUuid)
ROLLOUT_ENTRY(feature_explain_bigint, explain, IdKind::kBigint)
ROLLOUT_ENTRY(feature_explain_text, explain, IdKind::kText)
ROLLOUT_ENTRY(feature_explain_uuid, explain, IdKind::kUuid)
ROLLOUT_ENTRY(features_for_bigint, features, IdKind::kBigint)
ROLLOUT_ENTRY(features_for_text, features, IdKind::kText)
ROLLOUT_ENTRY(features_for_uuid, features, IdKind::kUuid)

PG_FUNCTION_INFO_V1(rollout_cache_stats);
Datum rollout_cache_stats(PG_FUNCTION_ARGS) {
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
  desc = BlessTupleDesc(desc);
  const rollout::FlagSet* set = rollout_current_flags(nullptr);
  Datum values[6] = {CStringGetTextDatum(set->environment().c_str()),
                     Int32GetDatum(static_cast<int32>(set->size())),
                     Int64GetDatum(static_cast<int64>(rollout_cache_version())),
                     Int64GetDatum(static_cast<int64>(rollout_cache_counters.hits)),
                     Int64GetDatum(static_cast<int64>(rollout_cache_counters.checks)),
                     Int64GetDatum(static_cast<int64>(rollout_cache_counters.reloads))};
  bool nulls[6] = {false, false, false, false, false, false};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

}  // extern "C"
