// migrator: applies and reverts SQL migrations kept as <dir>/<version>_<name>/{up,down}.sql on
// PostgreSQL or SQLite. Command line only; the work is done by migrator_lib.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "migrator/drivers/database_url.h"
#include "migrator/engine/engine.h"
#include "migrator/error.h"
#include "migrator/source/source.h"

namespace {

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  a migration's SQL failed (its transaction was rolled back; earlier ones stay applied)\n"
    "  2  usage error (bad options, missing or unrecognised database URL)\n"
    "  3  invalid migrations directory, or refused (checksum drift, missing migration files)\n"
    "  4  database connection or lock failure\n";

int run(int argc, char** argv) {
  CLI::App app{
      "Applies and reverts SQL migrations on PostgreSQL or SQLite.\n"
      "Migrations are directories <dir>/<version>_<name>/ holding up.sql and down.sql; each one runs in\n"
      "its own transaction together with its row in the state table.",
      "migrator"};
  app.fallthrough();  // global options may follow the subcommand
  app.set_version_flag("--version", "migrator 1.0");
  app.require_subcommand(1, 1);
  app.footer(std::string("Database URLs: ") + migrator::kAcceptedDatabaseUrls + "\n\n" + kExitCodes +
             "\nExample:\n"
             "  DATABASE_URL=postgresql://localhost/app migrator --dir migrations up\n"
             "  migrator --database-url sqlite:app.db status");

  std::string database_url;
  std::string dir = "migrations";
  int lock_timeout = 60;
  app.add_option("--database-url", database_url, "Database to migrate (default: $DATABASE_URL)")
      ->envname("DATABASE_URL");
  app.add_option("--dir", dir, "Migrations directory")->capture_default_str();
  app.add_option("--lock-timeout", lock_timeout, "Seconds to wait for the migration lock (0: forever)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  CLI::App* status = app.add_subcommand("status", "Lists every migration with its state");
  status->footer(
      "States: applied <time>, pending, changed (applied, files differ since), missing (applied, no\n"
      "directory on disk).\n\nExample:\n  migrator --database-url sqlite:app.db status");

  CLI::App* up = app.add_subcommand("up", "Applies pending migrations in version order");
  std::optional<uint64_t> up_to;
  up->add_option("--to", up_to, "Stop after this version (inclusive)");
  up->footer(
      "Refuses (exit 3) to run while an applied migration is changed or missing.\n\nExample:\n"
      "  migrator --database-url postgresql://localhost/app up --to 20240101120000");

  CLI::App* down = app.add_subcommand("down", "Reverts the most recently applied migrations, newest first");
  uint64_t steps = 1;
  std::optional<uint64_t> down_to;
  CLI::Option* steps_option = down->add_option("--steps", steps, "How many migrations to revert")
                                  ->check(CLI::PositiveNumber)
                                  ->capture_default_str();
  down->add_option("--to", down_to, "Revert every migration above this version (0: all)")->excludes(steps_option);
  down->footer(
      "Uses down.sql from disk; refuses (exit 3) to run while an applied migration is changed or missing.\n\n"
      "Example:\n  migrator --database-url sqlite:app.db down --steps 2");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(migrator::ExitCode::kUsage);
  }

  if (database_url.empty()) {
    throw migrator::Error(migrator::ExitCode::kUsage,
                          "no database URL: pass --database-url URL or set DATABASE_URL (see --help)");
  }
  migrator::DatabaseUrl url = migrator::parse_database_url(database_url);
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir);
  migrator::DriverOptions options;
  options.lock_timeout_seconds = lock_timeout;
  std::unique_ptr<migrator::Driver> driver = migrator::open_driver(url, options);
  migrator::Engine engine(*driver, std::move(migrations), std::cout);

  if (status->parsed()) {
    engine.print_status();
  } else if (up->parsed()) {
    engine.up(up_to);
  } else if (down_to) {
    engine.down_to(*down_to);
  } else {
    engine.down_steps(steps);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const migrator::Error& e) {
    std::cout.flush();
    std::cerr << "migrator: " << e.what() << std::endl;
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "migrator: unexpected error: " << e.what() << std::endl;
    return static_cast<int>(migrator::ExitCode::kMigrationFailed);
  }
}
