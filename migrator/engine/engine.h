// The engine: compares the migrations on disk with the state a driver reports, and decides what to
// apply or revert, in which order. It never touches SQL itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "migrator/drivers/driver.h"
#include "migrator/source/source.h"

namespace migrator {

enum class MigrationState {
  kApplied,  // recorded in the database with the checksum of the files on disk
  kPending,  // on disk, not recorded
  kChanged,  // recorded, but up.sql/down.sql on disk no longer match the recorded checksum
  kMissing,  // recorded, but no directory on disk
  // run outside a transaction and not finished: a statement failed, or the run died (interrupted);
  // refused by up and down until `resolve`
  kFailed,
};

struct MigrationStatus {
  uint64_t version = 0;
  std::string version_text;  // as on disk ("0001"), or the plain number for a missing migration
  std::string name;
  MigrationState state = MigrationState::kPending;
  std::string applied_at;  // empty unless recorded
  std::string applied_by;  // empty unless recorded
  int64_t execution_ms = 0;
  // kFailed only: the direction of the run that stopped ("up" or "down"), whether it died rather
  // than failed, the lines of the statements that ran ("2, 3") and the error.
  std::string failed_action;
  bool interrupted = false;
  std::string ran;
  std::string error;
  // Declarative migrations (see set_declarative): "expanding", "backfilling", "expanded", "aborted"
  // (state kPending) or "complete" (kApplied); empty otherwise.
  std::string phase;
  // Its backfill's rows walked and rows in all (migrator.backfill_progress); -1 before it started.
  int64_t backfill_rows_done = -1;
  int64_t backfill_rows_total = -1;
  // Why an expanding one stopped (its failed index step), as recorded; empty otherwise.
  std::string phase_error;
};

// A declarative migration's phase and its backfill's progress, as set_declarative's `phases` gives them.
struct DeclarativePhase {
  std::string phase;
  int64_t backfill_rows_done = -1;
  int64_t backfill_rows_total = -1;
  std::string error;  // migrator.expand_phases.error: why it stopped, if it did
};

// "applied 2024-01-01T12:00:00Z by alice in 12 ms", "pending", "changed (applied 2024-...)", "missing (applied
// 2024-...)", "failed (up stopped at ...)", "interrupted (up, ...)".
std::string describe_state(const MigrationStatus& status);

// What a command did to one migration (for --json): one per line of progress output.
struct MigrationRun {
  uint64_t version = 0;
  std::string name;
  std::string label;    // "0002_add_email"
  std::string action;   // "up", "down", "baseline", "resolve" or "verify"
  std::string outcome;  // "applied", "reverted", "verified", or for verify "failed" / "no verify.sql"
  int64_t duration_ms = 0;
  bool outside_transaction = false;
  std::vector<std::string> dropped_indexes;  // resolve --reverted: "schema.name"
  std::string error;                         // verify: why verify.sql failed
};

class Engine {
 public:
  // `migrations` as load_migrations() returns them (sorted by version). Progress lines
  // ("applied 0002_add_email (12 ms)") go to `out` as each migration commits.
  Engine(Driver& driver, std::vector<Migration> migrations, std::ostream& out);

  // Every migration on disk or in the database, sorted by version. Takes no lock, creates nothing.
  std::vector<MigrationStatus> status();
  // Writes status() as aligned lines: version, name, state; then each invalid index (PostgreSQL), those
  // a failed migration's CREATE INDEX CONCURRENTLY left apart from others. Then, if an applied
  // migration is changed or missing or one failed, throws Error(kInvalidMigrations) naming each and how
  // to proceed (so CI can gate on it).
  void print_status();

  // Applies pending migrations in version order, up to and including `to` if given, each in its
  // own transaction; prints "nothing to apply" if there are none. Returns how many were applied.
  // Every pending script passes Driver::check() before the first one runs.
  // Throws Error(kInvalidMigrations) before applying anything if any applied migration is changed or
  // missing, or, unless `allow_out_of_order`, if a pending migration's version is below an applied
  // one's (naming both); Error(kMigrationFailed) if one fails (the ones before it in this run stay
  // applied).
  int up(std::optional<uint64_t> to = std::nullopt, bool allow_out_of_order = false);
  // Called by up() with the migrations it is about to apply, in order, after the checks above and
  // before the first one runs; it may throw (the linter's Error(kLintRefused)) to refuse the run with
  // nothing applied.
  void set_before_up(std::function<void(const std::vector<const Migration*>&)> check) {
    before_up_ = std::move(check);
  }

  // Throws Error(kInvalidMigrations) naming a declarative migration in flight (expanding,
  // backfilling or expanded), which `command` ("down", "redo") must not revert anything under: down
  // and redo refuse so themselves; the CLI asks first, before the backup it would take for them.
  void refuse_if_in_flight(const char* command);

  // Reverts the `steps` most recently applied migrations, newest first, with down.sql from disk;
  // prints "nothing to revert" if none are applied. Refuses like up(), and with Error(kInvalidMigrations)
  // before reverting anything if one of them is irreversible or a declarative migration is in flight.
  // Returns how many were reverted.
  int down_steps(uint64_t steps);
  // Reverts every applied migration with a version above `version`, newest first.
  int down_to(uint64_t version);
  // Reverts the most recently applied migration and applies it again, under one lock (both scripts
  // are checked first); prints "nothing to redo" if none is applied. Refuses like down_steps(1).
  // Returns whether a migration was redone.
  bool redo();

  // Adopts an existing database: records every migration on disk up to and including `version` as
  // applied without running it (see Driver::baseline), printing "baselined <label>" for each.
  // Throws Error(kInvalidMigrations), changing nothing, if any migration is already applied or if
  // `version` is not a migration on disk. Returns how many were recorded.
  int baseline(uint64_t version);

  // Clears the failed state of migration `version` (run outside a transaction, failed or interrupted)
  // once an operator has made the database match one end of it, under the lock: `applied` records it
  // applied with the checksum of its files; otherwise removes its record, first dropping every invalid
  // index its CREATE INDEX CONCURRENTLY left (see status). Prints "resolved <label>: ...". Throws
  // Error(kInvalidMigrations), changing nothing, if `version` is not failed, or for `applied` if its
  // directory is not on disk.
  void resolve(uint64_t version, bool applied);

  // Checks every applied migration against the files: throws Error(kInvalidMigrations) naming each
  // changed or missing one (running nothing). Then runs each applied migration's verify.sql (see
  // Driver::verify), printing "verified <label>: ..." per applied migration, and throws
  // Error(kMigrationFailed) listing every verify.sql that failed, with file and line. Takes no lock.
  // Returns how many verify.sql files ran.
  int verify();

  // Declarative (expand–contract) migrations, PostgreSQL only: up() calls `expand` for the first
  // pending one (its expand phase and backfill) and stops there; a migration in flight (expanding,
  // backfilling or expanded) stops up() before it, so later migrations wait for `complete`.
  // `phases` returns each declarative migration's phase by version (migrator.expand_phases), with
  // its backfill's progress.
  // Without them, up() refuses a declarative migration.
  void set_declarative(std::function<void(const Migration&)> expand,
                       std::function<std::map<uint64_t, DeclarativePhase>()> phases) {
    expand_ = std::move(expand);
    phases_ = std::move(phases);
  }

  // What this engine's commands did so far, in order.
  const std::vector<MigrationRun>& runs() const { return runs_; }

  // An invalid index that a failed migration's CREATE INDEX CONCURRENTLY (at `line` of its up.sql) left.
  struct LeftIndex {
    InvalidIndex index;
    const Migration* migration;
    int line;
  };
  // The invalid indexes failed migrations left; the other invalid indexes go to `others` if given.
  std::vector<LeftIndex> left_indexes(const std::vector<MigrationStatus>& statuses, std::vector<InvalidIndex>* others);

  // One "\n  <label> is changed|missing: ...; <how to proceed>" line per drifted migration; empty if none.
  std::string drift_report(const std::vector<MigrationStatus>& statuses) const;

 private:
  // Takes the driver's lock and returns status(), throwing Error(kInvalidMigrations) on drift or a
  // failed migration.
  std::vector<MigrationStatus> lock_and_check();
  // One "\n  <label> failed ...; <how to resolve>" line per failed migration; empty if none.
  std::string failed_report(const std::vector<MigrationStatus>& statuses) const;
  const Migration* find(uint64_t version) const;
  // Appends to runs_.
  void note_run(const Migration& migration, const std::string& action, const std::string& outcome, int64_t ms = 0,
                bool outside_transaction = false);
  void print_invalid_indexes(const std::vector<MigrationStatus>& statuses);
  // Runs `run` (an apply or revert of `migration`); if its SQL fails or is interrupted, appends that
  // to the history before rethrowing, saying for a migration run `outside_transaction` how to resolve it.
  int64_t attempt(const Migration& migration, const std::string& action, bool outside_transaction,
                  const std::function<int64_t()>& run);
  int revert(const std::vector<uint64_t>& versions_newest_first);

  Driver& driver_;
  std::vector<Migration> migrations_;
  std::ostream& out_;
  std::vector<MigrationRun> runs_;
  std::function<void(const std::vector<const Migration*>&)> before_up_;
  std::function<void(const Migration&)> expand_;
  std::function<std::map<uint64_t, DeclarativePhase>()> phases_;
};

}  // namespace migrator
