#include "migrator/engine/dry_run_plan.h"

#include <sstream>

#include "migrator/engine/engine.h"
#include "migrator/error.h"

namespace migrator {
namespace {

const Migration& find(const std::vector<Migration>& migrations, uint64_t version) {
  for (const Migration& migration : migrations) {
    if (migration.version == version) return migration;
  }
  throw Error(ExitCode::kInvalidMigrations, "no migration with version " + std::to_string(version) + " on disk");
}

// The statuses, refusing as the real commands do while an applied migration is changed or missing
// (the plans serve a dry run and the backup decision before a real run alike).
std::vector<MigrationStatus> checked_status(Driver& driver, const std::vector<Migration>& migrations) {
  std::ostringstream ignored;
  Engine engine(driver, migrations, ignored);
  std::vector<MigrationStatus> statuses = engine.status();
  std::string problems = engine.drift_report(statuses);
  if (!problems.empty()) throw Error(ExitCode::kInvalidMigrations, "refusing to run, nothing was run:" + problems);
  return statuses;
}

std::vector<DryRunScript> down_scripts(Driver& driver, const std::vector<Migration>& migrations,
                                       const std::vector<uint64_t>& versions_newest_first) {
  std::vector<DryRunScript> scripts;
  for (uint64_t version : versions_newest_first) {
    const Migration& migration = find(migrations, version);
    if (std::string why = migration.revert_refusal(); !why.empty()) {
      throw Error(ExitCode::kInvalidMigrations,
                  "refusing to revert " + migration.label() + ": " + why + "; nothing was run");
    }
    driver.check(migration.down_sql, migration.down_path().string(), migration.options.no_transaction);
    scripts.push_back(DryRunScript{&migration, "down"});
  }
  return scripts;
}

}  // namespace

std::vector<DryRunScript> plan_up(Driver& driver, const std::vector<Migration>& migrations, std::optional<uint64_t> to,
                                  bool allow_out_of_order) {
  std::vector<MigrationStatus> statuses = checked_status(driver, migrations);
  const MigrationStatus* highest_applied = nullptr;
  for (const MigrationStatus& status : statuses) {
    if (status.state == MigrationState::kApplied) highest_applied = &status;
  }
  std::vector<DryRunScript> scripts;
  std::string out_of_order;
  for (const MigrationStatus& status : statuses) {
    if (status.state != MigrationState::kPending) continue;
    if (to && status.version > *to) break;
    const Migration& migration = find(migrations, status.version);
    driver.check(migration.up_sql, migration.up_path().string(), migration.options.no_transaction);
    if (highest_applied != nullptr && status.version < highest_applied->version && !allow_out_of_order) {
      out_of_order += "\n  " + migration.label() + " is pending, but " + highest_applied->version_text + "_" +
                      highest_applied->name + " (a higher version) is already applied";
    }
    scripts.push_back(DryRunScript{&migration, "up"});
  }
  if (!out_of_order.empty()) {
    throw Error(ExitCode::kInvalidMigrations,
                "refusing to apply migrations out of order, nothing was run:" + out_of_order +
                    "\n  renumber them above the applied ones, or pass --allow-out-of-order");
  }
  return scripts;
}

std::vector<DryRunScript> plan_down(Driver& driver, const std::vector<Migration>& migrations, uint64_t steps,
                                    std::optional<uint64_t> to) {
  std::vector<MigrationStatus> statuses = checked_status(driver, migrations);
  std::vector<uint64_t> versions;
  for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
    if (to ? it->version <= *to : versions.size() >= steps) break;
    if (it->state == MigrationState::kApplied) versions.push_back(it->version);
  }
  return down_scripts(driver, migrations, versions);
}

std::vector<DryRunScript> plan_redo(Driver& driver, const std::vector<Migration>& migrations) {
  std::vector<MigrationStatus> statuses = checked_status(driver, migrations);
  std::vector<DryRunScript> scripts;
  for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
    if (it->state != MigrationState::kApplied) continue;
    scripts = down_scripts(driver, migrations, {it->version});
    const Migration& migration = find(migrations, it->version);
    driver.check(migration.up_sql, migration.up_path().string(), migration.options.no_transaction);
    scripts.push_back(DryRunScript{&migration, "up"});
    break;
  }
  return scripts;
}

DryRunReport dry_run_up(Driver& driver, const std::vector<Migration>& migrations, std::optional<uint64_t> to,
                        bool allow_out_of_order, const DeclarativeDryRun& declarative) {
  DryRunReport report = driver.dry_run([&] {
    std::vector<DryRunScript> scripts;
    for (const DryRunScript& script : plan_up(driver, migrations, to, allow_out_of_order)) {
      if (!script.migration->declarative() || !declarative) {
        scripts.push_back(script);
        continue;
      }
      DryRunScript phases{script.migration, "expand"};
      const Migration& migration = *script.migration;
      phases.later = [&declarative, &migration](pqxx::transaction_base& tx) { return declarative(migration, tx); };
      scripts.push_back(phases);
      break;  // up stops after a declarative migration's expand
    }
    return scripts;
  });
  report.command = "up";
  return report;
}

DryRunReport dry_run_down(Driver& driver, const std::vector<Migration>& migrations, uint64_t steps,
                          std::optional<uint64_t> to) {
  DryRunReport report = driver.dry_run([&] { return plan_down(driver, migrations, steps, to); });
  report.command = "down";
  return report;
}

DryRunReport dry_run_redo(Driver& driver, const std::vector<Migration>& migrations) {
  DryRunReport report = driver.dry_run([&] { return plan_redo(driver, migrations); });
  report.command = "redo";
  return report;
}

}  // namespace migrator
