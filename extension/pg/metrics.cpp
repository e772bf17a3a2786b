// SQL-callable statistics: rollout._experiment_statistics, the arithmetic behind
// rollout.experiment_results (the counting is SQL; the statistics are the core's, stats.h).
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/stats.h"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

#include "pg/border.h"

namespace {

constexpr int kColumns = 11;
constexpr double kConfidence = 0.95;

// The elements of a one-dimensional array without NULLs, palloc'd; its length in *count.
template <typename T>
T* array_elements(FunctionCallInfo fcinfo, int arg, Oid type, const char* name, int* count) {
  ArrayType* array = PG_GETARG_ARRAYTYPE_P(arg);
  if (ARR_ELEMTYPE(array) != type) elog(ERROR, "%s has the wrong element type", name);
  int16 length;
  bool byval;
  char align;
  get_typlenbyvalalign(type, &length, &byval, &align);
  Datum* datums;
  bool* nulls;
  deconstruct_array(array, type, length, byval, align, &datums, &nulls, count);
  T* out = static_cast<T*>(palloc(sizeof(T) * (*count + 1)));
  for (int i = 0; i < *count; i++) {
    if (nulls[i]) {
      ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not contain NULL", name)));
    }
    if constexpr (std::is_same_v<T, double>) {
      out[i] = DatumGetFloat8(datums[i]);
    } else {
      out[i] = DatumGetInt64(datums[i]);
    }
  }
  return out;
}

// One row of results per variation, plain data so an ERROR may unwind past it.
struct Row {
  double values[kColumns - 1];  // conversion_rate .. sequential_ci_high, NaN for NULL
};

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(rollout_experiment_statistics);
Datum rollout_experiment_statistics(PG_FUNCTION_ARGS) {
  for (int arg = 0; arg < 3; arg++) {
    if (PG_ARGISNULL(arg)) PG_RETURN_NULL();
  }
  int variations, exposed_count, converted_count;
  const double* weights = array_elements<double>(fcinfo, 0, FLOAT8OID, "weights", &variations);
  const int64* exposed = array_elements<int64>(fcinfo, 1, INT8OID, "exposed", &exposed_count);
  const int64* converted = array_elements<int64>(fcinfo, 2, INT8OID, "converted", &converted_count);
  if (exposed_count != variations || converted_count != variations) {
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                    errmsg("weights, exposed and converted must have one element per variation")));
  }
  for (int i = 0; i < variations; i++) {
    if (exposed[i] < 0 || converted[i] < 0 || converted[i] > exposed[i] || !(weights[i] >= 0)) {
      ereport(ERROR,
              (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
               errmsg("variation %d: counts must satisfy 0 <= converted <= exposed and its weight be >= 0", i + 1)));
    }
  }
  const bool sequential = !PG_ARGISNULL(3) && !PG_ARGISNULL(4);
  int look_cells = 0;
  const int64* look_exposed = nullptr;
  const int64* look_converted = nullptr;
  if (sequential) {
    int converted_cells;
    look_exposed = array_elements<int64>(fcinfo, 3, INT8OID, "look_exposed", &look_cells);
    look_converted = array_elements<int64>(fcinfo, 4, INT8OID, "look_converted", &converted_cells);
    if (variations == 0 || converted_cells != look_cells || look_cells % variations != 0) {
      ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                      errmsg("look_exposed and look_converted must have one element per look and variation")));
    }
  }
  const double tau = PG_ARGISNULL(5) ? 0.01 : PG_GETARG_FLOAT8(5);
  if (!(tau > 0) || std::isinf(tau)) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("tau must be a positive number")));
  }

  Row* rows = static_cast<Row*>(palloc(sizeof(Row) * (variations + 1)));
  rollout_pg::call_core("computing experiment statistics", [&] {
    namespace stats = rollout::stats;
    const double nan = std::nan("");
    std::vector<int64_t> observed(exposed, exposed + variations);
    std::vector<double> weight_list(weights, weights + variations);
    const double srm = stats::sample_ratio_p_value(observed, weight_list);
    const int looks = sequential ? look_cells / variations : 0;
    for (int i = 0; i < variations; i++) {
      double* out = rows[i].values;
      for (double& v : rows[i].values) v = nan;
      out[0] = exposed[i] > 0 ? static_cast<double>(converted[i]) / static_cast<double>(exposed[i]) : nan;
      out[6] = srm;
      if (i == 0) continue;  // the control: no lift against itself
      const stats::ProportionComparison c =
          stats::compare_proportions(exposed[0], converted[0], exposed[i], converted[i], kConfidence);
      out[1] = c.absolute_lift;
      out[2] = c.relative_lift;
      out[3] = c.ci_low;
      out[4] = c.ci_high;
      out[5] = c.p_value;
      if (!sequential) continue;
      stats::SequentialTest test(tau, 1.0 - kConfidence);
      for (int look = 0; look < looks; look++) {
        const int base = look * variations;
        test.look(look_exposed[base], look_converted[base], look_exposed[base + i], look_converted[base + i]);
      }
      out[7] = test.p_value();
      out[8] = test.ci_low();
      out[9] = test.ci_high();
    }
  });

  InitMaterializedSRF(fcinfo, 0);
  auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  for (int i = 0; i < variations; i++) {
    Datum values[kColumns];
    bool nulls[kColumns];
    values[0] = Int32GetDatum(i + 1);
    nulls[0] = false;
    for (int c = 1; c < kColumns; c++) {
      const double v = rows[i].values[c - 1];
      // NaN is "does not exist"; an infinite sequential bound (no informative look yet) too.
      nulls[c] = std::isnan(v) || std::isinf(v);
      values[c] = Float8GetDatum(nulls[c] ? 0.0 : v);
    }
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}

}  // extern "C"
