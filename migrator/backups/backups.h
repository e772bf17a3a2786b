// Verified backups of the target database: taken on request (`migrator backup`) and automatically
// before an `up`, `down` or `redo` whose scripts destroy data, listed, and restored after a check of
// their SHA-256.
//
// PostgreSQL: `pg_dump -Fc` (pg_dump and pg_restore from --pg-bin, else $PG_BINDIR, else PATH),
// verified with `pg_restore --list`, restored with `pg_restore --clean --if-exists
// --single-transaction`. SQLite: the online backup API, verified by `PRAGMA integrity_check` on the
// copy, restored with the backup API the other way.
//
// Each backup is a file in the backups directory with a sidecar "<file>.sha256" (sha256sum's
// format), recorded in the database (migrator.backups / migrator_backups: file, size, sha256,
// created_at, by, reason) and in the history (action "backup"). A restore reads the expected hash
// from that record, or from the sidecar when the record is gone (e.g. the state was dropped).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "migrator/drivers/database_url.h"
#include "migrator/drivers/dry_run.h"

namespace migrator {

struct BackupRecord {
  std::string file;  // absolute path
  int64_t size = 0;
  std::string sha256;      // lower-case hex
  std::string created_at;  // ISO-8601 UTC
  std::string by;
  std::string reason;  // "requested", "before 0005_drop_x: 0005_drop_x/up.sql:3: DROP TABLE"

  nlohmann::json to_json() const;
};

struct BackupOptions {
  std::filesystem::path directory;  // where new backups go (created if missing)
  std::string pg_bindir;            // pg_dump and pg_restore; empty: $PG_BINDIR, else PATH
  int keep = 10;                    // retention: the newest `keep` backups stay, older files and rows go
  // pg_dump's zlib level (0 to 9). Level 1 takes about a quarter of the CPU of pg_dump's default
  // (6) for a sixth more bytes: a backup before `complete` runs beside the application's sessions.
  int compression = 1;
};

class Backups {
 public:
  virtual ~Backups() = default;

  // Takes a backup into `out` (or a new file named after the database and the UTC time in the
  // backups directory), verifies it, writes the sidecar, records it and applies retention.
  // Throws Error(kBackupFailed) if dumping, verifying or recording fails; the file is removed then.
  // Call with the migration lock held.
  virtual BackupRecord backup(const std::string& reason, const std::filesystem::path& out) = 0;

  // The recorded backups, newest first (empty if none or no state yet).
  virtual std::vector<BackupRecord> list() = 0;

  // Checks `file` against its recorded SHA-256 (record, else sidecar) and throws
  // Error(kBackupFailed), changing nothing, if it does not match or no hash is known. Then calls
  // `confirm` (which throws to refuse), restores, and records the restore in the history after it.
  // Returns the record the file was checked against.
  virtual BackupRecord restore(const std::filesystem::path& file, const std::function<void()>& confirm) = 0;
};

// Backups of the database `url` names. Throws Error(kDatabase) if it cannot be reached.
std::unique_ptr<Backups> open_backups(const DatabaseUrl& url, const BackupOptions& options);

// Why `statement_sql` (one PostgreSQL statement) destroys data, e.g. "DROP TABLE", "ALTER TABLE
// ... DROP COLUMN", "DELETE without WHERE"; empty if it does not. From the parse tree: DROP of a
// table, schema, materialized view, sequence or database, TRUNCATE, DROP COLUMN, a column type
// change (it may rewrite and convert values), DELETE or UPDATE without WHERE.
std::string destructive_reason(const std::string& statement_sql);

// "<path>:<line>: <reason>" for the first destructive statement of `scripts`; empty if none. A
// script the PostgreSQL parser cannot read (SQLite dialect) counts as destructive: better one
// backup too many.
std::string first_destructive_statement(const std::vector<DryRunScript>& scripts);

// Lower-case hex SHA-256 of a file's bytes. Throws Error(kBackupFailed) if it cannot be read.
std::string sha256_of_file(const std::filesystem::path& file);

}  // namespace migrator
