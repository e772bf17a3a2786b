// SQL-callable experiment evaluation and validation: experiment_variant (bigint, text and uuid
// user ids), rollout._experiment_decision (what experiment_assign builds on), and the validators
// the experiment tables' triggers call.
//
// The hot path mirrors feature_enabled's: the experiments come from the snapshot-exact cache
// (compiled from the same environment document as the flags), the experiment argument is resolved
// once per call site into fn_extra together with the configuration it was resolved in, and the
// variations' text results are built there once; per row the cost is the user id's text, one
// GrowthBook hash and a range lookup; the result is the variation's prepared text.
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/bucket.h"
#include "core/experiment.h"
#include "pg/flag_cache.h"
#include "pg/guc.h"
#include "pg/status.h"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/uuid.h"
}

#include "pg/border.h"
#include "pg/call_args.h"
#include "pg/counters.h"

namespace {

using rollout_pg::IdBuffer;
using rollout_pg::IdKind;
using rollout_pg::user_id_arg;
using rollout_pg::jsonb_attribute;
using rollout_pg::jsonb_object_arg;

// Per-call-site state, in fn_extra (fn_mcxt). Plain data only.
struct ExperimentSite {
  uint64 serial;  // the configuration `experiment` was resolved in
  const rollout::CompiledExperiment* experiment;
  bool key_stable_checked;
  bool key_stable;  // the experiment argument is a constant
  int key_length;
  int key_capacity;
  char* key;
  text** variation_text;  // per variation of `experiment`: its key as a text datum
  RolloutCounterSlot** counters;  // per variation: its evaluation counter (nullptr until counted)
  int variation_capacity;
  rollout::AttributeValue* attributes;  // per attribute name of `experiment`
  int attribute_capacity;
};

ExperimentSite* site_of(FunctionCallInfo fcinfo) {
  FmgrInfo* flinfo = fcinfo->flinfo;
  if (flinfo->fn_extra == nullptr) flinfo->fn_extra = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(ExperimentSite));
  return static_cast<ExperimentSite*>(flinfo->fn_extra);
}

// Resolves the experiment argument in the configuration the statement sees; nullptr: not found
// (rollout.missing_flag applied: off returns NULL silently, warning warns, error raises).
const rollout::CompiledExperiment* resolve_experiment(FunctionCallInfo fcinfo, ExperimentSite* site, int arg) {
  uint64_t serial;
  const rollout::ExperimentSet* set = rollout_current_experiments(&serial);
  if (likely(site->key_stable && site->serial == serial)) return site->experiment;
  if (PG_ARGISNULL(arg)) return nullptr;
  const text* name = PG_GETARG_TEXT_PP(arg);
  const char* key = VARDATA_ANY(name);
  const int length = static_cast<int>(VARSIZE_ANY_EXHDR(name));
  if (likely(site->serial == serial && site->key_length == length && memcmp(site->key, key, length) == 0)) {
    return site->experiment;
  }
  MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
  if (site->key_capacity < length) {
    char* grown = static_cast<char*>(MemoryContextAlloc(mcxt, length));
    if (site->key != nullptr) pfree(site->key);
    site->key = grown;
    site->key_capacity = length;
  }
  if (length > 0) memcpy(site->key, key, length);
  site->key_length = length;
  site->experiment = set->find(std::string_view(key, length));
  site->serial = serial;
  if (!site->key_stable_checked) {
    site->key_stable = rollout_pg::argument_is_constant(fcinfo->flinfo, arg);
    site->key_stable_checked = true;
  }
  const rollout::CompiledExperiment* x = site->experiment;
  if (x == nullptr) {
    const int mode = rollout_missing_flag_mode();
    if (mode == ROLLOUT_MISSING_ERROR) {
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("experiment \"%.*s\" does not exist", length, key),
                      errhint("Create it with rollout.create_experiment(), or SET rollout.missing_flag = off to "
                              "evaluate unknown experiments as NULL.")));
    }
    if (mode == ROLLOUT_MISSING_WARNING) {
      ereport(WARNING, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("experiment \"%.*s\" does not exist; evaluating it as NULL", length, key),
                        errhint("Create it with rollout.create_experiment(), or check the key's spelling.")));
    }
    return nullptr;
  }
  // The variations' results, built once per resolution.
  const int variations = static_cast<int>(x->variations().size());
  if (site->variation_capacity < variations) {
    auto** grown = static_cast<text**>(MemoryContextAllocZero(mcxt, sizeof(text*) * variations));
    if (site->variation_text != nullptr) pfree(site->variation_text);
    site->variation_text = grown;
    auto** slots = static_cast<RolloutCounterSlot**>(MemoryContextAllocZero(mcxt, sizeof(RolloutCounterSlot*) * variations));
    if (site->counters != nullptr) pfree(site->counters);
    site->counters = slots;
    site->variation_capacity = variations;
  }
  // Counter slots belong to one experiment's variations: looked up again for this one.
  for (int i = 0; i < variations; i++) site->counters[i] = nullptr;
  for (int i = 0; i < variations; i++) {
    if (site->variation_text[i] != nullptr) pfree(site->variation_text[i]);
    const std::string& k = x->variations()[i].key;
    MemoryContext old = MemoryContextSwitchTo(mcxt);
    site->variation_text[i] = cstring_to_text_with_len(k.data(), static_cast<int>(k.size()));
    MemoryContextSwitchTo(old);
  }
  const int attributes = static_cast<int>(x->attribute_names().size());
  if (site->attribute_capacity < attributes) {
    auto* grown = static_cast<rollout::AttributeValue*>(
        MemoryContextAllocZero(mcxt, sizeof(rollout::AttributeValue) * attributes));
    if (site->attributes != nullptr) pfree(site->attributes);
    site->attributes = grown;
    site->attribute_capacity = attributes;
  }
  return x;
}

// The experiment's attributes (hash attribute, constraint attributes) from a jsonb object.
rollout::ExperimentSubject subject_of(FunctionCallInfo fcinfo, ExperimentSite* site,
                                      const rollout::CompiledExperiment* x, std::string_view user_id, int arg) {
  rollout::ExperimentSubject subject{user_id, site->attributes};
  const auto& names = x->attribute_names();
  if (names.empty()) return subject;
  Jsonb* attributes = jsonb_object_arg(fcinfo, arg);
  for (size_t i = 0; i < names.size(); i++) site->attributes[i] = jsonb_attribute(attributes, names[i]);
  return subject;
}

// A variation's text. With a constant experiment argument the texts live as long as the query (a
// new configuration is resolved only at a later statement), so the result can be the text itself,
// as functions returning one of their arguments do: nobody frees or changes a result it does not
// own. With a varying argument the texts are rebuilt when the key changes, so callers get a copy.
Datum variation_datum(ExperimentSite* site, int variation) {
  const text* t = site->variation_text[variation];
  if (site->key_stable) return PointerGetDatum(t);
  void* copy = palloc(VARSIZE(t));
  memcpy(copy, t, VARSIZE(t));
  return PointerGetDatum(copy);
}

inline Datum variant(FunctionCallInfo fcinfo, IdKind kind) {
  ExperimentSite* site = site_of(fcinfo);
  const rollout::CompiledExperiment* x = resolve_experiment(fcinfo, site, 1);
  if (x == nullptr) PG_RETURN_NULL();
  IdBuffer buffer;
  const rollout::ExperimentSubject subject = subject_of(fcinfo, site, x, user_id_arg(fcinfo, kind, &buffer), 2);
  const rollout::ExperimentDecision d = x->evaluate(subject, x->scheduled() ? rollout_evaluation_time_us() : 0);
  if (d.variation < 0) PG_RETURN_NULL();
  if (rollout_counting) {  // counters.h: two increments on the hot path
    RolloutCounterSlot*& slot = site->counters[d.variation];
    if (unlikely(slot == nullptr)) slot = rollout_experiment_counter(x->key(), d.variation);
    rollout_count(slot, true);
  }
  return variation_datum(site, d.variation);
}

}  // namespace

extern "C" {

#define ROLLOUT_EXPERIMENT_ENTRY(name, body, kind) \
  PG_FUNCTION_INFO_V1(name);                       \
  Datum name(PG_FUNCTION_ARGS) { return body(fcinfo, kind); }

ROLLOUT_EXPERIMENT_ENTRY(experiment_variant_bigint, variant, IdKind::kBigint)
ROLLOUT_EXPERIMENT_ENTRY(experiment_variant_text, variant, IdKind::kText)
ROLLOUT_EXPERIMENT_ENTRY(experiment_variant_uuid, variant, IdKind::kUuid)

// rollout._experiment_decision(user_id text, experiment text, attributes jsonb): the experiment's
// id, the step that decided (INACTIVE, NO_HASH_VALUE, NAMESPACE, TARGETING, COVERAGE, FORCED,
// STOPPED, ASSIGNED), the variation served, the forced variation and the status, for
// experiment_assign's sticky logic. All NULL for an unknown experiment.
PG_FUNCTION_INFO_V1(rollout_experiment_decision);
Datum rollout_experiment_decision(PG_FUNCTION_ARGS) {
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
  desc = BlessTupleDesc(desc);
  ExperimentSite* site = site_of(fcinfo);
  const rollout::CompiledExperiment* x = resolve_experiment(fcinfo, site, 1);
  Datum values[5] = {0, 0, 0, 0, 0};
  bool nulls[5] = {true, true, true, true, true};
  if (x != nullptr) {
    IdBuffer buffer;
    const rollout::ExperimentSubject subject =
        subject_of(fcinfo, site, x, user_id_arg(fcinfo, IdKind::kText, &buffer), 2);
    const rollout::ExperimentDecision d = x->evaluate(subject, rollout_evaluation_time_us());
    values[0] = Int64GetDatum(x->id());
    values[1] = CStringGetTextDatum(rollout::experiment_step_name(d.step));
    nulls[0] = nulls[1] = false;
    if (d.variation >= 0) {
      values[2] = variation_datum(site, d.variation);
      nulls[2] = false;
    }
    if (x->forced_variation() >= 0) {
      values[3] = variation_datum(site, x->forced_variation());
      nulls[3] = false;
    }
    values[4] = CStringGetTextDatum(rollout::experiment_status_name(x->status()));
    nulls[4] = false;
  }
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

// rollout._validate_experiment_settings(coverage, hash_version, namespace_start, namespace_end)
PG_FUNCTION_INFO_V1(rollout_validate_experiment_settings);
Datum rollout_validate_experiment_settings(PG_FUNCTION_ARGS) {
  for (int i = 0; i < 4; i++) {
    if (PG_ARGISNULL(i)) {
      ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("experiment settings must not be NULL"),
                      errhint("Coverage is 0 to 1, the hash version 1 or 2, the namespace range 0 to 1.")));
    }
  }
  const double coverage = PG_GETARG_FLOAT8(0);
  const int32 hash_version = PG_GETARG_INT32(1);
  const double start = PG_GETARG_FLOAT8(2);
  const double end = PG_GETARG_FLOAT8(3);
  rollout_pg::Problem problem;
  rollout_pg::call_core("validating an experiment",
                        [&] { problem.set(rollout::ValidateExperimentSettings(coverage, hash_version, start, end)); });
  if (problem.failed) problem.raise("invalid experiment");
  PG_RETURN_VOID();
}

// rollout._validate_experiment_variations(keys text[], weights float8[])
PG_FUNCTION_INFO_V1(rollout_validate_experiment_variations);
Datum rollout_validate_experiment_variations(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("variations and weights must not be NULL"),
                    errhint("Give variation keys and one weight per variation.")));
  }
  ArrayType* key_array = PG_GETARG_ARRAYTYPE_P(0);
  ArrayType* weight_array = PG_GETARG_ARRAYTYPE_P(1);
  Datum* key_values;
  bool* key_nulls;
  int key_count;
  deconstruct_array(key_array, TEXTOID, -1, false, TYPALIGN_INT, &key_values, &key_nulls, &key_count);
  for (int i = 0; i < key_count; i++) {
    if (key_nulls[i]) {
      ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a variation key is NULL"),
                      errhint("Variation keys are non-empty text, e.g. ARRAY['control', 'treatment'].")));
    }
  }
  char** keys = static_cast<char**>(palloc(sizeof(char*) * (key_count + 1)));
  for (int i = 0; i < key_count; i++) keys[i] = TextDatumGetCString(key_values[i]);
  Datum* weight_values;
  bool* weight_nulls;
  int weight_count;
  deconstruct_array(weight_array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &weight_values,
                    &weight_nulls, &weight_count);
  for (int i = 0; i < weight_count; i++) {
    if (weight_nulls[i]) {
      ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("weight %d is NULL", i + 1),
                      errhint("Weights are fractions from 0 to 1 that sum to 1, e.g. {0.5,0.5}.")));
    }
  }
  double* weights = static_cast<double*>(palloc(sizeof(double) * (weight_count + 1)));
  for (int i = 0; i < weight_count; i++) weights[i] = DatumGetFloat8(weight_values[i]);
  rollout_pg::Problem problem;
  rollout_pg::call_core("validating variations", [&] {
    const std::vector<std::string> k(keys, keys + key_count);
    const std::vector<double> w(weights, weights + weight_count);
    problem.set(rollout::ValidateExperimentVariations(k, w));
  });
  if (problem.failed) problem.raise("invalid experiment");
  PG_RETURN_VOID();
}

// rollout._validate_experiment_transition(from text, to text)
PG_FUNCTION_INFO_V1(rollout_validate_experiment_transition);
Datum rollout_validate_experiment_transition(PG_FUNCTION_ARGS) {
  const char* from = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
  const char* to = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
  rollout::ExperimentStatus f, t;
  if (!rollout::parse_experiment_status(to, &t)) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown experiment status \"%s\"", to),
                    errhint("An experiment is draft, running, paused or stopped.")));
  }
  if (!rollout::parse_experiment_status(from, &f) || !rollout::experiment_transition_allowed(f, t)) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("an experiment cannot go from %s to %s", from, to),
                    errhint("Allowed: draft -> running, running -> paused, paused -> running, running or paused -> "
                            "stopped; a stopped experiment stays stopped (create a new one to run again).")));
  }
  PG_RETURN_VOID();
}

}  // extern "C"
