// SQLite backups: the online backup API (sqlite3_backup_init/step/finish) into a file, verified by
// PRAGMA integrity_check on the copy, restored with the backup API the other way. Recorded in
// migrator_backups and migrator_history of the database itself.
#pragma once

#include <string>

#include "migrator/backups/backups.h"

struct sqlite3;

namespace migrator {

class SqliteBackups : public Backups {
 public:
  SqliteBackups(std::string path, BackupOptions options);
  ~SqliteBackups() override;
  SqliteBackups(const SqliteBackups&) = delete;
  SqliteBackups& operator=(const SqliteBackups&) = delete;

  BackupRecord backup(const std::string& reason, const std::filesystem::path& out) override;
  std::vector<BackupRecord> list() override;
  // As on PostgreSQL, the state afterwards is the backup's; history rows and backup records written
  // since the backup are added back, then the "restore" row.
  BackupRecord restore(const std::filesystem::path& file, const std::function<void()>& confirm) override;

 private:
  void ensure_state();
  void exec(const std::string& sql, const std::string& context);
  bool has_table(const char* name);

  std::string path_;
  BackupOptions options_;
  sqlite3* db_ = nullptr;
};

}  // namespace migrator
