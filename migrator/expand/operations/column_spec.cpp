// The column definition shared by add_column and create_table, and moving a constraint's
// expression from a column to its new physical column.
#include <cctype>

#include <nlohmann/json.hpp>

#include "migrator/expand/operations/operations.h"
#include "migrator/source/sql_script.h"

namespace migrator::expand {

ColumnSpec parse_column_spec(const Fields& fields) {
  ColumnSpec spec;
  spec.name = fields.text("name");
  spec.type = fields.text("type");
  spec.not_null = fields.optional_bool("not_null").value_or(false);
  spec.primary_key = fields.optional_bool("primary_key").value_or(false);
  spec.unique = fields.optional_bool("unique").value_or(false);
  spec.default_expr = fields.optional_text("default").value_or("");
  spec.check = fields.optional_text("check").value_or("");
  spec.references = fields.optional_text("references").value_or("");
  return spec;
}

std::string rename_identifier(const std::string& expression, const std::string& from, const std::string& to) {
  std::string out;
  size_t i = 0;
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; };
  while (i < expression.size()) {
    char c = expression[i];
    if (c == '\'' || c == '"') {  // a string or a quoted name: copied whole ('' and "" stay inside)
      size_t end = i + 1;
      while (end < expression.size()) {
        if (expression[end] == c) {
          if (end + 1 < expression.size() && expression[end + 1] == c) {
            end += 2;
            continue;
          }
          break;
        }
        ++end;
      }
      std::string quoted = expression.substr(i, end + 1 - i);
      out += (c == '"' && quoted == quote_ident(from)) ? quote_ident(to) : quoted;
      i = end + 1;
    } else if (word_char(c)) {
      size_t end = i;
      while (end < expression.size() && word_char(expression[end])) ++end;
      std::string word = expression.substr(i, end - i);
      bool qualified = i > 0 && expression[i - 1] == '.';  // t.col names another relation's column
      bool lower = true;
      for (char w : word) lower = lower && !std::isupper(static_cast<unsigned char>(w));
      out += (!qualified && lower && word == from) ? quote_ident(to) : word;
      i = end;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

namespace {

bool calls_anything(const nlohmann::json& node) {
  if (node.is_object()) {
    for (const auto& [key, child] : node.items()) {
      if (key == "FuncCall" || key == "SubLink" || key == "ColumnRef" || key == "ParamRef") return true;
      if (calls_anything(child)) return true;
    }
  } else if (node.is_array()) {
    for (const auto& child : node) {
      if (calls_anything(child)) return true;
    }
  }
  return false;
}

}  // namespace

bool default_may_rewrite(const std::string& expression) {
  try {
    std::vector<migrator::Statement> statements = split_postgres_script("SELECT (" + expression + ")", "default");
    return statements.size() != 1 || statements[0].tree == nullptr || calls_anything(*statements[0].tree);
  } catch (const std::exception&) {
    return true;  // expand reports what does not parse
  }
}

}  // namespace migrator::expand
