// Reading one mapping of migration.yaml with "<file>:<line>: ..." errors (Error kInvalidMigrations):
// every key must be known, required keys present, each value of the expected kind.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "migrator/expand/operation.h"

namespace migrator::expand {

// "<path>:<line>" of a node (yaml-cpp counts lines from 0).
std::string where(const std::string& path, const YAML::Node& node);
[[noreturn]] void invalid_at(const std::string& path, const YAML::Node& node, const std::string& message);

class Fields {
 public:
  // `what` names the mapping in messages ("add_column", "add_column.column"). Throws unless `node`
  // is a mapping whose keys are all in `known`.
  Fields(const std::string& path, const YAML::Node& node, const std::string& what,
         const std::vector<const char*>& known);

  bool has(const std::string& key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& what() const { return what_; }
  std::string at() const { return where(path_, node_); }

  // A non-empty scalar; throws if missing.
  std::string text(const std::string& key) const;
  std::optional<std::string> optional_text(const std::string& key) const;
  std::optional<bool> optional_bool(const std::string& key) const;
  // A table name, "table" or "schema.table".
  TableName table(const std::string& key) const;
  // A non-empty sequence of non-empty scalars.
  std::vector<std::string> text_list(const std::string& key) const;
  YAML::Node child(const std::string& key) const;      // required
  std::string where_of(const std::string& key) const;  // "<path>:<line>" of the key's value

 private:
  std::string path_;
  YAML::Node node_;
  std::string what_;
};

// "schema.table" or "table" (schema public); nullopt if empty or with more than one dot.
std::optional<TableName> parse_table_name(const std::string& text);

}  // namespace migrator::expand
