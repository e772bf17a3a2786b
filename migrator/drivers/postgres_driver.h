// PostgreSQL driver (libpqxx). State lives in migrator.schema_migrations; concurrent migrators on
// one database are serialised by a session-level advisory lock held from lock() to destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "migrator/drivers/driver.h"

namespace pqxx {
class connection_base;
}

namespace migrator {

// Creates or upgrades in place the migrator's state in schema migrator (schema_migrations, history,
// expand_phases), unless it is already as this version makes it: the schema's comment names the
// hash of the one script that defines it, and the shape checks out. Throws Error(kDatabase).
void ensure_postgres_state(pqxx::connection_base& connection);

class PostgresDriver : public Driver {
 public:
  // The advisory lock key: 64-bit FNV-1a of the string "migrator", as a signed bigint.
  static const int64_t kLockKey;

  // Connects with a libpq URI (postgresql://...) or key=value connection string.
  // Throws Error(kDatabase) if the connection fails.
  PostgresDriver(const std::string& conninfo, DriverOptions options);
  ~PostgresDriver() override;

  // Polls pg_try_advisory_lock(kLockKey) until it succeeds, wait_seconds pass (0: fails at once,
  // Error(kLockHeld) naming the holder) or the run is interrupted, saying once a second to
  // options.notices who holds the lock. Then
  // creates or upgrades schema migrator and its table, unless they are as this version makes them
  // (the schema's comment names the hash of the script that does it, and their shape checks out).
  // Later calls do nothing: the lock is held until unlock() or the driver's destruction.
  void lock() override;
  // Releases the lock now, over the open connection (the destructor calls it): a disconnect alone
  // frees it only once the server's backend has finished exiting, after this process may have
  // gone, and a run started at once after this one would find it held (exit 5). Never throws.
  void unlock() noexcept;
  void cancel() override;
  std::vector<AppliedMigration> applied() override;
  std::vector<AppliedMigration> failed() override;
  std::vector<InvalidIndex> invalid_indexes() override;
  // migrator.history; UPDATE and DELETE on it are refused by a trigger.
  std::vector<HistoryEntry> history() override;
  void record_failure(const Migration& migration, const std::string& action, const std::string& outcome,
                      const std::string& detail) noexcept override;
  // plan_postgres_script(): from the parse tree, refuses transaction control (BEGIN, COMMIT, ...) in a
  // migration that runs in a transaction, and statements PostgreSQL refuses in a transaction block
  // (CREATE INDEX CONCURRENTLY, VACUUM, ...) mixed with others unless declared no-transaction.
  bool check(const std::string& script, const std::string& path, bool no_transaction = false) override;
  // Splits the script with libpg_query first, so a syntax error is reported before any statement
  // runs; then executes statement by statement inside one transaction.
  int64_t apply(const Migration& migration) override;
  int64_t revert(const Migration& migration) override;
  void baseline(const std::vector<Migration>& migrations) override;
  void resolve(const Migration& migration, bool applied, const std::vector<InvalidIndex>& drop_indexes) override;
  void verify(const Migration& migration) override;
  // postgres_dry_run.cpp: locks from pg_locks after each statement, rewrites from relfilenode.
  DryRunReport dry_run(const std::function<std::vector<DryRunScript>()>& plan) override;

 private:
  // The session's connection (for postgres_dry_run.cpp, which cannot see Session).
  pqxx::connection_base& connection();
  struct Session;
  // The state table's rows, applied ones or the others.
  std::vector<AppliedMigration> rows(bool failed);
  std::unique_ptr<Session> session_;
  DriverOptions options_;
  bool locked_ = false;  // lock() succeeded
  // The session holds the prepared statements that record an apply and a revert.
  // Prepares the record statement `name` (`statement`: its parameter types and body) once per
  // session; false, and every record to be prepared again later, when the script `deallocates`.
  bool record_prepared(const std::string& name, const std::string& statement, bool deallocates, bool* prepared,
                       const std::string& path);
  bool apply_record_prepared_ = false;
  bool revert_record_prepared_ = false;
};

}  // namespace migrator
