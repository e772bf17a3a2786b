#include "migrator/expand/yaml_fields.h"

#include "migrator/error.h"

namespace migrator::expand {

std::string where(const std::string& path, const YAML::Node& node) {
  int line = node.Mark().line;
  return path + ":" + std::to_string(line < 0 ? 1 : line + 1);
}

void invalid_at(const std::string& path, const YAML::Node& node, const std::string& message) {
  throw Error(ExitCode::kInvalidMigrations, where(path, node) + ": " + message);
}

std::optional<TableName> parse_table_name(const std::string& text) {
  size_t dot = text.find('.');
  TableName name;
  if (dot == std::string::npos) {
    name.table = text;
  } else {
    if (text.find('.', dot + 1) != std::string::npos) return std::nullopt;
    name.schema = text.substr(0, dot);
    name.table = text.substr(dot + 1);
  }
  if (name.schema.empty() || name.table.empty()) return std::nullopt;
  return name;
}

Fields::Fields(const std::string& path, const YAML::Node& node, const std::string& what,
               const std::vector<const char*>& known)
    : path_(path), node_(node), what_(what) {
  if (!node.IsMap()) invalid_at(path, node, what + " expects a mapping of keys");
  std::set<std::string> allowed(known.begin(), known.end());
  for (const auto& entry : node) {
    std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    if (allowed.count(key) == 0) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      invalid_at(path, entry.first, "unknown key '" + key + "' in " + what + "; known keys: " + list);
    }
  }
}

bool Fields::has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }

YAML::Node Fields::child(const std::string& key) const {
  if (!has(key)) invalid_at(path_, node_, what_ + " needs '" + key + "'");
  return node_[key];
}

std::string Fields::where_of(const std::string& key) const { return has(key) ? where(path_, node_[key]) : at(); }

std::string Fields::text(const std::string& key) const {
  YAML::Node value = child(key);
  if (!value.IsScalar() || value.Scalar().empty()) {
    invalid_at(path_, value, what_ + "." + key + " expects a non-empty text");
  }
  return value.Scalar();
}

std::optional<std::string> Fields::optional_text(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return text(key);
}

std::optional<bool> Fields::optional_bool(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  YAML::Node value = node_[key];
  const std::string s = value.IsScalar() ? value.Scalar() : "";
  if (s == "true") return true;
  if (s == "false") return false;
  invalid_at(path_, value, what_ + "." + key + " expects true or false, got '" + s + "'");
}

TableName Fields::table(const std::string& key) const {
  std::string value = text(key);
  std::optional<TableName> name = parse_table_name(value);
  if (!name) invalid_at(path_, node_[key], what_ + "." + key + " expects table or schema.table, got '" + value + "'");
  return *name;
}

std::vector<std::string> Fields::text_list(const std::string& key) const {
  YAML::Node value = child(key);
  if (!value.IsSequence() || value.size() == 0) {
    invalid_at(path_, value, what_ + "." + key + " expects a non-empty list");
  }
  std::vector<std::string> items;
  for (const auto& item : value) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      invalid_at(path_, item, what_ + "." + key + " expects a list of non-empty texts");
    }
    items.push_back(item.Scalar());
  }
  return items;
}

}  // namespace migrator::expand
