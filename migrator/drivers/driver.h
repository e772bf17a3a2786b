// The database side of the migrator: where state is kept and how one migration is run atomically.
// The engine decides what to apply or revert; a driver only executes, one migration at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "migrator/drivers/dry_run.h"
#include "migrator/source/source.h"

namespace migrator {

// One row of the state table.
struct AppliedMigration {
  uint64_t version = 0;
  std::string name;
  std::string checksum;
  std::string applied_at;  // ISO-8601 UTC, e.g. 2024-01-01T12:00:00Z
  std::string applied_by;
  int64_t execution_ms = 0;
  // The directory name it was applied from ("0002_add_email"); empty for rows recorded before the
  // state table had this column.
  std::string directory;
  // "applied"; for a migration run outside a transaction that did not finish, "running" (the run
  // died or runs now) or "failed" (a statement failed), with the direction of that run ("up" or
  // "down"), the lines of the statements that ran ("2, 3"; empty if none) and the error.
  std::string state = "applied";
  std::string action = "up";
  std::string ran;
  std::string error;
};

// An index PostgreSQL marks invalid (pg_index.indisvalid = false): what a CREATE INDEX CONCURRENTLY
// that failed or was killed leaves behind.
struct InvalidIndex {
  std::string schema;
  std::string name;
  std::string table;
};

// One row of the append-only history: every attempt to apply or revert a migration.
struct HistoryEntry {
  uint64_t version = 0;
  std::string name;
  // "up", "down", "baseline", "resolve"; "backup" or "restore" (migrator/backups); "expand",
  // "backfill", "complete" or "abort" (declarative migrations, migrator/expand/phases.h).
  std::string action;
  std::string outcome;  // "applied", "reverted", "failed" or "interrupted"; "completed" for backup, restore, backfill
  std::string at;       // ISO-8601 UTC
  std::string by;
  int64_t duration_ms = 0;
  std::string migrator_version;
  std::string detail;  // the error, for failed and interrupted attempts
};

// Told as each statement of a migration's script starts (from the thread running it) and when the
// script is over, however it ended: what a progress line on a terminal shows.
class ProgressListener {
 public:
  virtual ~ProgressListener() = default;
  // Statement `number` (from 1) of `total` (0: not known in advance, as on SQLite) of the script at `path`.
  virtual void statement(const std::string& path, size_t number, size_t total) = 0;
  virtual void finished() = 0;
};

// Calls finished() on destruction, if there is a listener.
struct ProgressScope {
  explicit ProgressScope(ProgressListener* listener) : listener(listener) {}
  ~ProgressScope() {
    if (listener != nullptr) listener->finished();
  }
  ProgressScope(const ProgressScope&) = delete;
  ProgressScope& operator=(const ProgressScope&) = delete;
  ProgressListener* listener;
};

struct DriverOptions {
  // How long to wait for another run's migration lock (PostgreSQL advisory lock, SQLite write lock),
  // in seconds; 0 fails at once.
  int wait_seconds = 0;
  // PostgreSQL only. Every migration runs with SET LOCAL lock_timeout (0: none) and, if above 0,
  // SET LOCAL statement_timeout; a migration's header options override both. A migration whose
  // statement times out waiting for a lock is rolled back and retried up to lock_retries times,
  // after retry_backoff_ms, doubling each time. Outside a transaction the statement alone is retried
  // so, when it ran in autocommit (it did nothing) and is not one PostgreSQL refuses in a transaction
  // block (CREATE INDEX CONCURRENTLY, ...: several transactions of its own, which may leave work behind).
  int64_t lock_timeout_ms = 5000;
  int64_t statement_timeout_ms = 0;
  int lock_retries = 3;
  int64_t retry_backoff_ms = 1000;
  // Whether a database that does not exist yet may be created (an SQLite file; PostgreSQL databases
  // are never created). Only `up` sets it: read-only commands and `down` never create a database.
  bool create_database = false;
  // Where to say, once a second, that the run is waiting for another run's migration lock; none if null.
  std::ostream* notices = nullptr;
  // Told about each statement of apply() and revert(); none if null.
  ProgressListener* progress = nullptr;
};

class Driver {
 public:
  virtual ~Driver() = default;

  // Takes the migration lock for the rest of this driver's life (a no-op where each migration's
  // own transaction serialises writers) and creates the state table if it does not exist.
  // Call before apply/revert. Throws Error(kDatabase) if the lock cannot be had in time.
  virtual void lock() = 0;

  // The state table's applied rows sorted by version; empty if the state table does not exist yet.
  virtual std::vector<AppliedMigration> applied() = 0;
  // The rows of migrations run outside a transaction that did not finish (state "running" or
  // "failed"), sorted by version.
  virtual std::vector<AppliedMigration> failed() = 0;
  // Every invalid index in the database (none on SQLite, which has no such state).
  virtual std::vector<InvalidIndex> invalid_indexes() = 0;

  // The history, oldest first; empty if it does not exist yet. Successful attempts are recorded by
  // apply() and revert() in the migration's own transaction; failed ones by record_failure().
  virtual std::vector<HistoryEntry> history() = 0;
  // Appends a failed or interrupted attempt (`action` "up" or "down") after its rollback. Never
  // throws: a history row must not hide the migration's own error.
  virtual void record_failure(const Migration& migration, const std::string& action, const std::string& outcome,
                              const std::string& detail) noexcept = 0;

  // Makes the statement running now (or waiting for a lock) fail promptly. Safe to call from another
  // thread while this driver works; a no-op if nothing runs. Pair it with request_interrupt().
  virtual void cancel() = 0;

  // Checks a script before anything runs, as when the directory is read: throws
  // Error(kInvalidMigrations) "<path>:<line>: ..." for what this database cannot run as a migration.
  // `no_transaction`: the migration declares '-- migrator: no-transaction'. Returns whether the script
  // will run statement by statement outside a transaction (declared, or on PostgreSQL implied by its
  // statements). The default accepts everything and returns `no_transaction` (SQLite refuses a script
  // that ends its transaction as it runs it, rolling it back).
  virtual bool check(const std::string& script, const std::string& path, bool no_transaction = false) {
    (void)script;
    (void)path;
    return no_transaction;
  }

  // Runs `migration.up_sql` statement by statement and records the state row, all in one
  // transaction. Returns the milliseconds the SQL took. On failure nothing of the migration
  // remains and Error(kMigrationFailed) says "<up.sql path>:<line>: <database error>".
  // A script that runs outside a transaction (see check()) is marked "running" in the state before
  // its first statement, with progress after each; if one fails the statements before it remain, the
  // row says "failed", and the error names them.
  virtual int64_t apply(const Migration& migration) = 0;

  // Runs `migration.down_sql` and deletes the state row, in one transaction; failures as apply().
  virtual int64_t revert(const Migration& migration) = 0;

  // Runs `migration.verify_sql` statement by statement inside a transaction that is then rolled back,
  // so nothing it does remains. Throws Error(kMigrationFailed) "<verify.sql path>:<line>: <database
  // error>" if a statement fails.
  virtual void verify(const Migration& migration) = 0;

  // Clears the failed state of `migration` (see failed()) in one transaction with a history row
  // ("resolve", "applied" or "reverted"): `applied` records it applied with its checksum from the
  // files; otherwise its row is removed, after each of `drop_indexes` is dropped (DROP INDEX
  // CONCURRENTLY IF EXISTS, outside a transaction). Throws Error(kDatabase) if that fails, or
  // Error(kInvalidMigrations) if the migration is no longer recorded as failed.
  virtual void resolve(const Migration& migration, bool applied, const std::vector<InvalidIndex>& drop_indexes) = 0;

  // Records every one of `migrations` as applied without running its SQL (execution_ms 0, the
  // checksum from the files), each with a history row ("baseline", "applied"), all in one
  // transaction. Throws Error(kDatabase) if that fails; then nothing is recorded.
  virtual void baseline(const std::vector<Migration>& migrations) = 0;

  // A dry run (see dry_run.h): takes the migration lock (creating no state table), calls `plan` for
  // the scripts to run, then runs them all in order inside ONE transaction that is rolled back, and
  // reports every statement. Nothing persists (PostgreSQL sequences aside: reported). A failing
  // statement ends the run with DryRunReport::error set. Throws Error(kLockHeld) like lock(),
  // whatever `plan` throws, and Error(kDatabase) if the database fails outside the scripts.
  virtual DryRunReport dry_run(const std::function<std::vector<DryRunScript>()>& plan) = 0;
};

}  // namespace migrator
