#include "migrator/engine/engine.h"

#include <algorithm>
#include <iomanip>
#include <map>

#include "migrator/error.h"

namespace migrator {

std::string describe_state(const MigrationStatus& status) {
  switch (status.state) {
    case MigrationState::kApplied:
      return "applied " + status.applied_at + " by " + status.applied_by + " in " +
             std::to_string(status.execution_ms) + " ms";
    case MigrationState::kPending:
      return "pending";
    case MigrationState::kChanged:
      return "changed (applied " + status.applied_at + ", files differ since)";
    case MigrationState::kMissing:
      return "missing (applied " + status.applied_at + ", no directory on disk)";
  }
  return "unknown";
}

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
    found->second.applied_at = applied.applied_at;
    found->second.applied_by = applied.applied_by;
    found->second.execution_ms = applied.execution_ms;
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
      problems += "\n  " + label + " is changed: its up.sql/down.sql differ from when it was applied; restore the " +
                  "applied files (e.g. git checkout them) and put the change in a new migration";
    } else if (status.state == MigrationState::kMissing) {
      problems += "\n  " + label + " is missing: applied, but its directory is not in the migrations directory; " +
                  "restore it (e.g. from git), or restore it, revert it with `migrator down`, then delete it";
    }
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
  std::string problems = drift_report(statuses);
  if (!problems.empty()) {
    out_.flush();
    throw Error(ExitCode::kInvalidMigrations, "applied migrations differ from the files on disk:" + problems);
  }
}

const Migration* Engine::find(uint64_t version) const {
  auto it = std::lower_bound(migrations_.begin(), migrations_.end(), version,
                             [](const Migration& m, uint64_t v) { return m.version < v; });
  return it != migrations_.end() && it->version == version ? &*it : nullptr;
}

std::vector<MigrationStatus> Engine::lock_and_check() {
  driver_.lock();
  std::vector<MigrationStatus> statuses = status();
  std::string problems = drift_report(statuses);
  if (!problems.empty()) {
    throw Error(ExitCode::kInvalidMigrations, "refusing to run, nothing was changed:" + problems);
  }
  return statuses;
}

int64_t Engine::attempt(const Migration& migration, const std::string& action, const std::function<int64_t()>& run) {
  try {
    return run();
  } catch (const Error& e) {
    if (e.code() == ExitCode::kMigrationFailed || e.code() == ExitCode::kInterrupted) {
      driver_.record_failure(migration, action, e.code() == ExitCode::kInterrupted ? "interrupted" : "failed",
                             e.what());
    }
    throw;
  }
}

int Engine::up(std::optional<uint64_t> to, bool allow_out_of_order) {
  std::vector<MigrationStatus> statuses = lock_and_check();
  const MigrationStatus* highest_applied = nullptr;
  for (const MigrationStatus& status : statuses) {
    if (status.state == MigrationState::kApplied) highest_applied = &status;
  }
  std::string out_of_order;
  for (const MigrationStatus& status : statuses) {  // every script is checked before the first runs
    if (status.state != MigrationState::kPending) continue;
    if (to && status.version > *to) break;
    const Migration& migration = *find(status.version);
    driver_.check(migration.up_sql, migration.up_path().string());
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
    int64_t ms = attempt(migration, "up", [&] { return driver_.apply(migration); });
    out_ << "applied " << migration.label() << " (" << ms << " ms)" << std::endl;
    ++applied;
  }
  if (applied == 0) out_ << "nothing to apply" << std::endl;
  return applied;
}

int Engine::revert(const std::vector<uint64_t>& versions_newest_first) {
  for (uint64_t version : versions_newest_first) {
    const Migration& migration = *find(version);
    if (migration.options.irreversible) {
      throw Error(ExitCode::kInvalidMigrations,
                  "refusing to revert " + migration.label() +
                      ": its up.sql declares it irreversible ('-- migrator: " + "irreversible'); nothing was reverted");
    }
  }
  for (uint64_t version : versions_newest_first) {
    const Migration& migration = *find(version);
    driver_.check(migration.down_sql, migration.down_path().string());
  }
  int reverted = 0;
  for (uint64_t version : versions_newest_first) {
    const Migration& migration = *find(version);
    int64_t ms = attempt(migration, "down", [&] { return driver_.revert(migration); });
    out_ << "reverted " << migration.label() << " (" << ms << " ms)" << std::endl;
    ++reverted;
  }
  if (reverted == 0) out_ << "nothing to revert" << std::endl;
  return reverted;
}

int Engine::down_steps(uint64_t steps) {
  std::vector<MigrationStatus> statuses = lock_and_check();
  std::vector<uint64_t> versions;
  for (auto it = statuses.rbegin(); it != statuses.rend() && versions.size() < steps; ++it) {
    if (it->state == MigrationState::kApplied) versions.push_back(it->version);
  }
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
  const Migration& migration = *find(latest->version);
  driver_.check(migration.up_sql, migration.up_path().string());
  revert({migration.version});
  int64_t ms = attempt(migration, "up", [&] { return driver_.apply(migration); });
  out_ << "applied " << migration.label() << " (" << ms << " ms)" << std::endl;
  return true;
}

int Engine::baseline(uint64_t version) {
  driver_.lock();
  std::vector<AppliedMigration> applied = driver_.applied();
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
  for (const Migration& migration : adopted) out_ << "baselined " << migration.label() << " (not run)" << std::endl;
  return static_cast<int>(adopted.size());
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
      out_ << "verified " << migration.label() << ": checksum ok, no verify.sql" << std::endl;
      continue;
    }
    try {
      driver_.verify(migration);
      out_ << "verified " << migration.label() << ": checksum ok, verify.sql ok" << std::endl;
    } catch (const Error& e) {
      if (e.code() != ExitCode::kMigrationFailed) throw;
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
  return revert(versions);
}

}  // namespace migrator
