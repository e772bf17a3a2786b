// Internals shared by the linter's rule files: the schema the scripts have built so far, and the
// statement being linted. Not part of the linter's interface (see lint.h).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "migrator/lint/lint.h"

namespace migrator::lint {

using json = nlohmann::json;

// A column type reduced to what decides whether changing it rewrites the table: the type's
// catalog name (varchar, numeric, text, ...) and its modifiers (length; precision and scale).
struct ColumnType {
  std::string name;
  std::vector<int64_t> mods;
  std::string display() const;
};

// From a parse tree's TypeName; nullopt for %TYPE, arrays of unknown shape, etc.
std::optional<ColumnType> type_from_tree(const json& type_name);
// From the catalog (typname and atttypmod decoded as PostgreSQL stores them).
ColumnType type_from_catalog(const CatalogType& type);
// Whether ALTER COLUMN TYPE from `from` to `to` (without USING) keeps the table as it is
// (PostgreSQL's ATColumnChangeRequiresRewrite: binary-coercible types, a typmod that only widens).
bool type_change_keeps_table(const ColumnType& from, const ColumnType& to);
// Built-in functions PostgreSQL declares VOLATILE that appear in column defaults.
bool well_known_volatile(const std::string& function);

struct TableRef {
  std::string schema;  // empty: unqualified
  std::string name;
  // Identity within one lint run: unqualified and public are the same table.
  std::string key() const { return (schema.empty() || schema == "public" ? "" : schema + ".") + name; }
  std::string display() const { return schema.empty() ? name : schema + "." + name; }
};
TableRef table_ref(const json& range_var);

struct KnownTable {
  int created_in_script = -1;  // index of the script that created it; -1 if none of them did
  std::map<std::string, ColumnType> columns;
  std::set<std::string> not_null_checked;  // columns with a validated CHECK (col IS NOT NULL)
  // NOT VALID constraints not yet validated: name -> the column it checks IS NOT NULL ("" if other).
  std::map<std::string, std::string> not_valid;
  // NOT VALID constraints added by the current script (for validate-in-same-transaction).
  std::set<std::string> not_valid_this_script;
};

// The column a CHECK expression tests IS NOT NULL, if that is all it does.
std::optional<std::string> not_null_check_column(const json& expr);

// Calls `visit` on every object node of `tree`, depth first.
void walk(const json& tree, const std::function<void(const std::string& node, const json& body)>& visit);

// Last element of a name list ([{"String": {"sval": ...}}, ...]).
std::string last_name(const json& names);

// What a rule that concerns a table may be excused by.
enum class Excuse {
  kNone,        // flagged whatever the table (renames and drops break the application)
  kNew,         // not flagged on a table created by this script or a pending one
  kNewOrSmall,  // ... nor on a table the catalog estimates below the row threshold
};

// One statement being linted, with the run's state; rule functions report through it.
struct StatementScope {
  const LintScript& script;
  int script_index;  // position of the script in the run
  int line;          // the statement's first line
  std::map<std::string, KnownTable>& tables;
  std::map<std::string, TableRef>& indexes;  // indexes the scripts created: key as TableRef::key() -> table
  // Enum values added by this script's ALTER TYPE ... ADD VALUE: value -> "type" and line.
  std::map<std::string, std::pair<std::string, int>>& enum_values_this_script;
  const std::set<std::string>& statement_allow;  // from -- migrator:lint-allow comments
  const LintOptions& options;
  std::vector<Finding>& out;

  // Reports `rule` unless `table` is excused as `excuse` says, or marks it allowed.
  void report(const std::string& rule, const std::optional<TableRef>& table, Excuse excuse, const std::string& message,
              const std::string& hint);

  // Created by this script, or by an earlier pending one (the catalog says it does not exist yet).
  bool is_new(const TableRef& table);
  // The known table entry, created empty if needed.
  KnownTable& known(const TableRef& table) { return tables[table.key()]; }
  // What the scripts so far made of the column, else what the catalog says; nullopt if neither knows.
  std::optional<ColumnType> column_type(const TableRef& table, const std::string& column);
  // Whether a validated CHECK (column IS NOT NULL) exists (from the scripts or the catalog).
  bool column_not_null_checked(const TableRef& table, const std::string& column);
  // The catalog's pg_proc.provolatile if it knows the name, else the well-known list.
  bool volatile_function(const std::string& name);
};

// Rule families, one file each. Each reads one top-level statement node and updates the schema.
void lint_alter_table(const json& body, StatementScope& scope);                         // alter_table_rules.cpp
void lint_create_table(const json& body, StatementScope& scope);                        // alter_table_rules.cpp
void lint_index(const std::string& node, const json& body, StatementScope& scope);      // index_rules.cpp
void lint_statement(const std::string& node, const json& body, StatementScope& scope);  // statement_rules.cpp

}  // namespace migrator::lint
