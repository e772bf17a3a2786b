// Column types and function volatility: what decides whether a type change or a default rewrites
// the table.
#include <algorithm>

#include "migrator/lint/context.h"

namespace migrator::lint {

std::string ColumnType::display() const {
  std::string text = name;
  for (size_t i = 0; i < mods.size(); ++i) text += (i == 0 ? "(" : ",") + std::to_string(mods[i]);
  return mods.empty() ? text : text + ")";
}

std::string last_name(const json& names) {
  if (!names.is_array() || names.empty()) return "";
  const json& last = names.back();
  if (last.contains("String")) return last["String"].value("sval", "");
  return "";
}

namespace {

// Modifiers written in a different but equal way: numeric(10) is numeric(10,0).
void normalize(ColumnType& type) {
  if (type.name == "numeric" && type.mods.size() == 1) type.mods.push_back(0);
}

}  // namespace

std::optional<ColumnType> type_from_tree(const json& type_name) {
  if (!type_name.is_object() || type_name.contains("pct_type")) return std::nullopt;
  ColumnType type;
  type.name = last_name(type_name.value("names", json::array()));
  if (type.name.empty()) return std::nullopt;
  if (type_name.contains("arrayBounds")) type.name = "_" + type.name;
  for (const json& mod : type_name.value("typmods", json::array())) {
    if (!mod.contains("A_Const")) return std::nullopt;
    const json& constant = mod["A_Const"];
    if (!constant.contains("ival")) return std::nullopt;  // {"ival": {}} is 0 in libpg_query's JSON
    type.mods.push_back(constant["ival"].value("ival", 0));
  }
  normalize(type);
  return type;
}

ColumnType type_from_catalog(const CatalogType& catalog) {
  ColumnType type{catalog.name, {}};
  int32_t typmod = catalog.typmod;
  if (type.name == "varchar" || type.name == "bpchar") {
    if (typmod >= 4) type.mods = {typmod - 4};
  } else if (type.name == "numeric") {
    if (typmod >= 4) type.mods = {((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff};
  } else if (typmod >= 0) {
    type.mods = {typmod};  // bit, varbit, time(stamp) precision: the typmod itself
  }
  return type;
}

bool type_change_keeps_table(const ColumnType& from, const ColumnType& to) {
  if (from.name == to.name) {
    if (from.mods == to.mods) return true;
    const std::string& name = from.name;
    bool length_limited = name == "varchar" || name == "varbit" || name == "timestamp" || name == "timestamptz" ||
                          name == "time" || name == "timetz";
    if (length_limited) return to.mods.empty() || (!from.mods.empty() && to.mods[0] >= from.mods[0]);
    if (name == "numeric") {
      // More digits before the point at the same scale, or no limit: the stored values stay valid as
      // they are (numeric_support in PostgreSQL's numeric.c).
      return to.mods.empty() ||
             (from.mods.size() == 2 && to.mods.size() == 2 && to.mods[1] == from.mods[1] && to.mods[0] >= from.mods[0]);
    }
    return false;
  }
  // Binary-coercible pairs with no length check (pg_cast castmethod 'b').
  if (from.name == "varchar" && to.name == "text") return true;
  if (from.name == "text" && to.name == "varchar") return to.mods.empty();
  if (from.name == "cidr" && to.name == "inet") return true;
  return false;
}

bool well_known_volatile(const std::string& function) {
  // pg_proc.provolatile = 'v' in PostgreSQL 15 (and uuid-ossp, pgcrypto); now(),
  // current_timestamp, statement_timestamp() are STABLE and take PostgreSQL 11's fast default.
  static const char* const kVolatile[] = {
      "random",           "gen_random_uuid",  "uuid_generate_v1", "uuid_generate_v1mc",
      "uuid_generate_v4", "clock_timestamp",  "timeofday",        "nextval",
      "setval",           "gen_random_bytes", "txid_current",     "pg_current_xact_id"};
  return std::any_of(std::begin(kVolatile), std::end(kVolatile), [&](const char* name) { return function == name; });
}

}  // namespace migrator::lint
