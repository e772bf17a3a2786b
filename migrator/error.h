// How the migrator fails: every error the user can see carries the process exit code that reports it.
// main() catches Error, prints "migrator: <message>" to stderr and exits with exit_code().
#pragma once

#include <stdexcept>
#include <string>

namespace migrator {

// Process exit codes; the `--help` footer documents the same table.
enum class ExitCode : int {
  kSuccess = 0,
  kMigrationFailed = 1,    // a migration's SQL failed; its transaction was rolled back
  kUsage = 2,              // bad options, missing or unrecognised database URL
  kInvalidMigrations = 3,  // invalid migrations directory, or refused (checksum drift, missing files)
  kDatabase = 4,           // cannot connect, or the database failed outside a migration's SQL
  kLockHeld = 5,           // another run holds the migration lock (at once, or after --wait)
  kLintRefused = 6,        // lint found a problem that is not allowed in a pending migration
  kBackupFailed = 7,       // backup or restore failed (dump, verification, hash mismatch)
  kInterrupted = 130,      // SIGINT or SIGTERM: the running migration was cancelled and rolled back
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }
  int exit_code() const noexcept { return static_cast<int>(code_); }

 private:
  ExitCode code_;
};

}  // namespace migrator
