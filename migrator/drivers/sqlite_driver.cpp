#include "migrator/drivers/sqlite_driver.h"

#include <sqlite3.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <vector>
#include <thread>
#include <filesystem>
#include <system_error>

#include "migrator/interrupt.h"
#include "migrator/source/sql_script.h"
#include "migrator/version.h"

namespace migrator {
namespace {

constexpr const char* kStateTable = "migrator_schema_migrations";

// Finalizes a prepared statement when it goes out of scope.
class PreparedStatement {
 public:
  PreparedStatement() = default;
  ~PreparedStatement() { sqlite3_finalize(stmt_); }
  PreparedStatement(const PreparedStatement&) = delete;
  PreparedStatement& operator=(const PreparedStatement&) = delete;
  sqlite3_stmt** out() { return &stmt_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::string column_text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text == nullptr ? std::string() : reinterpret_cast<const char*>(text);
}

// CREATE TABLE <name> for migrator_history; `name` may start with IF NOT EXISTS.
std::string history_table_sql(const std::string& name) {
  return "CREATE TABLE " + name +
         " ("
         " id INTEGER PRIMARY KEY AUTOINCREMENT,"
         " version INTEGER NOT NULL,"
         " name TEXT NOT NULL,"
         " action TEXT NOT NULL CHECK (action IN ('up', 'down', 'baseline', 'resolve')),"
         " outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'reverted', 'failed', 'interrupted')),"
         " at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
         " by TEXT NOT NULL,"
         " duration_ms INTEGER NOT NULL,"
         " migrator_version TEXT NOT NULL,"
         " detail TEXT NOT NULL DEFAULT '')";
}

std::string current_user() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "unknown";
}

}  // namespace

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

SqliteDriver::SqliteDriver(const std::string& path, DriverOptions options) : options_(options) {
  int flags = SQLITE_OPEN_READWRITE | (options.create_database ? SQLITE_OPEN_CREATE : 0);
  std::error_code ec;
  if (!options.create_database && path != ":memory:" && !std::filesystem::exists(path, ec)) {
    throw Error(ExitCode::kDatabase, "SQLite database " + path + " does not exist (only `migrator up` creates one)");
  }
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ExitCode::kDatabase, "cannot open SQLite database " + path + ": " + message);
  }
  sqlite3_busy_handler(db_, &SqliteDriver::on_busy, this);
}

int SqliteDriver::on_busy(void* self, int attempts) {
  SqliteDriver& driver = *static_cast<SqliteDriver*>(self);
  if (attempts == 0) {
    driver.busy_since_ms_ = now_ms();
    driver.busy_reported_seconds_ = 0;
  }
  if (interrupt_requested()) return 0;
  int64_t waited = (now_ms() - driver.busy_since_ms_) / 1000;
  if (waited >= driver.options_.wait_seconds) return 0;
  if (waited > driver.busy_reported_seconds_ && driver.options_.notices != nullptr) {
    driver.busy_reported_seconds_ = waited;
    *driver.options_.notices << "waiting for the SQLite database, locked by another connection: " << waited << " s"
                             << std::endl;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return 1;
}

void SqliteDriver::cancel() { sqlite3_interrupt(db_); }

SqliteDriver::~SqliteDriver() { sqlite3_close(db_); }

void SqliteDriver::execute(const char* sql, ExitCode code, const std::string& context) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    if (sqlite3_errcode(db_) == SQLITE_BUSY) {
      throw Error(ExitCode::kLockHeld,
                  "another connection is writing to the SQLite database" +
                      (options_.wait_seconds > 0 ? "; gave up after " + std::to_string(options_.wait_seconds) + " s"
                                                 : std::string(" (--wait SECONDS waits for it)")));
    }
    throw Error(code, context + ": " + text);
  }
}

void SqliteDriver::lock() {
  execute(
      "CREATE TABLE IF NOT EXISTS migrator_schema_migrations ("
      " version INTEGER PRIMARY KEY,"
      " name TEXT NOT NULL,"
      " checksum TEXT NOT NULL,"
      " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
      " applied_by TEXT NOT NULL,"
      " execution_ms INTEGER NOT NULL,"
      " directory TEXT)",
      ExitCode::kDatabase, std::string("cannot create ") + kStateTable);
  if (!has_directory_column()) {  // a state table created by an earlier migrator: upgrade in place
    execute("ALTER TABLE migrator_schema_migrations ADD COLUMN directory TEXT", ExitCode::kDatabase,
            std::string("cannot upgrade ") + kStateTable);
  }
  // The failed state of migrations run outside a transaction (see PostgresDriver's state table).
  if (!has_state_column("state")) {
    execute(
        "ALTER TABLE migrator_schema_migrations ADD COLUMN state TEXT NOT NULL DEFAULT 'applied'"
        " CHECK (state IN ('applied', 'running', 'failed'));"
        "ALTER TABLE migrator_schema_migrations ADD COLUMN action TEXT NOT NULL DEFAULT 'up'"
        " CHECK (action IN ('up', 'down'));"
        "ALTER TABLE migrator_schema_migrations ADD COLUMN ran TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE migrator_schema_migrations ADD COLUMN error TEXT NOT NULL DEFAULT '';",
        ExitCode::kDatabase, std::string("cannot upgrade ") + kStateTable);
  }
  // A history created before `baseline` or `resolve` was an action is rebuilt with the new check (SQLite cannot
  // alter a check constraint); its rows and ids are kept.
  bool upgrade = has_table("migrator_history") && !history_allows_resolve();
  if (upgrade) {
    execute("BEGIN IMMEDIATE", ExitCode::kDatabase, "cannot upgrade migrator_history");
    try {
      execute((history_table_sql("migrator_history_upgraded") +
               ";INSERT INTO migrator_history_upgraded SELECT * FROM migrator_history;"
               "DROP TABLE migrator_history;"
               "ALTER TABLE migrator_history_upgraded RENAME TO migrator_history;")
                  .c_str(),
              ExitCode::kDatabase, "cannot upgrade migrator_history");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  try {
    execute((history_table_sql("IF NOT EXISTS migrator_history") +
             ";CREATE TRIGGER IF NOT EXISTS migrator_history_no_update BEFORE UPDATE ON migrator_history"
             " BEGIN SELECT RAISE(ABORT, 'migrator_history is append-only'); END;"
             "CREATE TRIGGER IF NOT EXISTS migrator_history_no_delete BEFORE DELETE ON migrator_history"
             " BEGIN SELECT RAISE(ABORT, 'migrator_history is append-only'); END;")
                .c_str(),
            ExitCode::kDatabase, "cannot create migrator_history");
  } catch (...) {
    if (upgrade) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  if (upgrade) execute("COMMIT", ExitCode::kDatabase, "cannot upgrade migrator_history");
}

bool SqliteDriver::has_table(const char* table) {
  PreparedStatement exists;
  sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, exists.out(), nullptr);
  sqlite3_bind_text(exists.get(), 1, table, -1, SQLITE_STATIC);
  int rc = sqlite3_step(exists.get());
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    throw Error(ExitCode::kDatabase, std::string("cannot read database: ") + sqlite3_errmsg(db_));
  }
  return rc == SQLITE_ROW;
}

bool SqliteDriver::history_allows_resolve() {
  PreparedStatement probe;
  sqlite3_prepare_v2(db_, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'migrator_history'", -1,
                     probe.out(), nullptr);
  return sqlite3_step(probe.get()) == SQLITE_ROW && column_text(probe.get(), 0).find("'resolve'") != std::string::npos;
}

bool SqliteDriver::insert_history(const Migration& migration, const std::string& action, const std::string& outcome,
                                  int64_t duration_ms, const std::string& detail) {
  PreparedStatement insert;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO migrator_history (version, name, action, outcome, by, duration_ms, "
                         "migrator_version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         -1, insert.out(), nullptr) != SQLITE_OK) {
    return false;
  }
  std::string user = current_user();
  sqlite3_bind_int64(insert.get(), 1, static_cast<sqlite3_int64>(migration.version));
  sqlite3_bind_text(insert.get(), 2, migration.name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.get(), 3, action.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.get(), 4, outcome.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.get(), 5, user.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(insert.get(), 6, duration_ms);
  sqlite3_bind_text(insert.get(), 7, kMigratorVersion, -1, SQLITE_STATIC);
  sqlite3_bind_text(insert.get(), 8, detail.c_str(), -1, SQLITE_TRANSIENT);
  return sqlite3_step(insert.get()) == SQLITE_DONE;
}

void SqliteDriver::record_failure(const Migration& migration, const std::string& action, const std::string& outcome,
                                  const std::string& detail) noexcept {
  try {
    insert_history(migration, action, outcome, 0, detail);
  } catch (...) {
    // Only allocation can throw here; the migration's own error is what gets reported.
  }
}

std::vector<HistoryEntry> SqliteDriver::history() {
  std::vector<HistoryEntry> rows;
  PreparedStatement select;
  if (sqlite3_prepare_v2(db_,
                         "SELECT version, name, action, outcome, at, by, duration_ms, migrator_version, detail "
                         "FROM migrator_history ORDER BY id",
                         -1, select.out(), nullptr) != SQLITE_OK) {
    return rows;  // no history table yet
  }
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    HistoryEntry entry;
    entry.version = static_cast<uint64_t>(sqlite3_column_int64(select.get(), 0));
    entry.name = column_text(select.get(), 1);
    entry.action = column_text(select.get(), 2);
    entry.outcome = column_text(select.get(), 3);
    entry.at = column_text(select.get(), 4);
    entry.by = column_text(select.get(), 5);
    entry.duration_ms = sqlite3_column_int64(select.get(), 6);
    entry.migrator_version = column_text(select.get(), 7);
    entry.detail = column_text(select.get(), 8);
    rows.push_back(std::move(entry));
  }
  if (rc != SQLITE_DONE)
    throw Error(ExitCode::kDatabase, std::string("cannot read migrator_history: ") + sqlite3_errmsg(db_));
  return rows;
}

bool SqliteDriver::has_directory_column() {
  PreparedStatement probe;
  return sqlite3_prepare_v2(db_, "SELECT directory FROM migrator_schema_migrations LIMIT 0", -1, probe.out(),
                            nullptr) == SQLITE_OK;
}

bool SqliteDriver::has_state_column(const char* column) {
  PreparedStatement probe;
  return sqlite3_prepare_v2(db_, (std::string("SELECT ") + column + " FROM migrator_schema_migrations LIMIT 0").c_str(),
                            -1, probe.out(), nullptr) == SQLITE_OK;
}

std::vector<AppliedMigration> SqliteDriver::applied() { return rows(false); }

std::vector<AppliedMigration> SqliteDriver::failed() { return rows(true); }

std::vector<InvalidIndex> SqliteDriver::invalid_indexes() { return {}; }

std::vector<AppliedMigration> SqliteDriver::rows(bool failed) {
  std::vector<AppliedMigration> rows;
  PreparedStatement exists;
  sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, exists.out(), nullptr);
  sqlite3_bind_text(exists.get(), 1, kStateTable, -1, SQLITE_STATIC);
  int rc = sqlite3_step(exists.get());
  if (rc == SQLITE_DONE) return rows;
  if (rc != SQLITE_ROW) throw Error(ExitCode::kDatabase, std::string("cannot read database: ") + sqlite3_errmsg(db_));

  PreparedStatement select;
  std::string directory = has_directory_column() ? "coalesce(directory, '')" : "''";
  // A state table from before the failed state (status never upgrades) has only applied rows.
  bool with_state = has_state_column("state");
  if (failed && !with_state) return rows;
  std::string state = with_state ? "state, action, ran, error" : "'applied', 'up', '', ''";
  std::string where = with_state ? (failed ? " WHERE state <> 'applied'" : " WHERE state = 'applied'") : "";
  sqlite3_prepare_v2(db_,
                     ("SELECT version, name, checksum, applied_at, applied_by, execution_ms, " + directory + ", " +
                      state + " FROM migrator_schema_migrations" + where + " ORDER BY version")
                         .c_str(),
                     -1, select.out(), nullptr);
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    AppliedMigration row;
    row.version = static_cast<uint64_t>(sqlite3_column_int64(select.get(), 0));
    row.name = column_text(select.get(), 1);
    row.checksum = column_text(select.get(), 2);
    row.applied_at = column_text(select.get(), 3);
    row.applied_by = column_text(select.get(), 4);
    row.execution_ms = sqlite3_column_int64(select.get(), 5);
    row.directory = column_text(select.get(), 6);
    row.state = column_text(select.get(), 7);
    row.action = column_text(select.get(), 8);
    row.ran = column_text(select.get(), 9);
    row.error = column_text(select.get(), 10);
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) {
    throw Error(ExitCode::kDatabase, std::string("cannot read ") + kStateTable + ": " + sqlite3_errmsg(db_));
  }
  return rows;
}

void SqliteDriver::run_statements(const std::string& script, const std::string& path,
                                  const std::function<void(size_t, const std::string&)>& fail,
                                  const std::function<void(size_t)>& after, ProgressListener* progress) {
  ProgressScope progress_scope(progress);
  size_t number = 0;
  const char* base = script.c_str();
  const char* end = base + script.size();
  const char* tail = base;
  while (tail < end) {
    size_t offset = static_cast<size_t>(tail - base);
    size_t first_token = skip_blank_and_comments(script, offset, /*nested_block_comments=*/false);
    if (interrupt_requested()) fail(first_token, "interrupted");
    PreparedStatement stmt;
    const char* next = nullptr;
    if (sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), stmt.out(), &next) != SQLITE_OK) {
      int error_offset = sqlite3_error_offset(db_);
      fail(error_offset >= 0 ? offset + static_cast<size_t>(error_offset) : first_token, sqlite3_errmsg(db_));
    }
    if (stmt.get() == nullptr) break;  // only blanks and comments were left
    if (progress != nullptr) progress->statement(path, ++number, 0);
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) fail(first_token, sqlite3_errmsg(db_));
    after(first_token);
    tail = next;
  }
}

int64_t SqliteDriver::run_in_transaction(const std::string& script, const std::string& path,
                                         const std::function<void(int64_t)>& record) {
  execute("BEGIN IMMEDIATE", ExitCode::kDatabase, "cannot start a write transaction");
  auto fail = [&](size_t offset, const std::string& message) {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (interrupt_requested()) {
      throw Error(ExitCode::kInterrupted, "interrupted: " + path + ":" + std::to_string(line_at(script, offset)) +
                                              " was cancelled and the migration rolled back, nothing of it remains");
    }
    throw Error(ExitCode::kMigrationFailed,
                path + ":" + std::to_string(line_at(script, offset)) + ": ERROR: " + message);
  };

  auto start = std::chrono::steady_clock::now();
  run_statements(
      script, path, fail,
      [&](size_t first_token) {
        if (sqlite3_get_autocommit(db_) != 0) {
          fail(first_token, "a migration must not end its transaction (it runs inside BEGIN IMMEDIATE ... COMMIT)");
        }
      },
      record ? options_.progress : nullptr);
  auto elapsed = std::chrono::steady_clock::now() - start;
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  if (!record) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return ms;
  }
  try {
    record(ms);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw Error(ExitCode::kMigrationFailed, path + ": ERROR: " + message);
  }
  return ms;
}

int64_t SqliteDriver::run_outside_transaction(const Migration& migration, const std::string& action,
                                              const std::string& script, const std::string& path,
                                              const std::function<void(int64_t)>& record) {
  const sqlite3_int64 version = static_cast<sqlite3_int64>(migration.version);
  std::vector<int> ran;         // lines of the statements that ran
  size_t ran_before_block = 0;  // those that stay if the script's own open block rolls back
  auto lines = [&] {
    std::string text;
    for (int line : ran) text += (text.empty() ? "" : ", ") + std::to_string(line);
    return text;
  };
  // Sets the marker's columns (`state` null keeps it); whether that worked.
  auto mark = [&](const char* state, const std::string& error) {
    PreparedStatement update;
    sqlite3_prepare_v2(db_,
                       "UPDATE migrator_schema_migrations SET state = coalesce(?, state), ran = ?, error = ? "
                       "WHERE version = ?",
                       -1, update.out(), nullptr);
    std::string text = lines();
    if (state != nullptr) sqlite3_bind_text(update.get(), 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(update.get(), 2, text.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(update.get(), 3, error.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(update.get(), 4, version);
    return sqlite3_step(update.get()) == SQLITE_DONE;
  };
  auto fail = [&](size_t offset, const std::string& message) {
    if (sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      ran.resize(ran_before_block);
    }
    std::string remain = ran.empty() ? "no statement of it ran"
                                     : std::to_string(ran.size()) +
                                           " statements ran outside a transaction and remain (lines " + lines() + ")";
    std::string where = path + ":" + std::to_string(line_at(script, offset));
    Error error = interrupt_requested()
                      ? Error(ExitCode::kInterrupted, "interrupted: " + where + " was cancelled; " + remain)
                      : Error(ExitCode::kMigrationFailed, where + ": ERROR: " + message + "; " + remain);
    mark("failed", error.what());
    throw error;
  };
  PreparedStatement marker;
  if (action == "up") {
    sqlite3_prepare_v2(db_,
                       "INSERT OR REPLACE INTO migrator_schema_migrations (version, name, checksum, applied_by, "
                       "execution_ms, directory, state, action) VALUES (?, ?, ?, ?, 0, ?, 'running', 'up')",
                       -1, marker.out(), nullptr);
    std::string user = current_user();
    std::string directory = migration.label();
    sqlite3_bind_int64(marker.get(), 1, version);
    sqlite3_bind_text(marker.get(), 2, migration.name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(marker.get(), 3, migration.checksum.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(marker.get(), 4, user.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(marker.get(), 5, directory.c_str(), -1, SQLITE_TRANSIENT);
  } else {
    sqlite3_prepare_v2(db_,
                       "UPDATE migrator_schema_migrations SET state = 'running', action = ?, ran = '', error = '' "
                       "WHERE version = ?",
                       -1, marker.out(), nullptr);
    sqlite3_bind_text(marker.get(), 1, action.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(marker.get(), 2, version);
  }
  if (sqlite3_step(marker.get()) != SQLITE_DONE) {
    throw Error(ExitCode::kDatabase, path + ": cannot mark the migration running: " + sqlite3_errmsg(db_));
  }
  auto start = std::chrono::steady_clock::now();
  bool was_autocommit = true;  // before the statement that just ran
  run_statements(
      script, path, fail,
      [&](size_t first_token) {
        bool autocommit = sqlite3_get_autocommit(db_) != 0;
        if (was_autocommit && !autocommit) ran_before_block = ran.size();  // it began the script's own block
        was_autocommit = autocommit;
        ran.push_back(line_at(script, first_token));
        // Inside the script's own block this update commits or rolls back with the block, as its statements do.
        if (!mark(nullptr, "")) fail(first_token, std::string("cannot record progress: ") + sqlite3_errmsg(db_));
      },
      options_.progress);
  if (sqlite3_get_autocommit(db_) == 0) {
    fail(script.size(), "the script begins a transaction it never ends (add COMMIT); it was rolled back");
  }
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  execute("BEGIN IMMEDIATE", ExitCode::kDatabase, "cannot start a write transaction");
  try {
    if (action == "up") {
      PreparedStatement remove;
      sqlite3_prepare_v2(db_, "DELETE FROM migrator_schema_migrations WHERE version = ? AND state <> 'applied'", -1,
                         remove.out(), nullptr);
      sqlite3_bind_int64(remove.get(), 1, version);
      if (sqlite3_step(remove.get()) != SQLITE_DONE) {
        throw Error(ExitCode::kDatabase, path + ": cannot record the migration: " + sqlite3_errmsg(db_));
      }
    }
    record(ms);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  execute("COMMIT", ExitCode::kDatabase, path + ": every statement ran, but recording the migration failed");
  return ms;
}

int64_t SqliteDriver::apply(const Migration& migration) {
  std::string path = migration.up_path().string();
  auto run = [&](const std::function<void(int64_t)>& record) {
    return migration.options.no_transaction ? run_outside_transaction(migration, "up", migration.up_sql, path, record)
                                            : run_in_transaction(migration.up_sql, path, record);
  };
  return run([&](int64_t ms) {
    PreparedStatement insert;
    sqlite3_prepare_v2(db_,
                       "INSERT INTO migrator_schema_migrations (version, name, checksum, applied_by, execution_ms, "
                       "directory) VALUES (?, ?, ?, ?, ?, ?)",
                       -1, insert.out(), nullptr);
    std::string user = current_user();
    sqlite3_bind_int64(insert.get(), 1, static_cast<sqlite3_int64>(migration.version));
    sqlite3_bind_text(insert.get(), 2, migration.name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.get(), 3, migration.checksum.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.get(), 4, user.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert.get(), 5, ms);
    std::string directory = migration.label();
    sqlite3_bind_text(insert.get(), 6, directory.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(insert.get()) != SQLITE_DONE || !insert_history(migration, "up", "applied", ms, "")) {
      throw Error(ExitCode::kMigrationFailed,
                  path + ": cannot record " + migration.label() + " as applied: " + sqlite3_errmsg(db_));
    }
  });
}

int64_t SqliteDriver::revert(const Migration& migration) {
  std::string path = migration.down_path().string();
  auto run = [&](const std::function<void(int64_t)>& record) {
    return migration.options.no_transaction
               ? run_outside_transaction(migration, "down", migration.down_sql, path, record)
               : run_in_transaction(migration.down_sql, path, record);
  };
  return run([&](int64_t ms) {
    if (!insert_history(migration, "down", "reverted", ms, "")) {
      throw Error(ExitCode::kMigrationFailed,
                  path + ": cannot record reverting " + migration.label() + ": " + sqlite3_errmsg(db_));
    }
    PreparedStatement remove;
    sqlite3_prepare_v2(db_, "DELETE FROM migrator_schema_migrations WHERE version = ?", -1, remove.out(), nullptr);
    sqlite3_bind_int64(remove.get(), 1, static_cast<sqlite3_int64>(migration.version));
    if (sqlite3_step(remove.get()) != SQLITE_DONE || sqlite3_changes(db_) != 1) {
      throw Error(ExitCode::kDatabase, migration.label() + " is not recorded as applied (changed concurrently?)");
    }
  });
}

void SqliteDriver::verify(const Migration& migration) {
  run_in_transaction(migration.verify_sql, migration.verify_path().string(), nullptr);
}

void SqliteDriver::resolve(const Migration& migration, bool applied, const std::vector<InvalidIndex>& drop_indexes) {
  (void)drop_indexes;  // SQLite has no invalid indexes
  const sqlite3_int64 version = static_cast<sqlite3_int64>(migration.version);
  execute("BEGIN IMMEDIATE", ExitCode::kDatabase, "cannot start a write transaction");
  auto fail = [&](ExitCode code, const std::string& message) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw Error(code, "cannot resolve " + migration.label() + ": " + message);
  };
  PreparedStatement select;
  sqlite3_prepare_v2(db_,
                     "SELECT action, ran, error FROM migrator_schema_migrations WHERE version = ? AND state <> "
                     "'applied'",
                     -1, select.out(), nullptr);
  sqlite3_bind_int64(select.get(), 1, version);
  if (sqlite3_step(select.get()) != SQLITE_ROW) {
    fail(ExitCode::kInvalidMigrations, "it is not recorded as failed (changed concurrently?)");
  }
  std::string detail = "was " + column_text(select.get(), 0) + " outside a transaction; statements at lines " +
                       column_text(select.get(), 1) + " ran; " + column_text(select.get(), 2);
  PreparedStatement change;
  if (applied) {
    sqlite3_prepare_v2(db_,
                       "UPDATE migrator_schema_migrations SET state = 'applied', action = 'up', ran = '', error = '', "
                       "name = ?, checksum = ?, directory = ? WHERE version = ?",
                       -1, change.out(), nullptr);
    std::string directory = migration.label();
    sqlite3_bind_text(change.get(), 1, migration.name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(change.get(), 2, migration.checksum.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(change.get(), 3, directory.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(change.get(), 4, version);
  } else {
    sqlite3_prepare_v2(db_, "DELETE FROM migrator_schema_migrations WHERE version = ?", -1, change.out(), nullptr);
    sqlite3_bind_int64(change.get(), 1, version);
  }
  if (sqlite3_step(change.get()) != SQLITE_DONE ||
      !insert_history(migration, "resolve", applied ? "applied" : "reverted", 0, detail)) {
    fail(ExitCode::kDatabase, sqlite3_errmsg(db_));
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    fail(ExitCode::kDatabase, sqlite3_errmsg(db_));
}

void SqliteDriver::baseline(const std::vector<Migration>& migrations) {
  execute("BEGIN IMMEDIATE", ExitCode::kDatabase, "cannot start a write transaction");
  for (const Migration& migration : migrations) {
    PreparedStatement insert;
    sqlite3_prepare_v2(db_,
                       "INSERT INTO migrator_schema_migrations (version, name, checksum, applied_by, execution_ms, "
                       "directory) VALUES (?, ?, ?, ?, 0, ?)",
                       -1, insert.out(), nullptr);
    std::string user = current_user();
    std::string directory = migration.label();
    sqlite3_bind_int64(insert.get(), 1, static_cast<sqlite3_int64>(migration.version));
    sqlite3_bind_text(insert.get(), 2, migration.name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.get(), 3, migration.checksum.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.get(), 4, user.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.get(), 5, directory.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(insert.get()) != SQLITE_DONE || !insert_history(migration, "baseline", "applied", 0, "")) {
      std::string message = sqlite3_errmsg(db_);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw Error(ExitCode::kDatabase,
                  "cannot record the baseline of " + migration.label() + ", nothing was recorded: " + message);
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw Error(ExitCode::kDatabase, "cannot record the baseline, nothing was recorded: " + message);
  }
}

}  // namespace migrator
