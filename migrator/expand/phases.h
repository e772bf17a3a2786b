// The phases of a declarative migration on PostgreSQL: expand (with its backfill), complete, abort,
// and their state in migrator.expand_phases (part of the migrator's state, which
// ensure_postgres_state() in migrator/drivers/postgres_driver.h creates and upgrades in place).
// Each phase appends a row to migrator.history: expand (applied or failed), backfill (completed with
// its rows and batches, failed or interrupted), complete (applied or failed), abort (reverted or
// failed).
//
// Phases: expanding (the expand DDL is committed, CREATE INDEX CONCURRENTLY steps may still run),
// backfilling, expanded (ready for complete), complete (the contract ran; the migration is then also
// recorded in migrator.schema_migrations like any applied one), aborted (abort ran; `up` expands it
// anew). The plan made at expand (complete's and abort's statements, the backfill jobs) is stored
// with the row, so complete and abort do what expand planned whatever the catalog looks like since.
// Every transaction runs with SET LOCAL lock_timeout and is retried with exponential backoff when a
// lock wait times out; a failed CREATE INDEX CONCURRENTLY is dropped at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "migrator/drivers/dry_run.h"
#include "migrator/expand/backfill.h"
#include "migrator/expand/declarative.h"
#include "migrator/source/source.h"

namespace migrator::expand {

struct PhaseOptions {
  int64_t lock_timeout_ms = 500;
  int lock_retries = 5;
  int64_t retry_backoff_ms = 200;  // doubled after each retry
  std::ostream* notices = nullptr;
  BackfillOptions backfill;                     // batch size, target, pauses and load limits
  BackfillObserver* backfill_observer = nullptr;  // progress (bar or JSON lines); none if null
};

struct PhaseRow {
  uint64_t version = 0;
  std::string name;
  std::string phase;  // expanding, backfilling, expanded, complete, aborted
  std::string checksum;
  std::vector<std::string> tables;
  std::string error;
  int64_t backfill_rows_done = -1;  // its backfill's checkpoints summed; -1 before the backfill started
  int64_t backfill_rows_total = -1;
};

class PhaseRunner {
 public:
  // Connects with a libpq connection string. Throws Error(kDatabase).
  PhaseRunner(const std::string& conninfo, PhaseOptions options, std::ostream& out);
  ~PhaseRunner();

  // The rows of migrator.expand_phases by version; empty if the table does not exist yet.
  std::map<uint64_t, PhaseRow> phases();

  // Expands `migration` and runs its backfill. Refuses (Error kInvalidMigrations, nothing changed)
  // if another in-flight migration changes one of its tables, naming both versions. On a migration
  // left expanding (an index step failed), resumes: the index steps not yet built, then the backfill.
  void expand(const Migration& migration);
  // Runs (or resumes) the backfill of an expanded migration; phase backfilling -> expanded.
  void backfill(const Migration& migration);
  // The contract phase. Refuses unless the phase is expanded and the backfill done, the files match
  // the checksum recorded at expand, and `requires_flag` (if any) is met.
  void complete(const Migration& migration);
  // The refusals of complete(), alone: to call before taking a backup for it.
  void check_complete(const Migration& migration);
  // Whether the migration is complete but an index drop of its contract failed (after the contract
  // transaction committed): complete() then runs the drops again, and needs no backup.
  bool drops_pending(const Migration& migration);
  // Undoes the expand of a migration not yet complete.
  void abort(const Migration& migration);

  // The statements of each phase of `migration` as planned against the catalog now, as scripts
  // for a dry run: "expand", "abort" (rolled back to before it), "backfill" (one UPDATE per table)
  // and "complete" (see DryRunScript).
  std::vector<DryRunScript> dry_run_scripts(const Migration& migration, pqxx::transaction_base& tx);
  // What complete() and abort() of an expanded migration would run, from its stored plan, as one
  // script each in the order they run it (after the same refusals), for `complete --dry-run` and
  // `abort --dry-run`.
  std::vector<DryRunScript> complete_dry_run_scripts(const Migration& migration);
  // `left_alone`, if given, gets a note per index of a name expand gives that abort would leave alone.
  std::vector<DryRunScript> abort_dry_run_scripts(const Migration& migration,
                                                  std::vector<std::string>* left_alone = nullptr);

  // The version as on disk: "0007" of 0007_name.
  static std::string version_text(const Migration& migration);

 private:
  // complete()'s statements: the NOT VALID constraints' validations (each in a transaction of its
  // own), the contract transaction (the older version schemas dropped first), the concurrent ones.
  struct PhaseStatements {
    std::vector<PlannedStatement> validations;
    std::vector<PlannedStatement> transactional;
    std::vector<PlannedStatement> concurrent;
    std::vector<std::string> left_alone;  // abort: indexes of names expand gives that it did not build
  };
  PhaseStatements contract(const Migration& migration);
  // abort()'s statements from the stored plan, after its refusals: the concurrent ones (run first,
  // each alone; none that drops an index expand did not build), then the transaction.
  PhaseStatements abort_statements(const Migration& migration);
  // Runs complete's concurrent steps (index drops); a failure is kept in the phase row's error.
  void run_complete_drops(const Migration& migration, const std::vector<PlannedStatement>& drops);
  // Abort's one transaction: its statements, its history row, the phase `aborted`.
  void abort_transaction(const Migration& migration, const PhaseStatements& statements,
                         std::chrono::steady_clock::time_point start);
  // Runs expand's CREATE INDEX CONCURRENTLY steps; a failure is recorded and leaves the migration
  // expanding. With `already_built`, an index that is there and valid is kept and counted.
  void build_indexes(const Migration& migration, const std::vector<PlannedStatement>& steps, int* already_built);
  void resume_expand(const Migration& migration);
  // Prints the expand done, moves the phase to backfilling, records it and runs the backfill.
  void finish_expand(const Migration& migration, int64_t ms, const std::string& schemas, const std::string& resumed);
  void ensure_state();
  PhaseRow require_row(const Migration& migration, const std::string& command);
  // Refuses unless the flag's rollout (pg_rollout, read through SQL) reaches the gate's percentage:
  // the fallthrough in effect now (the plan stage started last, else rollout.flag_configs), 0 while
  // switched off, archived or limited to tiers. Refuses an unknown flag or environment by name.
  void check_flag(const Migration& migration, const FlagGate& gate);
  std::unique_ptr<pqxx::connection> connection_;
  PhaseOptions options_;
  std::ostream& out_;
};

}  // namespace migrator::expand
