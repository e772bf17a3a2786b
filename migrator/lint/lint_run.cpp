#include "migrator/lint/lint_run.h"

#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "migrator/error.h"
#include "migrator/lint/context.h"
#include "migrator/source/sql_script.h"

namespace migrator {
namespace fs = std::filesystem;

LintScript lint_script(const Migration& migration) {
  LintScript script;
  script.path = migration.up_path().string();
  script.sql = migration.up_sql;
  script.allow.insert(migration.options.lint_allow.begin(), migration.options.lint_allow.end());
  // A no-transaction migration runs statement by statement: nothing in it shares a transaction.
  script.transactional = !migration.options.no_transaction;
  return script;
}

namespace {

LintScript read_script(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in) throw Error(ExitCode::kInvalidMigrations, "cannot read " + path.string());
  LintScript script;
  script.path = path.string();
  script.sql = content.str();
  MigrationOptions options = parse_header_options(script.sql, script.path);
  script.allow.insert(options.lint_allow.begin(), options.lint_allow.end());
  return script;
}

}  // namespace

std::vector<LintScript> lint_scripts_at(const std::vector<std::string>& paths) {
  std::vector<LintScript> scripts;
  for (const std::string& text : paths) {
    fs::path path(text);
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
      scripts.push_back(read_script(path));
    } else if (fs::is_regular_file(path / "up.sql", ec)) {
      scripts.push_back(read_script(path / "up.sql"));
    } else if (fs::is_directory(path, ec)) {
      for (const Migration& migration : load_migrations(path)) scripts.push_back(lint_script(migration));
    } else {
      throw Error(ExitCode::kInvalidMigrations,
                  "lint: " + text + " is neither an SQL file, a migration directory nor a migrations directory");
    }
  }
  return scripts;
}

std::vector<Finding> refused(const std::vector<Finding>& findings) {
  std::vector<Finding> result;
  for (const Finding& finding : findings) {
    if (!finding.allowed) result.push_back(finding);
  }
  return result;
}

std::vector<Finding> lint_before_up(const std::vector<const Migration*>& pending, const LintOptions& options) {
  if (options.catalog != nullptr) {
    // Every table the scripts name (each RangeVar of their parse trees), read from the catalog in one
    // query rather than one per statement that asks.
    std::set<std::pair<std::string, std::string>> tables;
    for (const Migration* migration : pending) {
      const ParsedScript* parsed = nullptr;
      try {
        parsed = &parse_postgres_script(migration->up_sql, migration->up_path().string());
      } catch (const Error&) {
        continue;  // the linter reports it below
      }
      lint::walk(*parsed->stmts, [&](const std::string&, const lint::json& body) {
        auto relname = body.find("relname");
        if (relname != body.end() && relname->is_string()) {
          tables.emplace(body.value("schemaname", ""), relname->get<std::string>());
        }
      });
    }
    options.catalog->prefetch_rows({tables.begin(), tables.end()});
  }
  Linter linter(options);
  std::vector<Finding> all;
  for (const Migration* migration : pending) {
    for (Finding& finding : linter.lint(lint_script(*migration))) all.push_back(std::move(finding));
  }
  std::vector<Finding> problems = refused(all);
  if (problems.empty()) return all;
  std::string message = "refusing to apply, nothing was applied: lint found " + std::to_string(problems.size()) +
                        " problem(s) in pending migrations:";
  for (const Finding& finding : problems) {
    std::string text = finding.format();
    for (size_t newline = text.find('\n'); newline != std::string::npos; newline = text.find('\n', newline + 1)) {
      text.insert(newline + 1, "  ");  // the hint indented under its finding
    }
    message += "\n  " + text;
  }
  message +=
      "\n  change the migration as the hint says, or allow a rule with a '-- migrator:lint-allow RULE' comment "
      "before the statement, '-- migrator: lint-allow=RULE' in the up.sql header, or --lint-allow RULE";
  throw Error(ExitCode::kLintRefused, message);
}

}  // namespace migrator
