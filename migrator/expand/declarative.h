// A declarative migration: <dir>/<version>_<name>/migration.yaml instead of up.sql/down.sql.
//
//   requires_flag: {flag: new_checkout, environment: production, percentage: 100}   # optional
//   operations:
//     - rename_column: {table: orders, from: descr, to: description}
//     - alter_column: {table: orders, column: price, type: integer, up: "price::integer", down: "price::text"}
//     - add_column: {table: orders, column: {name: status, type: text, not_null: true}, up: "'new'"}
//
// Every key is checked; a mistake is "<file>:<line>: ..." (Error kInvalidMigrations). The operations
// and their keys are listed in the README ("Expand–contract migrations").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "migrator/expand/operation.h"

namespace migrator::expand {

// complete refuses while the flag's rollout in the environment is below `percentage` (see
// PhaseRunner::check_flag in phases.h for what the rollout is).
struct FlagGate {
  std::string flag;
  std::string environment = "production";
  double percentage = 100;
  std::string where;  // "<file>:<line>" of requires_flag
};

struct Declarative {
  std::string path;
  std::optional<FlagGate> requires_flag;
  std::vector<std::unique_ptr<Operation>> operations;
  std::string where(const Operation& operation) const { return path + ":" + std::to_string(operation.line()); }
};

// Parses and checks `text` read from `path`: YAML syntax, every operation and key, one operation
// per column and per created, dropped or renamed table. Throws Error(kInvalidMigrations).
Declarative parse_declarative(const std::string& text, const std::string& path);

// The operation names a migration.yaml may use, in the order the README lists them.
const std::vector<std::string>& operation_kinds();

}  // namespace migrator::expand
