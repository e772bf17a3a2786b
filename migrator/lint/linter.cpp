// The linter's driver: parses a script, finds its allow comments, and hands each statement's
// parse tree to the rule families with the schema built so far.
#include <pg_query.h>

#include <algorithm>
#include <sstream>

#include "migrator/error.h"
#include "migrator/lint/context.h"
#include "migrator/source/sql_script.h"

namespace migrator {

const std::vector<LintRule>& lint_rules() {
  static const std::vector<LintRule> kRules = {
      {"create-index-non-concurrently", "CREATE INDEX without CONCURRENTLY on an existing table blocks its writes"},
      {"add-column-volatile-default", "ADD COLUMN with a volatile default rewrites the table"},
      {"add-serial-column", "ADD COLUMN serial or identity rewrites the table"},
      {"add-stored-generated-column", "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED rewrites the table"},
      {"set-not-null", "SET NOT NULL without a validated CHECK (col IS NOT NULL) scans the table, blocking it"},
      {"constraint-without-not-valid", "a foreign key or CHECK added without NOT VALID scans the table, blocking it"},
      {"validate-in-same-transaction", "VALIDATE CONSTRAINT in the transaction that added it NOT VALID"},
      {"add-primary-key-without-index", "a primary key without USING INDEX builds its index, blocking the table"},
      {"add-unique-without-index", "a unique constraint without USING INDEX builds its index, blocking the table"},
      {"exclusion-constraint", "an exclusion constraint builds its index, blocking the table"},
      {"rewriting-type-change", "ALTER COLUMN TYPE that rewrites the table and its indexes"},
      {"set-logged-unlogged", "SET LOGGED / SET UNLOGGED rewrites the table"},
      {"rename-column", "renaming a column breaks the application still using the old name"},
      {"rename-table", "renaming a table breaks the application still using the old name"},
      {"drop-column", "dropping a column breaks the application still reading it, and loses its data"},
      {"drop-table", "dropping a table breaks the application still using it, and loses its data"},
      {"truncate", "TRUNCATE deletes every row under an ACCESS EXCLUSIVE lock"},
      {"drop-index-non-concurrently", "DROP INDEX without CONCURRENTLY blocks the table"},
      {"reindex-non-concurrently", "REINDEX without CONCURRENTLY blocks the table's writes"},
      {"vacuum-full", "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock"},
      {"cluster", "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock"},
      {"lock-table", "LOCK TABLE holds a lock until the migration commits"},
      {"enum-value-used-in-transaction", "an enum value added by ALTER TYPE ... ADD VALUE used before commit"},
  };
  return kRules;
}

bool is_lint_rule(const std::string& name) {
  const std::vector<LintRule>& rules = lint_rules();
  return std::any_of(rules.begin(), rules.end(), [&](const LintRule& rule) { return rule.name == name; });
}

std::string Finding::format() const {
  std::string text = path + ":" + std::to_string(line) + ": " + rule + ": " + message;
  if (allowed) text += " (allowed by " + allowed_by + ")";
  return text + "\n  hint: " + hint;
}

nlohmann::json Finding::to_json() const {
  return {{"rule", rule},
          {"path", path},
          {"line", line},
          {"message", message},
          {"hint", hint},
          {"allowed", allowed},
          {"allowed_by", allowed_by}};
}

namespace lint {

TableRef table_ref(const json& range_var) {
  return TableRef{range_var.value("schemaname", ""), range_var.value("relname", "")};
}

void walk(const json& tree, const std::function<void(const std::string& node, const json& body)>& visit) {
  if (tree.is_array()) {
    for (const json& item : tree) walk(item, visit);
  } else if (tree.is_object()) {
    for (auto it = tree.begin(); it != tree.end(); ++it) {
      if (it.value().is_object()) visit(it.key(), it.value());
      walk(it.value(), visit);
    }
  }
}

std::optional<std::string> not_null_check_column(const json& expr) {
  if (!expr.contains("NullTest")) return std::nullopt;
  const json& test = expr["NullTest"];
  if (test.value("nulltesttype", "") != "IS_NOT_NULL" || !test.contains("arg") || !test["arg"].contains("ColumnRef")) {
    return std::nullopt;
  }
  std::string column = last_name(test["arg"]["ColumnRef"].value("fields", json::array()));
  if (column.empty()) return std::nullopt;
  return column;
}

void StatementScope::report(const std::string& rule, const std::optional<TableRef>& table, Excuse excuse,
                            const std::string& message, const std::string& hint) {
  if (table && excuse != Excuse::kNone && is_new(*table)) return;
  if (table && excuse == Excuse::kNewOrSmall && options.catalog != nullptr) {
    std::optional<double> rows = options.catalog->estimated_rows(table->schema, table->name);
    if (rows && *rows < options.row_threshold) {
      if (options.verbose != nullptr) {
        std::ostringstream estimate;
        estimate << static_cast<int64_t>(*rows);
        *options.verbose << script.path << ":" << line << ": " << rule << ": not needed: " << table->display()
                         << " has about " << estimate.str() << " rows, below --lint-row-threshold "
                         << static_cast<int64_t>(options.row_threshold) << "\n";
      }
      return;
    }
  }
  Finding finding{rule, script.path, line, message, hint, false, ""};
  if (statement_allow.count(rule) != 0) {
    finding.allowed_by = "a lint-allow comment";
  } else if (script.allow.count(rule) != 0) {
    finding.allowed_by = "the file header";
  } else if (options.allow.count(rule) != 0) {
    finding.allowed_by = "--lint-allow";
  }
  finding.allowed = !finding.allowed_by.empty();
  out.push_back(std::move(finding));
}

bool StatementScope::is_new(const TableRef& table) {
  auto found = tables.find(table.key());
  if (found == tables.end() || found->second.created_in_script < 0) return false;
  if (found->second.created_in_script == script_index) return true;
  // Created by an earlier script of this run: new if that script is pending, which only the
  // catalog can tell (the table is not there yet).
  return options.catalog != nullptr && !options.catalog->estimated_rows(table.schema, table.name);
}

std::optional<ColumnType> StatementScope::column_type(const TableRef& table, const std::string& column) {
  auto found = tables.find(table.key());
  if (found != tables.end()) {
    auto type = found->second.columns.find(column);
    if (type != found->second.columns.end()) return type->second;
  }
  if (options.catalog == nullptr) return std::nullopt;
  std::optional<CatalogType> type = options.catalog->column_type(table.schema, table.name, column);
  if (!type) return std::nullopt;
  return type_from_catalog(*type);
}

bool StatementScope::column_not_null_checked(const TableRef& table, const std::string& column) {
  auto found = tables.find(table.key());
  if (found != tables.end() && found->second.not_null_checked.count(column) != 0) return true;
  if (options.catalog == nullptr) return false;
  for (const std::string& definition : options.catalog->validated_checks(table.schema, table.name)) {
    // The catalog's definition ("CHECK ((email IS NOT NULL))") read with the same parser.
    std::string sql = "ALTER TABLE t ADD " + definition;
    PgQueryParseResult parsed = pg_query_parse(sql.c_str());
    json tree = parsed.error == nullptr ? json::parse(parsed.parse_tree, nullptr, false) : json();
    pg_query_free_parse_result(parsed);
    bool match = false;
    walk(tree, [&](const std::string& node, const json& body) {
      if (node == "Constraint" && body.contains("raw_expr")) {
        std::optional<std::string> checked = not_null_check_column(body["raw_expr"]);
        match = match || (checked && *checked == column);
      }
    });
    if (match) return true;
  }
  return false;
}

bool StatementScope::volatile_function(const std::string& name) {
  if (options.catalog != nullptr) {
    std::optional<char> volatility = options.catalog->function_volatility(name);
    if (volatility) return *volatility == 'v';
  }
  return well_known_volatile(name);
}

namespace {

// A statement's place in the script, from the parse tree's stmt_location and stmt_len.
struct Span {
  size_t start = 0;  // first token
  size_t end = 0;    // one past the last byte of the statement (before its semicolon)
};

// The rule names of every "migrator:lint-allow RULE[, RULE]" comment in `gap` (which holds only
// blanks, semicolons and comments), each with the line its comment starts on.
std::vector<std::pair<int, std::vector<std::string>>> allow_comments(const std::string& script, size_t begin,
                                                                     size_t end, const std::string& path) {
  static const std::string kMarker = "migrator:lint-allow";
  std::vector<std::pair<int, std::vector<std::string>>> comments;
  size_t i = begin;
  while (i < end) {
    size_t comment_end = 0;
    if (script.compare(i, 2, "--") == 0) {
      comment_end = std::min(end, script.find('\n', i) == std::string::npos ? script.size() : script.find('\n', i));
    } else if (script.compare(i, 2, "/*") == 0) {
      comment_end = std::min(end, skip_blank_and_comments(script, i, /*nested_block_comments=*/true));
    } else {
      ++i;
      continue;
    }
    std::string comment = script.substr(i, comment_end - i);
    size_t marker = comment.find(kMarker);
    if (marker != std::string::npos) {
      std::string list = comment.substr(marker + kMarker.size());
      // A block comment's text runs to the next token here: cut the blanks, then its "*/".
      list.erase(list.find_last_not_of(" \t\r\n") + 1);
      if (list.size() >= 2 && list.compare(list.size() - 2, 2, "*/") == 0) list.resize(list.size() - 2);
      std::replace(list.begin(), list.end(), ',', ' ');
      std::istringstream words(list);
      std::vector<std::string> rules;
      int line = line_at(script, i);
      for (std::string rule; words >> rule;) {
        if (!is_lint_rule(rule)) {
          throw Error(ExitCode::kInvalidMigrations,
                      path + ":" + std::to_string(line) + ": unknown lint rule '" + rule +
                          "' in a lint-allow comment; `migrator lint --rules` lists them");
        }
        rules.push_back(rule);
      }
      comments.emplace_back(line, std::move(rules));
    }
    i = std::max(comment_end, i + 1);
  }
  return comments;
}

}  // namespace
}  // namespace lint

struct Linter::State {
  LintOptions options;
  int scripts = 0;
  std::map<std::string, lint::KnownTable> tables;
  std::map<std::string, lint::TableRef> indexes;
};

Linter::Linter(LintOptions options) : state_(std::make_unique<State>()) { state_->options = std::move(options); }
Linter::~Linter() = default;

std::vector<Finding> Linter::lint(const LintScript& script) {
  using lint::json;
  const std::string& sql = script.sql;
  // Syntax errors name file and line the way the migration would fail. The parse is the one the run
  // itself uses (parse_postgres_script caches it).
  const json& stmts = *parse_postgres_script(sql, script.path).stmts;

  std::vector<lint::Span> spans;
  for (const json& stmt : stmts) {
    size_t location = stmt.value("stmt_location", size_t{0});
    size_t length = stmt.value("stmt_len", size_t{0});
    lint::Span span;
    span.start = skip_blank_and_comments(sql, location, /*nested_block_comments=*/true);
    span.end = length == 0 ? sql.size() : std::min(sql.size(), location + length);
    spans.push_back(span);
  }
  // Allow comments: in the gap before a statement, or after the previous one on its last line.
  std::vector<std::set<std::string>> allows(spans.size() + 1);
  for (size_t i = 0; i <= spans.size(); ++i) {
    size_t gap_begin = i == 0 ? 0 : spans[i - 1].end;
    size_t gap_end = i == spans.size() ? sql.size() : spans[i].start;
    int previous_last_line = i == 0 ? 0 : line_at(sql, spans[i - 1].end);
    for (auto& [line, rules] : lint::allow_comments(sql, gap_begin, gap_end, script.path)) {
      std::set<std::string>& target = (i > 0 && line == previous_last_line) ? allows[i - 1] : allows[i];
      target.insert(rules.begin(), rules.end());
    }
  }

  int index = state_->scripts++;
  for (auto& [key, table] : state_->tables) table.not_valid_this_script.clear();
  std::map<std::string, std::pair<std::string, int>> enum_values;
  std::vector<Finding> findings;
  for (size_t i = 0; i < spans.size(); ++i) {
    const json& stmt = stmts[i].value("stmt", json::object());
    if (!stmt.is_object() || stmt.empty()) continue;
    const std::string& node = stmt.begin().key();
    const json& body = stmt.begin().value();
    lint::StatementScope scope{script,         index,           line_at(sql, spans[i].start),
                               state_->tables, state_->indexes, enum_values,
                               allows[i],      state_->options, findings};
    if (node == "AlterTableStmt") {
      lint::lint_alter_table(body, scope);
    } else if (node == "CreateStmt") {
      lint::lint_create_table(body, scope);
    } else if (node == "IndexStmt" || node == "ReindexStmt" ||
               (node == "DropStmt" && body.value("removeType", "") == "OBJECT_INDEX")) {
      lint::lint_index(node, body, scope);
    }
    lint::lint_statement(node, body, scope);
  }
  return findings;
}

}  // namespace migrator
