// PostgreSQL backups: pg_dump -Fc, pg_restore --list, pg_restore --clean --if-exists
// --single-transaction; recorded in migrator.backups and migrator.history over a connection of
// their own (the driver's keeps the migration lock).
#pragma once

#include <memory>
#include <string>

#include "migrator/backups/backups.h"

namespace migrator {

class PostgresBackups : public Backups {
 public:
  PostgresBackups(std::string conninfo, BackupOptions options);
  ~PostgresBackups() override;

  BackupRecord backup(const std::string& reason, const std::filesystem::path& out) override;
  std::vector<BackupRecord> list() override;
  // The restore replaces the migrator schema with the backup's, so the state afterwards is the
  // state at the backup. History rows and backup records written since the backup are kept: they
  // are read before and added back after the restore, followed by the "restore" row.
  BackupRecord restore(const std::filesystem::path& file, const std::function<void()>& confirm) override;

 private:
  // Creates migrator.backups and lets migrator.history take actions backup and restore.
  void ensure_state();
  void apply_retention();

  std::string conninfo_;
  BackupOptions options_;
  struct Session;
  std::unique_ptr<Session> session_;
};

}  // namespace migrator
