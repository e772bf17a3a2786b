#include "migrator/backups/sqlite_backups.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdlib>

#include "migrator/backups/backup_files.h"
#include "migrator/error.h"
#include "migrator/version.h"

namespace migrator {
namespace fs = std::filesystem;

namespace {

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      throw Error(ExitCode::kBackupFailed, std::string("SQLite: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  void bind(int i, const std::string& text) { sqlite3_bind_text(stmt_, i, text.c_str(), -1, SQLITE_TRANSIENT); }
  void bind(int i, int64_t value) { sqlite3_bind_int64(stmt_, i, value); }
  bool row() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) throw Error(ExitCode::kBackupFailed, std::string("SQLite: ") + sqlite3_errmsg(db_));
    return false;
  }
  std::string text(int column) const {
    const unsigned char* value = sqlite3_column_text(stmt_, column);
    return value == nullptr ? std::string() : reinterpret_cast<const char*>(value);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

std::string current_user() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "unknown";
}

// Copies database "main" of `from` into "main" of `to` with the online backup API.
void copy_database(sqlite3* from, sqlite3* to, const std::string& what) {
  sqlite3_backup* backup = sqlite3_backup_init(to, "main", from, "main");
  if (backup == nullptr) throw Error(ExitCode::kBackupFailed, what + ": " + sqlite3_errmsg(to));
  int rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) throw Error(ExitCode::kBackupFailed, what + ": " + sqlite3_errstr(rc));
}

// A table's rows, every column kept as an sqlite3_value, with the column names.
struct SavedRows {
  std::vector<std::string> columns;
  std::vector<std::vector<sqlite3_value*>> rows;
  ~SavedRows() {
    for (auto& row : rows) {
      for (sqlite3_value* value : row) sqlite3_value_free(value);
    }
  }
};

void save_rows(sqlite3* db, const std::string& table, SavedRows* saved) {
  Statement select(db, "SELECT * FROM " + table + " ORDER BY id");
  int count = sqlite3_column_count(select.get());
  for (int i = 0; i < count; ++i) saved->columns.push_back(sqlite3_column_name(select.get(), i));
  while (select.row()) {
    std::vector<sqlite3_value*> row;
    for (int i = 0; i < count; ++i) row.push_back(sqlite3_value_dup(sqlite3_column_value(select.get(), i)));
    saved->rows.push_back(std::move(row));
  }
}

// Adds back the saved rows whose id is above every id in the (restored) table.
void add_back_newer(sqlite3* db, const std::string& table, const SavedRows& saved) {
  if (saved.rows.empty()) return;
  Statement highest(db, "SELECT coalesce(max(id), 0) FROM " + table);
  highest.row();
  int64_t max_id = sqlite3_column_int64(highest.get(), 0);
  std::string columns;
  std::string marks;
  size_t id_column = 0;
  for (size_t i = 0; i < saved.columns.size(); ++i) {
    columns += (i == 0 ? "" : ", ") + saved.columns[i];
    marks += i == 0 ? "?" : ", ?";
    if (saved.columns[i] == "id") id_column = i;
  }
  for (const auto& row : saved.rows) {
    if (sqlite3_value_int64(row[id_column]) <= max_id) continue;
    Statement insert(db, "INSERT INTO " + table + " (" + columns + ") VALUES (" + marks + ")");
    for (size_t i = 0; i < row.size(); ++i) sqlite3_bind_value(insert.get(), static_cast<int>(i + 1), row[i]);
    insert.row();
  }
}

}  // namespace

SqliteBackups::SqliteBackups(std::string path, BackupOptions options)
    : path_(std::move(path)), options_(std::move(options)) {
  if (path_ == ":memory:")
    throw Error(ExitCode::kUsage, "an in-memory SQLite database cannot be backed up or restored");
  if (!fs::exists(path_)) throw Error(ExitCode::kDatabase, "SQLite database " + path_ + " does not exist");
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db_);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ExitCode::kDatabase, "cannot open SQLite database " + path_ + ": " + message);
  }
  sqlite3_busy_timeout(db_, 5000);
}

SqliteBackups::~SqliteBackups() { sqlite3_close(db_); }

void SqliteBackups::exec(const std::string& sql, const std::string& context) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw Error(ExitCode::kBackupFailed, context + ": " + text);
  }
}

bool SqliteBackups::has_table(const char* name) {
  Statement exists(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  exists.bind(1, std::string(name));
  return exists.row();
}

void SqliteBackups::ensure_state() {
  exec(
      "CREATE TABLE IF NOT EXISTS migrator_backups (id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL,"
      " size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
      " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), by TEXT NOT NULL,"
      " reason TEXT NOT NULL)",
      "cannot create migrator_backups");
  if (!has_table("migrator_history")) return;
  std::string sql;
  {  // finalized before the table is dropped below
    Statement probe(db_, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'migrator_history'");
    probe.row();
    sql = probe.text(0);
  }
  if (sql.find("'backup'") != std::string::npos) return;
  // SQLite cannot alter a check: the history is rebuilt with backup/restore allowed (rows and ids
  // kept), from its own definition, and its append-only triggers made again.
  auto widen = [&](const std::string& opening, const std::string& added) {
    size_t at = sql.find(opening);
    if (at == std::string::npos) throw Error(ExitCode::kBackupFailed, "unexpected migrator_history definition");
    sql.insert(at + opening.size(), added);
  };
  widen("action IN (", "'backup', 'restore', ");
  widen("outcome IN (", "'completed', ");
  sql.replace(sql.find("migrator_history"), std::string("migrator_history").size(), "migrator_history_widened");
  exec("BEGIN IMMEDIATE", "cannot upgrade migrator_history");
  try {
    exec(sql +
             ";INSERT INTO migrator_history_widened SELECT * FROM migrator_history;DROP TABLE migrator_history;"
             "ALTER TABLE migrator_history_widened RENAME TO migrator_history;"
             "CREATE TRIGGER migrator_history_no_update BEFORE UPDATE ON migrator_history"
             " BEGIN SELECT RAISE(ABORT, 'migrator_history is append-only'); END;"
             "CREATE TRIGGER migrator_history_no_delete BEFORE DELETE ON migrator_history"
             " BEGIN SELECT RAISE(ABORT, 'migrator_history is append-only'); END;"
             "COMMIT",
         "cannot upgrade migrator_history");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

BackupRecord SqliteBackups::backup(const std::string& reason, const fs::path& out) {
  ensure_state();
  auto start = std::chrono::steady_clock::now();
  fs::path file = out.empty() ? new_backup_path(options_.directory, fs::path(path_).stem().string(), ".sqlite3")
                              : fs::absolute(out);
  if (!out.empty() && fs::exists(file)) {
    throw Error(ExitCode::kBackupFailed, "backup: " + file.string() + " exists already; nothing was written");
  }
  try {
    sqlite3* copy = nullptr;
    int rc = sqlite3_open_v2(file.c_str(), &copy, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    struct Close {
      sqlite3*& db;
      ~Close() { sqlite3_close(db); }
    } close_copy{copy};
    if (rc != SQLITE_OK) throw Error(ExitCode::kBackupFailed, "backup: cannot create " + file.string());
    copy_database(db_, copy, "backup failed");
    Statement check(copy, "PRAGMA integrity_check");
    if (!check.row() || check.text(0) != "ok") {
      throw Error(ExitCode::kBackupFailed,
                  "backup failed verification (PRAGMA integrity_check: " + check.text(0) + ")");
    }
  } catch (const Error& e) {
    remove_backup_files(file);
    throw Error(ExitCode::kBackupFailed, std::string(e.what()) + "; the file was removed");
  }
  BackupRecord record;
  record.file = file.string();
  record.size = static_cast<int64_t>(fs::file_size(file));
  record.sha256 = sha256_of_file(file);
  record.reason = reason;
  record.by = current_user();
  try {
    write_sidecar(file, record.sha256);
    int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    exec("BEGIN IMMEDIATE", "backup: cannot record it");
    Statement insert(db_, "INSERT INTO migrator_backups (file, size, sha256, by, reason) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, record.file);
    insert.bind(2, record.size);
    insert.bind(3, record.sha256);
    insert.bind(4, record.by);
    insert.bind(5, record.reason);
    insert.row();
    {
      Statement created(db_, "SELECT created_at FROM migrator_backups WHERE id = last_insert_rowid()");
      created.row();
      record.created_at = created.text(0);
    }
    if (has_table("migrator_history")) {
      Statement history(db_,
                        "INSERT INTO migrator_history (version, name, action, outcome, by, duration_ms, "
                        "migrator_version, detail) VALUES ((SELECT coalesce(max(version), 0) FROM "
                        "migrator_schema_migrations), ?, 'backup', 'completed', ?, ?, ?, ?)");
      history.bind(1, file.filename().string());
      history.bind(2, record.by);
      history.bind(3, ms);
      history.bind(4, std::string(kMigratorVersion));
      history.bind(5, reason + "; " + record.file + " (" + std::to_string(record.size) + " bytes, sha256 " +
                          record.sha256 + ")");
      history.row();
    }
    exec("COMMIT", "backup: cannot record it");
  } catch (const Error& e) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    remove_backup_files(file);
    throw Error(ExitCode::kBackupFailed, std::string(e.what()) + "; the file was removed");
  }
  std::vector<BackupRecord> records = list();
  for (size_t i = static_cast<size_t>(options_.keep); i < records.size(); ++i) {
    remove_backup_files(records[i].file);
    Statement remove(db_, "DELETE FROM migrator_backups WHERE file = ?");
    remove.bind(1, records[i].file);
    remove.row();
  }
  return record;
}

std::vector<BackupRecord> SqliteBackups::list() {
  std::vector<BackupRecord> records;
  if (!has_table("migrator_backups")) return records;
  Statement select(db_,
                   "SELECT file, size, sha256, created_at, by, reason FROM migrator_backups "
                   "ORDER BY created_at DESC, id DESC");
  while (select.row()) {
    BackupRecord record;
    record.file = select.text(0);
    record.size = sqlite3_column_int64(select.get(), 1);
    record.sha256 = select.text(2);
    record.created_at = select.text(3);
    record.by = select.text(4);
    record.reason = select.text(5);
    records.push_back(std::move(record));
  }
  return records;
}

BackupRecord SqliteBackups::restore(const fs::path& given, const std::function<void()>& confirm) {
  fs::path file = fs::absolute(given);
  BackupRecord record = check_backup_file(file, list(), "migrator_backups");
  confirm();
  auto start = std::chrono::steady_clock::now();
  SavedRows history;
  SavedRows backups;
  if (has_table("migrator_history")) save_rows(db_, "migrator_history", &history);
  if (has_table("migrator_backups")) save_rows(db_, "migrator_backups", &backups);
  {
    sqlite3* source = nullptr;
    int rc = sqlite3_open_v2(file.c_str(), &source, SQLITE_OPEN_READONLY, nullptr);
    struct Close {
      sqlite3*& db;
      ~Close() { sqlite3_close(db); }
    } close_source{source};
    if (rc != SQLITE_OK) throw Error(ExitCode::kBackupFailed, "restore: cannot open " + file.string());
    copy_database(source, db_, "restore failed");
  }
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  try {
    ensure_state();
    exec("BEGIN IMMEDIATE", "restore: cannot record it");
    if (has_table("migrator_history")) add_back_newer(db_, "migrator_history", history);
    add_back_newer(db_, "migrator_backups", backups);
    if (has_table("migrator_history")) {
      Statement insert(db_,
                       "INSERT INTO migrator_history (version, name, action, outcome, by, duration_ms, "
                       "migrator_version, detail) VALUES ((SELECT coalesce(max(version), 0) FROM "
                       "migrator_schema_migrations), ?, 'restore', 'completed', ?, ?, ?, ?)");
      insert.bind(1, file.filename().string());
      insert.bind(2, current_user());
      insert.bind(3, ms);
      insert.bind(4, std::string(kMigratorVersion));
      insert.bind(5, "restored " + file.string() + " (sha256 " + record.sha256 + "); the state is the backup's");
      insert.row();
    }
    exec("COMMIT", "restore: cannot record it");
  } catch (const Error& e) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw Error(ExitCode::kBackupFailed,
                std::string("restore: the database was restored, but recording it failed: ") + e.what());
  }
  return record;
}

}  // namespace migrator
