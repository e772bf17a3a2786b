// Which scripts a dry run of `up`, `down` or `redo` runs: the same ones, in the same order, that
// the real command would, chosen under the migration lock (see Driver::dry_run).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "migrator/drivers/driver.h"
#include "migrator/source/source.h"

namespace migrator {

// The scripts themselves, for a caller that takes the lock itself (the automatic backup looks at
// them before a real run). Same refusals as below.
std::vector<DryRunScript> plan_up(Driver& driver, const std::vector<Migration>& migrations, std::optional<uint64_t> to,
                                  bool allow_out_of_order);
std::vector<DryRunScript> plan_down(Driver& driver, const std::vector<Migration>& migrations, uint64_t steps,
                                    std::optional<uint64_t> to);
std::vector<DryRunScript> plan_redo(Driver& driver, const std::vector<Migration>& migrations);

// Every pending migration's up.sql in version order (up to and including `to`). Refuses like
// Engine::up (drift, out of order, transaction control), with the same errors, before running any.
// `declarative` gives the phase scripts of a declarative migration, planned inside the dry run's
// transaction once the scripts before it ran (DryRunScript::later); the run ends after the first
// pending one, as `up` stops after its expand. Without it such a migration runs nothing.
using DeclarativeDryRun = std::function<std::vector<DryRunScript>(const Migration&, pqxx::transaction_base&)>;
DryRunReport dry_run_up(Driver& driver, const std::vector<Migration>& migrations, std::optional<uint64_t> to,
                        bool allow_out_of_order, const DeclarativeDryRun& declarative = {});

// down.sql of the `steps` most recently applied migrations, or of every one above `to`, newest
// first. Refuses like Engine::down_steps (drift, irreversible migrations).
DryRunReport dry_run_down(Driver& driver, const std::vector<Migration>& migrations, uint64_t steps,
                          std::optional<uint64_t> to);

// down.sql then up.sql of the most recently applied migration.
DryRunReport dry_run_redo(Driver& driver, const std::vector<Migration>& migrations);

}  // namespace migrator
