#include "migrator/expand/declarative.h"

#include <map>
#include <set>

#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"
#include "migrator/expand/yaml_fields.h"

namespace migrator::expand {
namespace {

using Parser = std::unique_ptr<Operation> (*)(const Fields&, int);

struct Kind {
  const char* name;
  Parser parse;
  std::vector<const char*> keys;
};

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> all = {
      {"add_column", parse_add_column, {"table", "column", "up"}},
      {"drop_column", parse_drop_column, {"table", "column", "down"}},
      {"rename_column", parse_rename_column, {"table", "from", "to"}},
      {"alter_column",
       parse_alter_column,
       {"table", "column", "type", "up", "down", "not_null", "default", "check", "unique", "references"}},
      {"create_index", parse_create_index, {"name", "table", "columns", "unique", "method", "where"}},
      {"drop_index", parse_drop_index, {"name"}},
      {"create_table", parse_create_table, {"table", "columns"}},
      {"drop_table", parse_drop_table, {"table"}},
      {"rename_table", parse_rename_table, {"from", "to"}},
      {"sql", parse_sql, {"up", "down"}},
  };
  return all;
}

}  // namespace

const std::vector<std::string>& operation_kinds() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> list;
    for (const Kind& kind : kinds()) list.push_back(kind.name);
    return list;
  }();
  return names;
}

Declarative parse_declarative(const std::string& text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(ExitCode::kInvalidMigrations,
                path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  Declarative declarative;
  declarative.path = path;
  if (!root.IsMap()) {
    throw Error(ExitCode::kInvalidMigrations, path + ":1: migration.yaml expects a mapping with `operations:`");
  }
  Fields top(path, root, "migration.yaml", {"operations", "requires_flag"});
  if (top.has("requires_flag")) {
    Fields gate(path, top.child("requires_flag"), "requires_flag", {"flag", "environment", "percentage"});
    FlagGate flag;
    flag.flag = gate.text("flag");
    flag.environment = gate.optional_text("environment").value_or("production");
    flag.where = gate.at();
    if (gate.has("percentage")) {
      std::string value = gate.text("percentage");
      size_t used = 0;
      try {
        flag.percentage = std::stod(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || !(flag.percentage >= 0 && flag.percentage <= 100)) {
        invalid_at(path, gate.child("percentage"),
                   "requires_flag.percentage expects a number from 0 to 100, got '" + value + "'");
      }
    }
    declarative.requires_flag = flag;
  }
  YAML::Node operations = top.child("operations");
  if (!operations.IsSequence() || operations.size() == 0) {
    invalid_at(path, operations,
               "operations expects a non-empty list, e.g. - rename_column: {table: t, from: a, to: b}");
  }
  std::map<std::string, int> columns;  // "schema.table.column" -> line of the operation that changes it
  std::vector<const Operation*> indexes;                      // the create_index operations so far
  std::map<std::string, std::pair<int, std::string>> tables;  // tables created, dropped or renamed -> line, kind
  std::map<std::string, int> touched;                         // every table an operation changes -> line of the first
  for (const auto& item : operations) {
    if (!item.IsMap() || item.size() != 1) {
      invalid_at(
          path, item, "each operation is a mapping with one key, the operation's name (" + [] {
            std::string list;
            for (const std::string& k : operation_kinds()) list += (list.empty() ? "" : ", ") + k;
            return list;
          }() + ")");
    }
    auto entry = *item.begin();
    std::string name = entry.first.IsScalar() ? entry.first.Scalar() : "";
    const Kind* kind = nullptr;
    for (const Kind& k : kinds()) {
      if (name == k.name) kind = &k;
    }
    int line = entry.first.Mark().line + 1;
    if (kind == nullptr) {
      std::string list;
      for (const std::string& k : operation_kinds()) list += (list.empty() ? "" : ", ") + k;
      invalid_at(path, entry.first, "unknown operation '" + name + "'; known operations: " + list);
    }
    Fields fields(path, entry.second, name, kind->keys);
    std::unique_ptr<Operation> operation = kind->parse(fields, line);
    std::string at = path + ":" + std::to_string(line);
    for (const std::string& column : operation->columns()) {
      auto [it, fresh] = columns.emplace(column, line);
      if (!fresh) {
        throw Error(ExitCode::kInvalidMigrations, at + ": " + name + " changes " + column +
                                                      ", which the operation at line " + std::to_string(it->second) +
                                                      " already changes; one operation per column per migration");
      }
      for (const Operation* index : indexes) {
        if (!index->indexes(column)) continue;
        throw Error(ExitCode::kInvalidMigrations,
                    at + ": " + name + " changes " + column + ", which the create_index at line " +
                        std::to_string(index->line()) +
                        " indexes; put create_index after it (it then indexes the column as changed)");
      }
    }
    if (name == "create_index") indexes.push_back(operation.get());
    bool table_level = name == "create_table" || name == "drop_table" || name == "rename_table";
    for (const TableName& table : operation->tables()) {
      auto level = tables.find(table.key());
      auto earlier = touched.find(table.key());
      bool indexes_created = name == "create_index" && level != tables.end() && level->second.second == "create_table";
      if ((level != tables.end() && !indexes_created) || (table_level && earlier != touched.end())) {
        int other = level != tables.end() ? level->second.first : earlier->second;
        throw Error(ExitCode::kInvalidMigrations,
                    at + ": " + name + " on " + table.key() + " conflicts with the operation at line " +
                        std::to_string(other) +
                        "; a table created, dropped or renamed takes no other operation in the same migration");
      }
      if (table_level) tables.emplace(table.key(), std::make_pair(line, name));
      touched.emplace(table.key(), line);
    }
    declarative.operations.push_back(std::move(operation));
  }
  return declarative;
}

}  // namespace migrator::expand
