// The SQLite dry run: BEGIN IMMEDIATE (the write lock other runs wait for), every script of the plan
// statement by statement with its row count, then ROLLBACK. SQLite has no lock table to report.
#include <sqlite3.h>

#include <cctype>
#include <chrono>

#include "migrator/drivers/sqlite_driver.h"
#include "migrator/interrupt.h"
#include "migrator/source/sql_script.h"

namespace migrator {
namespace {

// The statement's leading keyword, two for CREATE/DROP/ALTER ("CREATE TABLE"), upper case: SQLite
// has no command tags, and its statements are not parsed here beyond what sqlite3_prepare does.
std::string leading_keywords(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (words.size() < 2 && i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::string word;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) {
      word += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
      ++i;
    }
    if (word.empty()) break;
    words.push_back(word);
    if (words[0] != "CREATE" && words[0] != "DROP" && words[0] != "ALTER") break;
  }
  std::string tag;
  for (const std::string& word : words) tag += (tag.empty() ? "" : " ") + word;
  return tag;
}

}  // namespace

DryRunReport SqliteDriver::dry_run(const std::function<std::vector<DryRunScript>()>& plan) {
  DryRunReport report;
  report.database = "sqlite";
  execute("BEGIN IMMEDIATE", ExitCode::kDatabase, "cannot start a write transaction");
  struct RollBack {
    sqlite3* db;
    ~RollBack() {
      if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  } roll_back{db_};
  std::vector<DryRunScript> scripts = plan();
  for (const DryRunScript& script : scripts) {
    const Migration& migration = *script.migration;
    if (script.later || !script.path.empty()) {
      throw Error(ExitCode::kInvalidMigrations,
                  "refusing to dry-run " + migration.label() + ": a declarative migration needs PostgreSQL");
    }
    bool up = script.action == "up";
    const std::string& sql = up ? migration.up_sql : migration.down_sql;
    std::string path = (up ? migration.up_path() : migration.down_path()).string();
    DryRunMigration entry{migration.label(), script.action, {}};
    const char* base = sql.c_str();
    const char* end = base + sql.size();
    const char* tail = base;
    while (tail < end && report.error.empty()) {
      size_t offset = static_cast<size_t>(tail - base);
      size_t first_token = skip_blank_and_comments(sql, offset, /*nested_block_comments=*/false);
      if (interrupt_requested()) {
        throw Error(ExitCode::kInterrupted, "interrupted: the dry run was rolled back, nothing was changed");
      }
      sqlite3_stmt* raw = nullptr;
      const char* next = nullptr;
      auto where = [&](size_t at) { return path + ":" + std::to_string(line_at(sql, at)) + ": ERROR: "; };
      if (sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &raw, &next) != SQLITE_OK) {
        int error_offset = sqlite3_error_offset(db_);
        report.error =
            where(error_offset >= 0 ? offset + static_cast<size_t>(error_offset) : first_token) + sqlite3_errmsg(db_);
        break;
      }
      if (raw == nullptr) break;  // only blanks and comments were left
      DryRunStatement result;
      result.file = path;
      result.line = line_at(sql, first_token);
      std::string text(base + first_token, next);
      result.text = statement_preview(text);
      result.command_tag = leading_keywords(text);
      bool read_only = sqlite3_stmt_readonly(raw) != 0;
      sqlite3_int64 changes_before = sqlite3_total_changes64(db_);
      auto start = std::chrono::steady_clock::now();
      int64_t returned = 0;
      int rc;
      while ((rc = sqlite3_step(raw)) == SQLITE_ROW) ++returned;
      sqlite3_finalize(raw);
      result.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (rc != SQLITE_DONE) {
        report.error = where(first_token) + sqlite3_errmsg(db_);
      } else if (sqlite3_get_autocommit(db_) != 0) {
        report.error =
            where(first_token) + "a migration must not end its transaction (it runs inside BEGIN IMMEDIATE ... COMMIT)";
      } else if (read_only) {
        result.rows = returned;
      } else if (result.command_tag == "INSERT" || result.command_tag == "UPDATE" || result.command_tag == "DELETE" ||
                 result.command_tag == "REPLACE" || result.command_tag == "WITH") {
        result.rows = sqlite3_total_changes64(db_) - changes_before;
      }
      if (report.error.empty()) entry.statements.push_back(std::move(result));
      tail = next;
    }
    report.migrations.push_back(std::move(entry));
    if (!report.error.empty()) break;
  }
  return report;
}

}  // namespace migrator
