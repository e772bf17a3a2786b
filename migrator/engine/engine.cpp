#include "migrator/engine/engine.h"

#include <algorithm>
#include <iomanip>
#include <map>

#include "migrator/error.h"
#include "migrator/source/sql_script.h"

namespace migrator {

// "1,250 of 5,000 rows, 25%; " (nothing before the backfill started).
std::string backfill_progress(const MigrationStatus& status) {
  if (status.backfill_rows_done < 0 || status.backfill_rows_total < 0) return "";
  auto grouped = [](int64_t n) {
    std::string digits = std::to_string(n);
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
    return digits;
  };
  int64_t percent = status.backfill_rows_total > 0
                        ? std::min<int64_t>(100, status.backfill_rows_done * 100 / status.backfill_rows_total)
                        : 100;
  return grouped(status.backfill_rows_done) + " of " + grouped(status.backfill_rows_total) + " rows, " +
         std::to_string(percent) + "%; ";
}

std::string describe_state(const MigrationStatus& status) {
  switch (status.state) {
    case MigrationState::kApplied:
      if (status.phase == "complete") {
        std::string unfinished;
        if (!status.phase_error.empty()) {
          unfinished =
              "; an index drop did not finish: " + status.phase_error.substr(0, status.phase_error.find('\n')) +
              "; `migrator complete " + std::to_string(status.version) + "` runs it again";
        }
        return "complete (expand-contract; applied " + status.applied_at + " by " + status.applied_by + unfinished +
               ")";
      }
      return "applied " + status.applied_at + " by " + status.applied_by + " in " +
             std::to_string(status.execution_ms) + " ms";
    case MigrationState::kPending: {
      std::string v = std::to_string(status.version);
      if (status.phase == "expanding") {
        std::string why = status.phase_error.substr(0, status.phase_error.find('\n'));
        return "expanding (" + (why.empty() ? "a concurrent index step failed or still runs" : why) +
               "; `migrator up` resumes it, `migrator abort " + v + "` undoes it)";
      }
      if (status.phase == "backfilling") {
        return "backfilling (" + backfill_progress(status) + "`migrator backfill " + v + "` finishes it)";
      }
      if (status.phase == "expanded") {
        return "expanded (old and new versions both work; `migrator complete " + v + "` contracts, `migrator abort " +
               v + "` undoes)";
      }
      if (status.phase == "aborted") return "aborted (pending again: `migrator up` expands it anew)";
      return "pending";
    }
    case MigrationState::kChanged:
      return "changed (applied " + status.applied_at + ", files differ since)";
    case MigrationState::kMissing:
      return "missing (applied " + status.applied_at + ", no directory on disk)";
    case MigrationState::kFailed: {
      std::string ran = status.ran.empty() ? "no statement ran" : "statements at lines " + status.ran + " ran";
      if (status.interrupted) {
        return "interrupted (" + status.failed_action + " outside a transaction, started " + status.applied_at +
               " by " + status.applied_by + "; the run died or still runs; " + ran + ")";
      }
      return "failed (" + status.failed_action + " outside a transaction, started " + status.applied_at + " by " +
             status.applied_by + "; " + ran + "; " + status.error + ")";
    }
  }
  return "unknown";
}

namespace {

// Expanding, backfilling or expanded: a declarative migration between `up` and complete or abort.
bool in_flight(const MigrationStatus& status) {
  return status.phase == "expanding" || status.phase == "backfilling" || status.phase == "expanded";
}

// A declarative migration in flight (expanding, backfilling, expanded) is newer than every applied
// one (`up` never runs past it), and its triggers and views stand on what they made: reverting one of
// them under it is refused until it is aborted or completed.
void refuse_under_in_flight(const std::vector<MigrationStatus>& statuses, const char* command) {
  for (const MigrationStatus& status : statuses) {
    if (!in_flight(status)) continue;
    std::string v = std::to_string(status.version);
    throw Error(ExitCode::kInvalidMigrations, std::string("refusing to ") + command +
                                                  ", nothing was changed: " + status.version_text + "_" + status.name +
                                                  " is " + status.phase + " (in flight, newer than what " + command +
                                                  " would revert); `migrator abort " + v +
                                                  "` undoes its expand, `migrator complete " + v + "` finishes it");
  }
}

// Appended to "applied <label> (<n> ms": how the script ran, when not in one transaction.
const char* transaction_note(bool outside_transaction) {
  return outside_transaction ? ", outside a transaction, statement by statement" : "";
}

}  // namespace

Engine::Engine(Driver& driver, std::vector<Migration> migrations, std::ostream& out)
    : driver_(driver), migrations_(std::move(migrations)), out_(out) {}

std::vector<MigrationStatus> Engine::status() {
  std::map<uint64_t, MigrationStatus> by_version;
  for (const Migration& migration : migrations_) {
    MigrationStatus& status = by_version[migration.version];
    status.version = migration.version;
    std::string label = migration.label();
    status.version_text = label.substr(0, label.size() - migration.name.size() - 1);
    status.name = migration.name;
    status.state = MigrationState::kPending;
  }
  for (const AppliedMigration& applied : driver_.applied()) {
    auto found = by_version.find(applied.version);
    if (found == by_version.end()) {
      MigrationStatus status;
      status.version = applied.version;
      // The version as it was written on disk, when the state table recorded it.
      bool recorded = applied.directory.size() > applied.name.size() + 1;
      status.version_text = recorded ? applied.directory.substr(0, applied.directory.size() - applied.name.size() - 1)
                                     : std::to_string(applied.version);
      status.name = applied.name;
      status.state = MigrationState::kMissing;
      status.applied_at = applied.applied_at;
      status.applied_by = applied.applied_by;
      status.execution_ms = applied.execution_ms;
      by_version.emplace(applied.version, std::move(status));
      continue;
    }
    const Migration* migration = find(applied.version);
    found->second.state = migration->checksum == applied.checksum ? MigrationState::kApplied : MigrationState::kChanged;
    if (migration->declarative()) found->second.phase = "complete";
    found->second.applied_at = applied.applied_at;
    found->second.applied_by = applied.applied_by;
    found->second.execution_ms = applied.execution_ms;
  }
  for (const AppliedMigration& failed : driver_.failed()) {
    MigrationStatus& status = by_version[failed.version];
    if (status.version_text.empty()) {  // no directory on disk
      bool recorded = failed.directory.size() > failed.name.size() + 1;
      status.version_text = recorded ? failed.directory.substr(0, failed.directory.size() - failed.name.size() - 1)
                                     : std::to_string(failed.version);
    }
    status.version = failed.version;
    status.name = failed.name;
    status.state = MigrationState::kFailed;
    status.applied_at = failed.applied_at;
    status.applied_by = failed.applied_by;
    status.failed_action = failed.action;
    status.interrupted = failed.state == "running";
    status.ran = failed.ran;
    status.error = failed.error;
  }
  if (phases_) {
    for (const auto& [version, phase] : phases_()) {
      auto found = by_version.find(version);
      if (found == by_version.end()) continue;
      if (found->second.state == MigrationState::kApplied && phase.phase == "complete") {
        found->second.phase_error = phase.error;  // an index drop that did not finish
        continue;
      }
      if (found->second.state != MigrationState::kPending) continue;
      found->second.phase = phase.phase;
      found->second.backfill_rows_done = phase.backfill_rows_done;
      found->second.backfill_rows_total = phase.backfill_rows_total;
      if (phase.phase == "expanding") found->second.phase_error = phase.error;
    }
  }
  std::vector<MigrationStatus> statuses;
  for (auto& [version, status] : by_version) statuses.push_back(std::move(status));
  return statuses;
}

std::string Engine::drift_report(const std::vector<MigrationStatus>& statuses) const {
  std::string problems;
  for (const MigrationStatus& status : statuses) {
    std::string label = status.version_text + "_" + status.name;
    if (status.state == MigrationState::kChanged) {
      // A declarative migration's status is complete once applied.
      std::string files = status.phase == "complete" ? "its migration.yaml differs" : "its up.sql/down.sql differ";
      problems += "\n  " + label + " is changed: " + files + " from when it was applied; restore the " +
                  "applied files (e.g. git checkout them) and put the change in a new migration";
    } else if (status.state == MigrationState::kMissing) {
      problems += "\n  " + label + " is missing: applied, but its directory is not in the migrations directory; " +
                  "restore it (e.g. from git), or restore it, revert it with `migrator down`, then delete it";
    }
  }
  return problems;
}

std::string Engine::failed_report(const std::vector<MigrationStatus>& statuses) const {
  std::string problems;
  for (const MigrationStatus& status : statuses) {
    if (status.state != MigrationState::kFailed) continue;
    std::string version = std::to_string(status.version);
    problems += "\n  " + status.version_text + "_" + status.name + " " + describe_state(status) +
                "; finish or undo its statements by hand, then run `migrator resolve " + version +
                " --applied` (its changes are all in place) or `migrator resolve " + version +
                " --reverted` (none are)";
  }
  return problems;
}

void Engine::print_status() {
  std::vector<MigrationStatus> statuses = status();
  if (statuses.empty()) {
    out_ << "no migrations\n";
    return;
  }
  size_t version_width = 0;
  size_t name_width = 0;
  for (const MigrationStatus& status : statuses) {
    version_width = std::max(version_width, status.version_text.size());
    name_width = std::max(name_width, status.name.size());
  }
  for (const MigrationStatus& status : statuses) {
    out_ << std::left << std::setw(static_cast<int>(version_width)) << status.version_text << "  "
         << std::setw(static_cast<int>(name_width)) << status.name << "  " << describe_state(status) << "\n";
  }
  print_invalid_indexes(statuses);
  std::string problems = drift_report(statuses);
  if (!problems.empty()) {
    out_.flush();
    throw Error(ExitCode::kInvalidMigrations, "applied migrations differ from the files on disk:" + problems);
  }
  problems = failed_report(statuses);
  if (!problems.empty()) {
    out_.flush();
    throw Error(ExitCode::kInvalidMigrations, "migrations run outside a transaction did not finish:" + problems);
  }
}

std::vector<Engine::LeftIndex> Engine::left_indexes(const std::vector<MigrationStatus>& statuses,
                                                    std::vector<InvalidIndex>* others) {
  std::vector<LeftIndex> left;
  std::vector<InvalidIndex> invalid = driver_.invalid_indexes();
  for (const InvalidIndex& index : invalid) {
    bool matched = false;
    for (const MigrationStatus& status : statuses) {
      const Migration* migration = status.state == MigrationState::kFailed ? find(status.version) : nullptr;
      if (migration == nullptr || matched) continue;
      std::vector<Statement> statements;
      try {
        statements = split_postgres_script(migration->up_sql, migration->up_path().string());
      } catch (const Error&) {
        continue;  // edited since into something that does not parse: it names no index
      }
      for (const Statement& statement : statements) {
        bool same_schema =
            statement.concurrent_index_schema.empty() || statement.concurrent_index_schema == index.schema;
        if (!statement.concurrent_index.empty() && statement.concurrent_index == index.name && same_schema) {
          left.push_back(LeftIndex{index, migration, statement.line});
          matched = true;
          break;
        }
      }
    }
    if (!matched && others != nullptr) others->push_back(index);
  }
  return left;
}

void Engine::print_invalid_indexes(const std::vector<MigrationStatus>& statuses) {
  std::vector<InvalidIndex> others;
  for (const LeftIndex& left : left_indexes(statuses, &others)) {
    out_ << "invalid index " << left.index.schema << "." << left.index.name << " on " << left.index.table
         << ": left by the failed CREATE INDEX CONCURRENTLY at " << left.migration->up_path().string() << ":"
         << left.line << "; `migrator resolve " << left.migration->version << " --reverted` drops it\n";
  }
  for (const InvalidIndex& index : others) {
    out_ << "invalid index " << index.schema << "." << index.name << " on " << index.table
         << ": not built by a failed migration (a CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY that failed "
            "elsewhere); drop it or REINDEX it\n";
  }
}

void Engine::note_run(const Migration& migration, const std::string& action, const std::string& outcome, int64_t ms,
                      bool outside_transaction) {
  MigrationRun run;
  run.version = migration.version;
  run.name = migration.name;
  run.label = migration.label();
  run.action = action;
  run.outcome = outcome;
  run.duration_ms = ms;
  run.outside_transaction = outside_transaction;
  runs_.push_back(std::move(run));
}

const Migration* Engine::find(uint64_t version) const {
  auto it = std::lower_bound(migrations_.begin(), migrations_.end(), version,
                             [](const Migration& m, uint64_t v) { return m.version < v; });
  return it != migrations_.end() && it->version == version ? &*it : nullptr;
}

std::vector<MigrationStatus> Engine::lock_and_check() {
  driver_.lock();
  std::vector<MigrationStatus> statuses = status();
  std::string problems = drift_report(statuses) + failed_report(statuses);
  if (!problems.empty()) {
    throw Error(ExitCode::kInvalidMigrations, "refusing to run, nothing was changed:" + problems);
  }
  return statuses;
}

int64_t Engine::attempt(const Migration& migration, const std::string& action, bool outside_transaction,
                        const std::function<int64_t()>& run) {
  try {
    return run();
  } catch (const Error& e) {
    if (e.code() == ExitCode::kMigrationFailed || e.code() == ExitCode::kInterrupted) {
      driver_.record_failure(migration, action, e.code() == ExitCode::kInterrupted ? "interrupted" : "failed",
                             e.what());
    }
    if (!outside_transaction) throw;
    std::string version = std::to_string(migration.version);
    throw Error(e.code(), std::string(e.what()) + "\n" + migration.label() +
                              " is recorded as failed and later runs refuse until it is resolved: finish or undo its "
                              "statements by hand, then run `migrator resolve " +
                              version + " --applied` (its changes are all in place) or `migrator resolve " + version +
                              " --reverted` (none are)");
  }
}

int Engine::up(std::optional<uint64_t> to, bool allow_out_of_order) {
  std::vector<MigrationStatus> statuses = lock_and_check();
  const MigrationStatus* highest_applied = nullptr;
  for (const MigrationStatus& status : statuses) {
    if (status.state == MigrationState::kApplied) highest_applied = &status;
  }
  std::string out_of_order;
  std::map<uint64_t, bool> outside;                 // per version: runs outside a transaction
  for (const MigrationStatus& status : statuses) {  // every script is checked before the first runs
    if (status.state != MigrationState::kPending) continue;
    if (to && status.version > *to) break;
    const Migration& migration = *find(status.version);
    outside[migration.version] =
        driver_.check(migration.up_sql, migration.up_path().string(), migration.options.no_transaction);
    if (highest_applied != nullptr && status.version < highest_applied->version && !allow_out_of_order) {
      out_of_order += "\n  " + migration.label() + " is pending, but " + highest_applied->version_text + "_" +
                      highest_applied->name + " (a higher version) is already applied";
    }
  }
  if (!out_of_order.empty()) {
    throw Error(ExitCode::kInvalidMigrations,
                "refusing to apply migrations out of order, nothing was applied:" + out_of_order +
                    "\n  renumber them above the applied ones, or pass --allow-out-of-order to apply them anyway");
  }
  if (before_up_) {
    std::vector<const Migration*> pending;
    for (const MigrationStatus& status : statuses) {
      if (status.state != MigrationState::kPending) continue;
      if (to && status.version > *to) break;
      pending.push_back(find(status.version));
    }
    if (!pending.empty()) before_up_(pending);
  }
  int applied = 0;
  for (const MigrationStatus& status : statuses) {
    if (status.state != MigrationState::kPending) continue;
    if (to && status.version > *to) break;
    const Migration& migration = *find(status.version);
    if (migration.declarative()) {
      if (!expand_) {
        throw Error(ExitCode::kInvalidMigrations,
                    migration.declarative_path().string() + ": declarative migrations need PostgreSQL");
      }
      if (in_flight(status) && status.phase != "expanding") {  // expanding: expand_ resumes its index steps
        // As status describes it, with the command that moves it on.
        std::string v = std::to_string(migration.version);
        out_ << migration.label() << " is " << (status.phase == "expanded" ? status.phase : describe_state(status))
             << ": later migrations wait for "
             << "`migrator complete " + v + "` (or `migrator abort " + v + "`)" << std::endl;
        return applied;
      }
      expand_(migration);
      note_run(migration, "up", "expanded");
      return applied + 1;
    }
    int64_t ms = attempt(migration, "up", outside[migration.version], [&] { return driver_.apply(migration); });
    note_run(migration, "up", "applied", ms, outside[migration.version]);
    out_ << "applied " << migration.label() << " (" << ms << " ms" << transaction_note(outside[migration.version])
         << ")" << std::endl;
    ++applied;
  }
  if (applied == 0) out_ << "nothing to apply" << std::endl;
  return applied;
}

int Engine::revert(const std::vector<uint64_t>& versions_newest_first) {
  for (uint64_t version : versions_newest_first) {
    const Migration& migration = *find(version);
    if (std::string why = migration.revert_refusal(); !why.empty()) {
      throw Error(ExitCode::kInvalidMigrations,
                  "refusing to revert " + migration.label() + ": " + why + "; nothing was reverted");
    }
  }
  std::map<uint64_t, bool> outside;  // per version: runs outside a transaction
  for (uint64_t version : versions_newest_first) {
    const Migration& migration = *find(version);
    outside[version] =
        driver_.check(migration.down_sql, migration.down_path().string(), migration.options.no_transaction);
  }
  int reverted = 0;
  for (uint64_t version : versions_newest_first) {
    const Migration& migration = *find(version);
    int64_t ms = attempt(migration, "down", outside[version], [&] { return driver_.revert(migration); });
    note_run(migration, "down", "reverted", ms, outside[version]);
    out_ << "reverted " << migration.label() << " (" << ms << " ms" << transaction_note(outside[version]) << ")"
         << std::endl;
    ++reverted;
  }
  if (reverted == 0) out_ << "nothing to revert" << std::endl;
  return reverted;
}

void Engine::refuse_if_in_flight(const char* command) { refuse_under_in_flight(status(), command); }

int Engine::down_steps(uint64_t steps) {
  std::vector<MigrationStatus> statuses = lock_and_check();
  std::vector<uint64_t> versions;
  for (auto it = statuses.rbegin(); it != statuses.rend() && versions.size() < steps; ++it) {
    if (it->state == MigrationState::kApplied) versions.push_back(it->version);
  }
  if (!versions.empty()) refuse_under_in_flight(statuses, "down");
  return revert(versions);
}

bool Engine::redo() {
  std::vector<MigrationStatus> statuses = lock_and_check();
  auto latest = std::find_if(statuses.rbegin(), statuses.rend(),
                             [](const MigrationStatus& s) { return s.state == MigrationState::kApplied; });
  if (latest == statuses.rend()) {
    out_ << "nothing to redo" << std::endl;
    return false;
  }
  refuse_under_in_flight(statuses, "redo");
  const Migration& migration = *find(latest->version);
  bool outside = driver_.check(migration.up_sql, migration.up_path().string(), migration.options.no_transaction);
  revert({migration.version});
  int64_t ms = attempt(migration, "up", outside, [&] { return driver_.apply(migration); });
  note_run(migration, "up", "applied", ms, outside);
  out_ << "applied " << migration.label() << " (" << ms << " ms" << transaction_note(outside) << ")" << std::endl;
  return true;
}

int Engine::baseline(uint64_t version) {
  driver_.lock();
  std::vector<AppliedMigration> applied = driver_.applied();
  for (const AppliedMigration& failed : driver_.failed()) applied.push_back(failed);
  if (!applied.empty()) {
    const AppliedMigration& first = applied.front();
    std::string label = first.directory.empty() ? std::to_string(first.version) + "_" + first.name : first.directory;
    throw Error(ExitCode::kInvalidMigrations,
                "refusing to baseline, nothing was changed: " + std::to_string(applied.size()) +
                    " migration(s) already applied (" + label +
                    " first); baseline only adopts a database the migrator has not touched");
  }
  if (find(version) == nullptr) {
    throw Error(ExitCode::kInvalidMigrations, "refusing to baseline, nothing was changed: no migration with version " +
                                                  std::to_string(version) + " in the migrations directory");
  }
  std::vector<Migration> adopted;
  for (const Migration& migration : migrations_) {
    if (migration.version <= version) adopted.push_back(migration);
  }
  driver_.baseline(adopted);
  for (const Migration& migration : adopted) {
    note_run(migration, "baseline", "applied");
    out_ << "baselined " << migration.label() << " (not run)" << std::endl;
  }
  return static_cast<int>(adopted.size());
}

void Engine::resolve(uint64_t version, bool applied) {
  driver_.lock();
  std::vector<MigrationStatus> statuses = status();
  auto failed = std::find_if(statuses.begin(), statuses.end(), [&](const MigrationStatus& s) {
    return s.version == version && s.state == MigrationState::kFailed;
  });
  if (failed == statuses.end()) {
    auto other =
        std::find_if(statuses.begin(), statuses.end(), [&](const MigrationStatus& s) { return s.version == version; });
    std::string what = other == statuses.end() ? "no migration with version " + std::to_string(version)
                                               : other->version_text + "_" + other->name + " is " +
                                                     describe_state(*other).substr(0, describe_state(*other).find(' '));
    throw Error(ExitCode::kInvalidMigrations, "nothing to resolve, nothing was changed: " + what +
                                                  "; resolve only clears a migration that failed or was interrupted "
                                                  "outside a transaction (see status)");
  }
  const Migration* on_disk = find(version);
  Migration migration;
  if (on_disk != nullptr) {
    migration = *on_disk;
  } else {
    if (applied) {
      throw Error(ExitCode::kInvalidMigrations,
                  "refusing to resolve " + failed->version_text + "_" + failed->name +
                      " as applied, nothing was changed: its directory is not in the migrations directory, and the "
                      "record takes its checksum from the files; restore it (e.g. from git)");
    }
    migration.version = version;
    migration.name = failed->name;
    migration.directory = failed->version_text + "_" + failed->name;
  }
  std::vector<InvalidIndex> drop;
  if (!applied) {
    for (const LeftIndex& left : left_indexes(statuses, nullptr)) {
      if (left.migration->version == version) drop.push_back(left.index);
    }
  }
  driver_.resolve(migration, applied, drop);
  note_run(migration, "resolve", applied ? "applied" : "reverted");
  for (const InvalidIndex& index : drop) runs_.back().dropped_indexes.push_back(index.schema + "." + index.name);
  out_ << "resolved " << migration.label() << ": recorded as " << (applied ? "applied" : "reverted");
  for (const InvalidIndex& index : drop) out_ << ", dropped invalid index " << index.schema << "." << index.name;
  out_ << std::endl;
}

int Engine::verify() {
  std::vector<MigrationStatus> statuses = status();
  std::string problems = drift_report(statuses);
  if (!problems.empty()) {
    throw Error(ExitCode::kInvalidMigrations, "applied migrations differ from the files on disk:" + problems);
  }
  int ran = 0;
  std::string failures;
  for (const MigrationStatus& status : statuses) {
    if (status.state != MigrationState::kApplied) continue;
    const Migration& migration = *find(status.version);
    if (migration.verify_sql.empty()) {
      note_run(migration, "verify", "no verify.sql");
      out_ << "verified " << migration.label() << ": checksum ok, no verify.sql" << std::endl;
      continue;
    }
    try {
      driver_.verify(migration);
      note_run(migration, "verify", "verified");
      out_ << "verified " << migration.label() << ": checksum ok, verify.sql ok" << std::endl;
    } catch (const Error& e) {
      if (e.code() != ExitCode::kMigrationFailed) throw;
      note_run(migration, "verify", "failed");
      runs_.back().error = e.what();
      out_ << "FAILED " << migration.label() << ": checksum ok, verify.sql failed" << std::endl;
      failures += std::string("\n  ") + e.what();
    }
    ++ran;
  }
  if (!failures.empty()) {
    throw Error(ExitCode::kMigrationFailed, "verify.sql failed (rolled back, nothing was changed):" + failures);
  }
  if (statuses.empty() || std::none_of(statuses.begin(), statuses.end(),
                                       [](const MigrationStatus& s) { return s.state == MigrationState::kApplied; })) {
    out_ << "nothing applied to verify" << std::endl;
  }
  return ran;
}

int Engine::down_to(uint64_t version) {
  std::vector<MigrationStatus> statuses = lock_and_check();
  std::vector<uint64_t> versions;
  for (auto it = statuses.rbegin(); it != statuses.rend() && it->version > version; ++it) {
    if (it->state == MigrationState::kApplied) versions.push_back(it->version);
  }
  if (!versions.empty()) refuse_under_in_flight(statuses, "down");
  return revert(versions);
}

}  // namespace migrator
