// SQLite driver (sqlite3). State lives in the table migrator_schema_migrations. Each migration runs
// in its own BEGIN IMMEDIATE transaction, which also serialises concurrent migrators.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "migrator/drivers/driver.h"
#include "migrator/error.h"

struct sqlite3;

namespace migrator {

class SqliteDriver : public Driver {
 public:
  // Opens the database file at `path`, creating it only with options.create_database; ":memory:" is
  // a private in-memory database. Throws Error(kDatabase) if it cannot be opened or does not exist.
  SqliteDriver(const std::string& path, DriverOptions options);
  ~SqliteDriver() override;
  SqliteDriver(const SqliteDriver&) = delete;
  SqliteDriver& operator=(const SqliteDriver&) = delete;

  // Creates the state table if missing; the lock itself is each migration's BEGIN IMMEDIATE.
  void lock() override;
  // sqlite3_interrupt(), made for this.
  void cancel() override;
  std::vector<AppliedMigration> applied() override;
  std::vector<AppliedMigration> failed() override;
  // Always empty: SQLite has no invalid indexes.
  std::vector<InvalidIndex> invalid_indexes() override;
  // migrator_history; UPDATE and DELETE on it are refused by triggers.
  std::vector<HistoryEntry> history() override;
  void record_failure(const Migration& migration, const std::string& action, const std::string& outcome,
                      const std::string& detail) noexcept override;
  // Prepares and steps one statement at a time (sqlite3_prepare_v2 with the tail pointer), so the
  // failing statement's line is known. A script that ends the transaction itself is an error.
  int64_t apply(const Migration& migration) override;
  int64_t revert(const Migration& migration) override;
  void baseline(const std::vector<Migration>& migrations) override;
  // drop_indexes is always empty on SQLite (see invalid_indexes()).
  void resolve(const Migration& migration, bool applied, const std::vector<InvalidIndex>& drop_indexes) override;
  void verify(const Migration& migration) override;
  // sqlite_dry_run.cpp: BEGIN IMMEDIATE (the write lock), each statement with its row count, ROLLBACK.
  DryRunReport dry_run(const std::function<std::vector<DryRunScript>()>& plan) override;

 private:
  // Prepares and steps each statement of `script` in turn (sqlite3_prepare_v2 with the tail pointer, so
  // the failing statement's line is known), telling `progress`; calls `fail(offset, message)`, which
  // must throw, for an error or an interrupt, and `after(offset of its first token)` after each one.
  void run_statements(const std::string& script, const std::string& path,
                      const std::function<void(size_t, const std::string&)>& fail,
                      const std::function<void(size_t)>& after, ProgressListener* progress);
  // Runs `script` (read from `path`) then `record(milliseconds)` inside BEGIN IMMEDIATE ... COMMIT;
  // without `record`, rolls back instead of committing.
  int64_t run_in_transaction(const std::string& script, const std::string& path,
                             const std::function<void(int64_t)>& record);
  // With '-- migrator: no-transaction': runs `script` statement by statement in autocommit (or in the
  // script's own BEGIN ... COMMIT), then `record(milliseconds)` in a transaction of its own. A failing
  // statement leaves the ones before it in effect; the error names them.
  // The state row says 'running' before the first statement and which ones ran after each, each
  // write committed at once; a failure marks it 'failed' (see Driver::apply).
  int64_t run_outside_transaction(const Migration& migration, const std::string& action, const std::string& script,
                                  const std::string& path, const std::function<void(int64_t)>& record);
  // The state table's rows, applied ones or the others.
  std::vector<AppliedMigration> rows(bool failed);
  // Whether the state table has `column`.
  bool has_state_column(const char* column);
  // Appends one history row (inside the caller's transaction, if any); false on failure.
  bool insert_history(const Migration& migration, const std::string& action, const std::string& outcome,
                      int64_t duration_ms, const std::string& detail);
  // Whether a table of that name exists.
  bool has_table(const char* table);
  // Whether migrator_history's action check allows 'resolve', the latest action (false also if the
  // table is missing).
  bool history_allows_resolve();
  // Whether the state table has the `directory` column (added after the first release).
  bool has_directory_column();
  // Executes one statement without parameters; throws Error(code) with `context` on failure, or
  // Error(kLockHeld) if another connection holds the write lock past wait_seconds.
  void execute(const char* sql, ExitCode code, const std::string& context);

  // The busy handler: waits for another connection's write lock up to wait_seconds (0: fails
  // at once), saying so once a second to options.notices; gives up at once when interrupted.
  static int on_busy(void* self, int attempts);

  sqlite3* db_ = nullptr;
  DriverOptions options_;
  int64_t busy_since_ms_ = 0;
  int64_t busy_reported_seconds_ = 0;
};

}  // namespace migrator
