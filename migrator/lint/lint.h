// The migration linter: finds statements that lock or rewrite a busy table, or break the
// application, in up.sql scripts. It reads libpg_query parse trees (never the text), so words in
// comments, strings and function bodies never raise an alarm; it follows the schema the scripts
// build (a table created earlier in the same script is new, so its index needs no CONCURRENTLY),
// and, given a Catalog, the database itself (row estimates, column types, function volatility).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace migrator {

struct Finding {
  std::string rule;  // kebab-case, stable: see lint_rules()
  std::string path;
  int line = 1;  // the statement's first line
  std::string message;
  std::string hint;        // the safe alternative
  bool allowed = false;    // allowed by a comment or --lint-allow: reported, not refused
  std::string allowed_by;  // "statement comment", "file header", "--lint-allow"; empty unless allowed

  // "path:line: rule: message" then "\n  hint: ..."; allowed ones end with " (allowed by ...)".
  std::string format() const;
  nlohmann::json to_json() const;
};

struct LintRule {
  std::string name;
  std::string summary;
};

// Every rule, in a stable order.
const std::vector<LintRule>& lint_rules();
bool is_lint_rule(const std::string& name);

// A column's type as the catalog stores it: pg_type.typname ("varchar", "numeric", "int4") and
// pg_attribute.atttypmod (-1 if none).
struct CatalogType {
  std::string name;
  int32_t typmod = -1;
};

// What the linter may ask the database. Names are as written in the migration (schema may be empty:
// the search path decides). Every method answers nullopt / empty when it does not know.
class Catalog {
 public:
  virtual ~Catalog() = default;
  // Estimated rows of a table (pg_class.reltuples scaled to the current size in pages, as the
  // planner does); nullopt if no such table exists.
  virtual std::optional<double> estimated_rows(const std::string& schema, const std::string& table) = 0;
  // Reads what estimated_rows() answers for each of `tables` ({schema, table}) at once, so that the
  // calls that follow for them need no query of their own (a run lints many scripts naming many
  // tables). A hint: the default does nothing.
  virtual void prefetch_rows(const std::vector<std::pair<std::string, std::string>>& tables) { (void)tables; }
  // 'i', 's' or 'v' (pg_proc.provolatile; the most volatile overload of that name); nullopt if unknown.
  virtual std::optional<char> function_volatility(const std::string& name) = 0;
  virtual std::optional<CatalogType> column_type(const std::string& schema, const std::string& table,
                                                 const std::string& column) = 0;
  // pg_get_constraintdef() of each validated CHECK constraint of the table.
  virtual std::vector<std::string> validated_checks(const std::string& schema, const std::string& table) = 0;
  // The table an existing index belongs to, as {schema, table}; nullopt if no such index.
  virtual std::optional<std::pair<std::string, std::string>> index_table(const std::string& schema,
                                                                         const std::string& index) = 0;
};

struct LintOptions {
  std::set<std::string> allow;  // rules allowed everywhere (--lint-allow)
  // With a catalog: tables with fewer estimated rows do not need CONCURRENTLY or NOT VALID.
  double row_threshold = 10000;
  Catalog* catalog = nullptr;  // not owned; null lints from the scripts alone
  // Where to say why a statement was not flagged (a small table); nothing if null.
  std::ostream* verbose = nullptr;
};

// One up.sql to lint, in version order.
struct LintScript {
  std::string path;
  std::string sql;
  bool transactional = true;  // runs as one transaction (false: statement by statement)
  // Rules the file's header allows (-- migrator: lint-allow=RULE).
  std::set<std::string> allow;
};

// Lints scripts in order, remembering the schema they build: tables, their columns' types and
// validated NOT NULL checks. A table created by an earlier script counts as new only when the
// catalog says it does not exist yet (the earlier script is pending); without a catalog only tables
// created in the same script are new.
class Linter {
 public:
  explicit Linter(LintOptions options);
  ~Linter();
  Linter(const Linter&) = delete;
  Linter& operator=(const Linter&) = delete;

  // The findings of `script`, in statement order.
  // Throws Error(kMigrationFailed) "<path>:<line>: syntax error ..." if it does not parse, and
  // Error(kInvalidMigrations) "<path>:<line>: unknown lint rule ..." for an allow comment naming
  // no rule.
  std::vector<Finding> lint(const LintScript& script);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace migrator
