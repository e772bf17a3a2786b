// The migrator's version: printed by --version and recorded with every history entry.
#pragma once

namespace migrator {
constexpr const char* kMigratorVersion = "1.1";
}  // namespace migrator
