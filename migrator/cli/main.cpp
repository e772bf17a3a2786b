// migrator: applies and reverts SQL migrations kept as <dir>/<version>_<name>/{up,down}.sql on
// PostgreSQL or SQLite. Command line only; the work is done by migrator_lib.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <filesystem>
#include <iomanip>
#include <set>
#include <chrono>
#include <cstdint>
#include <thread>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "migrator/cli/json_output.h"
#include "migrator/cli/progress_line.h"
#include "migrator/backups/backups.h"
#include "migrator/drivers/database_url.h"
#include "migrator/expand/backfill_output.h"
#include "migrator/expand/phases.h"
#include "migrator/engine/dry_run_plan.h"
#include "migrator/engine/engine.h"
#include "migrator/error.h"
#include "migrator/interrupt.h"
#include "migrator/lint/lint_run.h"
#include "migrator/lint/postgres_catalog.h"
#include "migrator/source/scaffold.h"
#include "migrator/source/source.h"
#include "migrator/version.h"

namespace {

using migrator::Error;
using migrator::ExitCode;

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  a migration's SQL failed (its transaction was rolled back; earlier ones stay applied), a\n"
    "     verify.sql failed, or a phase of a declarative migration failed (a backfill keeps the batches\n"
    "     before the failed one and `backfill VERSION` goes on from there)\n"
    "  2  usage error (bad options, missing or unrecognised database URL)\n"
    "  3  invalid migrations directory, or refused or reported by status (checksum drift, missing\n"
    "     migration files, migrations out of order, an irreversible migration asked to revert,\n"
    "     transaction control in a migration, baseline of a database with applied migrations, a\n"
    "     migration run outside a transaction that failed or was interrupted, until `resolve`)\n"
    "  4  database connection failure, or the database failed outside a migration's SQL\n"
    "  5  another run holds the migration lock (at once, or after --wait SECONDS)\n"
    "  6  lint refused a pending migration: `lint` found a problem that is not allowed, or `up` did\n"
    "     before applying anything\n"
    "  7  backup or restore failed (dump, verification, hash mismatch); when the backup before an up,\n"
    "     down or redo fails, nothing runs\n"
    "  130  interrupted by SIGINT or SIGTERM: the running statement was cancelled, its migration rolled\n"
    "       back and the lock released (earlier migrations of the run stay applied)\n";

constexpr const char* kCommands =
    "init, new, status, up, down, redo, baseline, verify, resolve, complete, abort, backfill, backup, backups, "
    "restore, lint, help";
constexpr int64_t kMaxWaitSeconds = 86400;

[[noreturn]] void usage(const std::string& message) {
  throw Error(ExitCode::kUsage, message + " (see migrator --help)");
}

// A whole number from `min` to `max` written as plain decimal digits; a usage error naming `option`
// and the allowed range otherwise (no sign, no blanks, no exponent: "-1" is never a huge number).
int64_t parse_whole_number(const std::string& option, const std::string& text, int64_t min, int64_t max,
                           const std::string& what) {
  std::string allowed = option + ": expected " + what + " from " + std::to_string(min) + " to " + std::to_string(max);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    usage(allowed + ", got '" + text + "'");
  }
  int64_t value = 0;
  for (char c : text) {
    int digit = c - '0';
    if (value > (max - digit) / 10) usage(allowed + ", got " + text);
    value = value * 10 + digit;
  }
  if (value < min) usage(allowed + ", got " + text);
  return value;
}

// A decimal number from 0 to `max` written as digits with at most one point ("0.5", "2"); a usage
// error naming `option` otherwise.
double parse_ratio(const std::string& option, const std::string& text, double max) {
  std::string allowed = option + ": expected a number from 0 to " + std::to_string(static_cast<int>(max)) +
                        " such as 0.5 or 2, got '" + text + "'";
  size_t point = text.find('.');
  bool digits = text.find_first_not_of("0123456789.") == std::string::npos;
  bool one_point = point == std::string::npos || text.find('.', point + 1) == std::string::npos;
  if (text.empty() || text == "." || !digits || !one_point || text.size() > 12) usage(allowed);
  double value = 0;
  double scale = 1;
  for (char c : text) {
    if (c == '.') {
      scale = 0.1;
    } else if (scale == 1) {
      value = value * 10 + (c - '0');
    } else {
      value += (c - '0') * scale;
      scale /= 10;
    }
  }
  if (value > max) usage(allowed);
  return value;
}

constexpr int64_t kMaxVersion = std::numeric_limits<int64_t>::max();

uint64_t parse_version(const std::string& option, const std::string& text) {
  return static_cast<uint64_t>(parse_whole_number(option, text, 0, kMaxVersion, "a version number"));
}

// The first argument that is not an option or an option's value: the command the user meant.
std::string first_command(int argc, char** argv, const std::vector<std::string>& options_with_values) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.empty() || arg[0] != '-') return arg;
    bool takes_value = false;
    for (const std::string& option : options_with_values) takes_value = takes_value || arg == option;
    if (takes_value) ++i;
  }
  return "";
}

// The driver the signal watcher cancels; null outside the run. The mutex keeps it alive while cancelling.
std::mutex active_driver_mutex;
migrator::Driver* active_driver = nullptr;

void set_active_driver(migrator::Driver* driver) {
  std::lock_guard<std::mutex> guard(active_driver_mutex);
  active_driver = driver;
}

// SIGINT and SIGTERM are blocked in every thread and taken by one watcher thread with sigwait(), so
// the work they trigger (cancelling the server's statement) runs outside a signal handler. The first
// signal interrupts the run, which then rolls back and exits 130; a second one exits at once.
void watch_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals] {
    int signal = 0;
    sigwait(&signals, &signal);
    migrator::request_interrupt();
    std::cerr << "migrator: " << (signal == SIGINT ? "SIGINT" : "SIGTERM")
              << ": cancelling the running statement and rolling back (again to quit at once)" << std::endl;
    // Cancel more than once: a statement sent just after the first cancel would otherwise run to its end.
    for (int i = 0; i < 20; ++i) {
      {
        std::lock_guard<std::mutex> guard(active_driver_mutex);
        if (active_driver != nullptr) active_driver->cancel();
      }
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1) _exit(130);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    sigwait(&signals, &signal);
    _exit(130);
  }).detach();
}

// `migrator lint`: see the command's footer.
int run_lint(const std::vector<std::string>& paths, bool list_rules, bool verbose, migrator::JsonDocument* json,
             std::ostream& human, const std::string& dir, const std::string& database_url,
             migrator::LintOptions options) {
  if (list_rules) {
    nlohmann::json rules = nlohmann::json::array();
    for (const migrator::LintRule& rule : migrator::lint_rules()) {
      human << std::left << std::setw(32) << rule.name << rule.summary << "\n";
      rules.push_back({{"rule", rule.name}, {"summary", rule.summary}});
    }
    if (json != nullptr) json->fields()["rules"] = rules;
    return 0;
  }
  std::vector<migrator::LintScript> scripts;
  std::unique_ptr<migrator::PostgresCatalog> catalog;
  std::optional<migrator::DatabaseUrl> url;
  if (!database_url.empty()) url = migrator::parse_database_url(database_url);
  if (url && url->kind == migrator::DatabaseKind::kPostgres) {
    catalog = std::make_unique<migrator::PostgresCatalog>(url->target);
    options.catalog = catalog.get();
  }
  if (!paths.empty()) {
    scripts = migrator::lint_scripts_at(paths);
  } else if (catalog) {  // only pending migrations: the applied ones are in the catalog
    std::vector<migrator::Migration> migrations = migrator::load_migrations(dir);
    std::unique_ptr<migrator::Driver> driver = migrator::open_driver(*url, migrator::DriverOptions{});
    std::set<uint64_t> applied;
    for (const migrator::AppliedMigration& row : driver->applied()) applied.insert(row.version);
    for (const migrator::Migration& migration : migrations) {
      if (applied.count(migration.version) == 0) scripts.push_back(migrator::lint_script(migration));
    }
  } else {
    for (const migrator::Migration& migration : migrator::load_migrations(dir)) {
      scripts.push_back(migrator::lint_script(migration));
    }
  }
  if (verbose) options.verbose = &human;
  migrator::Linter linter(options);
  std::vector<migrator::Finding> findings;
  for (const migrator::LintScript& script : scripts) {
    for (migrator::Finding& finding : linter.lint(script)) findings.push_back(std::move(finding));
  }
  size_t problems = migrator::refused(findings).size();
  if (json != nullptr) {
    json->fields()["files"] = scripts.size();
    json->fields()["problems"] = problems;
    nlohmann::json listed = nlohmann::json::array();
    for (const migrator::Finding& finding : findings) listed.push_back(finding.to_json());
    json->fields()["findings"] = listed;
  }
  for (const migrator::Finding& finding : findings) {
    if (!finding.allowed || verbose) human << finding.format() << "\n";
  }
  human << "linted " << scripts.size() << " file(s): " << problems << " problem(s), " << findings.size() - problems
        << " allowed\n";
  if (problems != 0) {
    throw Error(ExitCode::kLintRefused, "lint: " + std::to_string(problems) + " problem(s) not allowed (see above)");
  }
  return 0;
}

// Runs the command line. With `json` (--json), the command's result goes into it instead of human
// lines on stdout (which then go to stderr); main() prints it.
int run(int argc, char** argv, migrator::JsonDocument* json) {
  std::ostream& human = json != nullptr ? std::cerr : std::cout;
  CLI::App app{
      "Applies and reverts SQL migrations on PostgreSQL or SQLite.\n"
      "Migrations are directories <dir>/<version>_<name>/ holding up.sql, down.sql and optionally\n"
      "verify.sql; each one runs in its own transaction together with its row in the state table.\n"
      "On PostgreSQL a directory may hold a declarative migration.yaml instead, run expand-contract:\n"
      "`up` expands and backfills, `complete VERSION` contracts, `abort VERSION` undoes the expand.",
      "migrator"};
  app.fallthrough();  // global options may follow the subcommand
  app.set_version_flag("--version", std::string("migrator ") + migrator::kMigratorVersion);
  app.require_subcommand(1, 1);
  app.footer(std::string("Header options, comment lines at the top of up.sql (-- migrator: OPTION, OPTION):\n"
                         "  irreversible               no down.sql; down refuses to revert it\n"
                         "  empty-down                 down.sql intentionally empty; down only removes the record\n"
                         "  lock-timeout=DURATION      PostgreSQL lock_timeout for this migration\n"
                         "  statement-timeout=DURATION PostgreSQL statement_timeout for this migration\n"
                         "  no-transaction             up.sql and down.sql run statement by statement outside a\n"
                         "                             transaction (implied on PostgreSQL when every statement is\n"
                         "                             one it refuses in a transaction, e.g. CREATE INDEX\n"
                         "                             CONCURRENTLY)\n"
                         "  lint-allow=RULE            lint reports RULE in this file but does not refuse it\n\n") +
             "Commands: " + kCommands + "; `migrator help COMMAND` or `migrator COMMAND --help` for one.\n\n" +
             "Database URLs: " + migrator::kAcceptedDatabaseUrls + "\n\n" + kExitCodes +
             "\nExample:\n"
             "  DATABASE_URL=postgresql://localhost/app migrator --dir migrations up\n"
             "  migrator --database-url sqlite:app.db status");

  std::string database_url;
  std::string dir = "migrations";
  std::string wait_text = "0";
  std::string lock_timeout_text = "5s";
  std::string statement_timeout_text = "0s";
  std::string lock_retries_text = "3";
  bool json_flag = false;  // read by main() before parsing, so that every failure is JSON too
  app.add_flag("--json", json_flag,
               "Print exactly one JSON document on stdout: {\"command\", \"ok\", \"exit_code\", ...} with the "
               "command's results, or \"error\": {\"message\", \"file\", \"line\"} (human output goes to stderr)");
  std::vector<std::string> lint_allow;
  std::string lint_row_threshold_text = "10000";
  app.add_option("--database-url", database_url, "Database to migrate (default: $DATABASE_URL)")
      ->envname("DATABASE_URL");
  app.add_option("--dir", dir, "Migrations directory")->capture_default_str();
  app.add_option("--wait", wait_text,
                 "Seconds to wait for another run's migration lock (saying so once a second), 0 to " +
                     std::to_string(kMaxWaitSeconds) + "; 0 fails at once with exit 5")
      ->capture_default_str();
  app.add_option("--lock-timeout", lock_timeout_text,
                 "PostgreSQL: SET LOCAL lock_timeout for each migration, e.g. 500ms, 5s, 2min (0s: none; at most "
                 "a day; a file's header option overrides it)")
      ->capture_default_str();
  app.add_option("--lock-retries", lock_retries_text,
                 "PostgreSQL: times a migration whose lock wait timed out is rolled back and retried (outside a "
                 "transaction: the statement), 0 to 10, after 1 s, 2 s, 4 s, ...")
      ->capture_default_str();
  app.add_option("--statement-timeout", statement_timeout_text,
                 "PostgreSQL: SET LOCAL statement_timeout for each migration (0s: the server's setting)")
      ->capture_default_str();
  // The backfill of a declarative migration (up, backfill): expand/backfill.h.
  // Short batches with half as long a pause after each. A batch is one statement, which the
  // server's backend runs on a CPU without a break: a client's backend woken on that CPU waits for
  // it (Linux lets the running task finish its slice), so the longest batch is about what the
  // backfill adds to the clients' p99 (bench/expand, 2 cores, baseline p99 1.0-1.2 ms: 2 ms batches
  // 2.2-2.3 ms p99, 1 ms 1.4-1.6; `perf sched`: client wake-ups delayed over 1 ms in 5 s, 18, then
  // 1). At 500us of the server's time and a nice ratio of 0.5: 1.5-1.6 ms at 127,000-131,000 rows/s.
  std::string backfill_batch_rows_text = "100";
  std::string backfill_target_text = "500us";
  std::string backfill_pause_text = "0ms";
  std::string backfill_nice_ratio_text = "0.5";
  std::string backfill_max_active_text = "0";
  std::string backfill_max_lock_waiters_text = "0";
  std::string backfill_max_replica_lag_text = "0ms";
  app.add_option("--backfill-batch-rows", backfill_batch_rows_text,
                 "Rows in the backfill's first batch, 1 to 1000000; later batches adapt to --backfill-target")
      ->capture_default_str();
  app.add_option(
         "--backfill-target", backfill_target_text,
         "Time one backfill batch (its own short transaction) should take, from 100us; the batch size adapts to it")
      ->capture_default_str();
  app.add_option("--backfill-pause", backfill_pause_text, "Least pause between backfill batches")
      ->capture_default_str();
  app.add_option("--backfill-nice-ratio", backfill_nice_ratio_text,
                 "After each backfill batch also pause this many times the batch's duration, 0 to 100 "
                 "(1: the backfill runs at most half the time)")
      ->capture_default_str();
  app.add_option("--backfill-max-active", backfill_max_active_text,
                 "Pause the backfill while more than N other sessions are active (0: no limit)")
      ->capture_default_str();
  app.add_option("--backfill-max-lock-waiters", backfill_max_lock_waiters_text,
                 "Pause the backfill while more than N sessions wait on a lock (0: no limit)")
      ->capture_default_str();
  app.add_option("--backfill-max-replica-lag", backfill_max_replica_lag_text,
                 "Pause the backfill while a replica's replay lags more than this (0ms: no limit)")
      ->capture_default_str();
  std::string backup_dir;
  std::string keep_backups_text = "10";
  std::string backup_compression_text = "1";
  std::string pg_bin;
  bool yes = false;
  app.add_option("--backup-dir", backup_dir,
                 "Where backups go (default: .migrator/backups beside the migrations directory)");
  app.add_option("--keep-backups", keep_backups_text,
                 "Keep the newest N backups (1 to 1000), deleting older files and records after each backup")
      ->capture_default_str();
  app.add_option("--backup-compression", backup_compression_text,
                 "pg_dump's compression level, 0 (none) to 9 (smallest, slowest); 1 takes about a quarter of the "
                 "CPU of level 6 for a sixth more bytes")
      ->capture_default_str();
  app.add_option("--pg-bin", pg_bin, "Directory of pg_dump and pg_restore (default: $PG_BINDIR, else PATH)");
  app.add_flag("--yes", yes, "Answer yes to confirmations (restore); without a terminal, restore needs it");
  app.add_option("--lint-allow", lint_allow,
                 "A lint rule reported but never refused, in every migration (repeatable; `lint --rules` lists them)");
  app.add_option("--lint-row-threshold", lint_row_threshold_text,
                 "PostgreSQL: tables with fewer estimated rows (pg_class) need no CONCURRENTLY or NOT VALID in lint")
      ->capture_default_str();

  CLI::App* init = app.add_subcommand("init", "Creates the migrations directory with an example migration");
  init->footer(
      "Needs no database. Refuses (exit 3) if the directory exists and is not empty.\n\nExample:\n"
      "  migrator --dir db/migrations init");

  CLI::App* create = app.add_subcommand("new", "Creates the next migration's directory, up.sql and down.sql");
  std::string new_name;
  bool timestamp = false;
  create->add_option("NAME", new_name, "What the migration does: letters, digits, _ and -")->required();
  create->add_flag("--timestamp", timestamp,
                   "Version it with the UTC time (YYYYMMDDHHMMSS) instead of the next number");
  create->footer(
      "Needs no database. The version is one more than the highest on disk, zero-padded like the\n"
      "others (0001 first). down.sql starts as a comment: write it, or make the migration irreversible.\n\n"
      "Example:\n  migrator --dir migrations new add_users_email");

  CLI::App* status = app.add_subcommand("status", "Lists every migration with its state");
  status->footer(
      "States: applied <time> by <user> in <duration>, pending, changed (applied, files differ since),\n"
      "missing (applied, no directory on disk), failed or interrupted (run outside a transaction and not\n"
      "finished: which statements ran, and the error). Then every invalid index (PostgreSQL), naming\n"
      "the failed migration whose CREATE INDEX CONCURRENTLY left it. Exits 3 after the list if any\n"
      "migration is changed, missing, failed or interrupted, so CI can gate on it.\n\nExample:\n  migrator "
      "--database-url sqlite:app.db status");

  CLI::App* up = app.add_subcommand("up", "Applies pending migrations in version order");
  std::string up_to;
  up->add_option("--to", up_to, "Stop after this version (inclusive; a number from 0)");
  bool allow_out_of_order = false;
  up->add_flag("--allow-out-of-order", allow_out_of_order,
               "Also apply pending migrations whose version is below an applied one (refused by default)");
  bool dry_run = false;
  const char* dry_run_help =
      "Run the scripts in one transaction that is rolled back and report each statement: command tag, rows, "
      "duration, locks taken and tables rewritten (PostgreSQL); nothing is recorded";
  up->add_flag("--dry-run", dry_run, dry_run_help);
  bool take_backup = false;
  bool no_backup = false;
  const char* backup_help = "Back up the database first even if no script destroys data";
  const char* no_backup_help = "Do not back up the database first, even if a script destroys data";
  up->add_flag("--backup", take_backup, backup_help);
  up->add_flag("--no-backup", no_backup, no_backup_help);
  up->footer(
      "Refuses (exit 3) to run while an applied migration is changed or missing, and to apply a\n"
      "migration whose version is below an applied one unless --allow-out-of-order. On PostgreSQL it\n"
      "lints the migrations it is about to apply (see `migrator help lint`) and refuses (exit 6), applying\n"
      "nothing, if a finding is not allowed. A declarative migration (migration.yaml, PostgreSQL only) is\n"
      "expanded and backfilled, and up stops there: later migrations wait for `migrator complete VERSION`;\n"
      "with --dry-run every statement of its expand, abort, backfill and complete phases is listed.\n\nExample:\n"
      "  migrator --database-url postgresql://localhost/app up --to 20240101120000\n"
      "  migrator --database-url postgresql://localhost/app up --dry-run");

  CLI::App* down = app.add_subcommand("down", "Reverts the most recently applied migrations, newest first");
  std::string steps_text;
  std::string down_to;
  down->add_option("--steps", steps_text, "How many migrations to revert (a number from 1; default 1)");
  down->add_option("--to", down_to, "Revert every migration above this version (0: all)");
  down->add_flag("--dry-run", dry_run, dry_run_help);
  down->add_flag("--backup", take_backup, backup_help);
  down->add_flag("--no-backup", no_backup, no_backup_help);
  down->footer(
      "Uses down.sql from disk; refuses (exit 3) to run while an applied migration is changed or missing,\n"
      "and to revert a migration declared irreversible.\n\n"
      "Example:\n  migrator --database-url sqlite:app.db down --steps 2");

  CLI::App* redo = app.add_subcommand("redo", "Reverts the most recently applied migration and applies it again");
  redo->add_flag("--dry-run", dry_run, dry_run_help);
  redo->add_flag("--backup", take_backup, backup_help);
  redo->add_flag("--no-backup", no_backup, no_backup_help);
  redo->footer(
      "For trying a migration while writing it. Refuses like down (exit 3); if down.sql or up.sql fails,\n"
      "the migration stays as that step left it (reverted if up.sql failed).\n\n"
      "Example:\n  migrator --database-url sqlite:app.db redo");

  CLI::App* baseline =
      app.add_subcommand("baseline", "Marks every migration up to VERSION as applied without running it");
  std::string baseline_version;
  baseline->add_option("VERSION", baseline_version, "The last migration already in the database (inclusive)")
      ->required();
  baseline->footer(
      "Adopts a database whose schema already matches the migrations up to VERSION (made by hand or by\n"
      "another tool): records each as applied, with the checksum of its files and action 'baseline' in\n"
      "the history, and runs none of their SQL. Later migrations stay pending for `up`. Refuses (exit 3)\n"
      "if any migration is already applied or VERSION is not a migration on disk.\n\n"
      "Example:\n  migrator --database-url postgresql://localhost/app baseline 0012");

  CLI::App* verify = app.add_subcommand("verify", "Checks applied migrations against the files and runs verify.sql");
  verify->footer(
      "Exits 3, running nothing, if an applied migration is changed or missing on disk. Then runs each\n"
      "applied migration's verify.sql (optional; statements that must succeed) in a transaction that\n"
      "is rolled back, and exits 1 naming file and line of every one that failed.\n\n"
      "Example:\n  migrator --database-url postgresql://localhost/app verify");

  CLI::App* resolve =
      app.add_subcommand("resolve", "Clears a migration that failed or was interrupted outside a transaction");
  std::string resolve_version;
  bool resolve_applied = false;
  bool resolve_reverted = false;
  resolve->add_option("VERSION", resolve_version, "The failed migration's version (see status)")->required();
  resolve->add_flag("--applied", resolve_applied,
                    "Its changes are all in place: record it applied, with the checksum of its files");
  resolve->add_flag("--reverted", resolve_reverted,
                    "None of its changes remain: remove its record, dropping the invalid indexes its CREATE INDEX "
                    "CONCURRENTLY left");
  resolve->footer(
      "A migration run outside a transaction (no-transaction, or CREATE INDEX CONCURRENTLY and the like)\n"
      "that failed or whose run died is recorded as failed, and up and down refuse until it is resolved.\n"
      "First finish or undo its statements by hand (status says which ran), then say which: --applied or\n"
      "--reverted (exactly one). Takes the migration lock; recorded in the history as 'resolve'. Exits 3,\n"
      "changing nothing, if VERSION is not failed, or with --applied if its directory is missing.\n\n"
      "Example:\n  migrator --database-url postgresql://localhost/app resolve 0012 --reverted");

  // Declarative (expand–contract) migrations: `up` expands and backfills; these finish or undo it.
  std::string phase_version;
  CLI::App* complete =
      app.add_subcommand("complete", "Runs the contract phase of an expanded declarative migration");
  complete->add_option("VERSION", phase_version, "The expanded migration's version (see status)")->required();
  bool complete_no_backup = false;
  complete->add_flag("--no-backup", complete_no_backup, "Do not back up the database first");
  bool phase_dry_run = false;
  const char* phase_dry_run_help =
      "Run what it would run (from the plan stored at expand) in one transaction that is rolled back and report "
      "each statement as up --dry-run does; refuses as the command does; nothing is recorded";
  complete->add_flag("--dry-run", phase_dry_run, phase_dry_run_help);
  complete->footer(
      "PostgreSQL only. Refuses (exit 3, changing nothing) unless VERSION is expanded (its backfill done),\n"
      "its migration.yaml is unchanged since expand, nothing outside the migrator depends on what it\n"
      "drops (a view over an old column, another table's foreign key, a view over an older version\n"
      "schema's view; each named), and its requires_flag (if any) is met: the flag's\n"
      "fallthrough rollout in effect now in that environment (the plan stage started last, else\n"
      "rollout.flag_configs' percentage; 0 while switched off or archived, or limited to tiers; rules,\n"
      "lists and overrides not counted) has reached the percentage. Backs up the database first,\n"
      "validates the new constraints (each in a short transaction of its own), then in one transaction\n"
      "drops the sync triggers, the old columns and the previous version's view schema, renames the new\n"
      "columns into place, and records the migration as applied; then drops the indexes drop_index\n"
      "names, concurrently (if one fails, the migration is complete and complete runs the drops again).\n"
      "DDL runs with SET LOCAL lock_timeout (500ms unless --lock-timeout) and is retried with\n"
      "exponential backoff.\n\nExample:\n"
      "  migrator --database-url postgresql://localhost/app complete 0007");
  CLI::App* abort_command = app.add_subcommand("abort", "Undoes the expand phase of a declarative migration");
  abort_command->add_option("VERSION", phase_version, "The migration's version (see status)")->required();
  abort_command->add_flag("--dry-run", phase_dry_run, phase_dry_run_help);
  abort_command->footer(
      "PostgreSQL only, before complete: drops what the expand added (view schema, sync triggers, new\n"
      "columns, tables and indexes), leaving the catalog as it was before. The migration is pending again.\n"
      "Refuses (exit 3) while an object outside its version schema depends on one of its views. If its\n"
      "transaction fails after its index drops, the migration is expanding: abort again, or up rebuilds.\n\n"
      "Example:\n  migrator --database-url postgresql://localhost/app abort 0007");
  CLI::App* backfill_command =
      app.add_subcommand("backfill", "Runs or resumes the backfill of an expanded declarative migration");
  backfill_command->add_option("VERSION", phase_version, "The migration's version (see status)")->required();
  backfill_command->footer(
      "PostgreSQL only. `up` backfills after expand; this finishes a backfill that stopped.\n\n"
      "Example:\n  migrator --database-url postgresql://localhost/app backfill 0007");

  CLI::App* backup = app.add_subcommand("backup", "Backs up the database into the backups directory");
  std::string backup_out;
  backup->add_option("--out", backup_out, "Write the backup to this file instead (it must not exist)");
  backup->footer(
      "PostgreSQL: pg_dump -Fc (compressed at --backup-compression, default 1), verified with\n"
      "pg_restore --list. SQLite: the online backup API, verified with PRAGMA integrity_check. A sidecar\n"
      "FILE.sha256 is written beside it; the backup is recorded in migrator.backups (size, SHA-256, when,\n"
      "by whom, why) and in the history. Exits 7 if it fails (the file is removed).\n"
      "`up`, `down` and `redo` take one automatically when a script drops a table, schema or\n"
      "column, truncates, changes a column's type, or deletes or updates without WHERE (--no-backup skips it).\n\n"
      "Example:\n  migrator --database-url postgresql://localhost/app backup");

  CLI::App* list_backups = app.add_subcommand("backups", "Lists the recorded backups, newest first");
  list_backups->footer("Example:\n  migrator --database-url postgresql://localhost/app backups");

  CLI::App* restore = app.add_subcommand("restore", "Restores a backup after checking its SHA-256");
  std::string restore_file;
  restore->add_option("FILE", restore_file, "The backup file")->required();
  restore->footer(
      "Checks the file's SHA-256 against its record (or FILE.sha256 if the record is gone) and exits 7,\n"
      "changing nothing, if it differs. Asks for confirmation on a terminal; without one it refuses (exit 2)\n"
      "unless --yes. PostgreSQL: pg_restore --clean --if-exists --single-transaction (objects created after\n"
      "the backup are not removed). The state afterwards is the backup's (its migrations applied); the\n"
      "history keeps every row written since and records the restore.\n\n"
      "Example:\n  migrator --database-url postgresql://localhost/app restore --yes "
      ".migrator/backups/app-20240101T120000.000Z.dump");

  CLI::App* lint = app.add_subcommand("lint", "Finds statements that lock or rewrite busy tables, or break the app");
  std::vector<std::string> lint_paths;
  bool lint_list_rules = false;
  bool lint_verbose = false;
  lint->add_option("PATH", lint_paths,
                   "Migrations directories, migration directories or up.sql files (default: every migration in --dir)");
  lint->add_flag("--rules", lint_list_rules, "List the rules and exit");
  lint->add_flag("--verbose", lint_verbose, "Also show allowed findings, and why a small table was not flagged");
  lint->footer(
      "Reads each up.sql with PostgreSQL's parser (comments, strings and function bodies are not statements)\n"
      "and follows the schema the scripts build: a table created earlier in the same migration is new, so\n"
      "its index needs no CONCURRENTLY. Prints path:line: rule: message and a hint with the safe form.\n"
      "Without a database URL every up.sql is linted. With a PostgreSQL URL (--database-url or\n"
      "DATABASE_URL) only pending migrations are, and the catalog is read: row estimates (tables below\n"
      "--lint-row-threshold need no CONCURRENTLY or NOT VALID), column types, CHECK constraints, function\n"
      "volatility; a table created by an earlier pending migration is new. `up` lints the same way and\n"
      "refuses before applying anything. Allow a rule with a '-- migrator:lint-allow RULE[, RULE]' comment\n"
      "on the lines before a statement (or after it on its line), '-- migrator: lint-allow=RULE' in the\n"
      "up.sql header, or --lint-allow RULE. Exits 6 if a finding is not allowed.\n\nExample:\n"
      "  migrator --dir migrations lint\n"
      "  migrator --database-url postgresql://localhost/app --lint-row-threshold 50000 lint --verbose");

  CLI::App* help = app.add_subcommand("help", "Shows the help of migrator or of one command");
  std::string help_topic;
  help->add_option("COMMAND", help_topic, "The command to explain");
  help->footer("Example:\n  migrator help up");

  const std::vector<CLI::App*> commands = {init,   create,  status,   up,            down,
                                           redo,   baseline, verify,  resolve,       complete,
                                           abort_command, backfill_command, backup, list_backups, restore,
                                           lint,   help};
  auto find_command = [&](const std::string& name) -> CLI::App* {
    for (CLI::App* command : commands) {
      if (command->get_name() == name) return command;
    }
    return nullptr;
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    if (json == nullptr) return app.exit(e);
    json->fields()["help"] = app.help();
    return 0;
  } catch (const CLI::CallForVersion& e) {
    if (json == nullptr) return app.exit(e);
    json->fields()["version"] = migrator::kMigratorVersion;
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string command = first_command(
        argc, argv,
        {"--database-url", "--dir", "--wait", "--lock-timeout", "--lock-retries", "--statement-timeout", "--backup-dir",
         "--keep-backups", "--backup-compression", "--pg-bin", "--lint-allow", "--lint-row-threshold",
         "--backfill-batch-rows", "--backfill-target", "--backfill-pause", "--backfill-nice-ratio",
         "--backfill-max-active", "--backfill-max-lock-waiters", "--backfill-max-replica-lag"});
    if (json != nullptr && find_command(command) != nullptr) json->set_command(command);
    if (app.get_subcommands().empty()) {
      if (command.empty()) usage(std::string("no command given; commands: ") + kCommands);
      if (find_command(command) == nullptr) {
        usage("unknown command '" + command + "'; commands: " + kCommands);
      }
    }
    std::string message = e.what();
    // CLI11: "The following argument was not expected: --x" (or "arguments were ...: --x --y").
    if (message.rfind("The following argument", 0) == 0 && message.find(": ") != std::string::npos) {
      bool several = message.rfind("The following arguments", 0) == 0;
      usage((command.empty() ? "" : command + ": ") + (several ? "unexpected arguments: " : "unexpected argument: ") +
            message.substr(message.find(": ") + 2));
    }
    usage((command.empty() ? "" : command + ": ") + message);
  }

  for (CLI::App* command : commands) {
    if (json != nullptr && command->parsed()) json->set_command(command->get_name());
  }

  if (help->parsed()) {
    std::string text;
    if (help_topic.empty()) {
      text = app.get_formatter()->make_help(&app, "migrator", CLI::AppFormatMode::Normal);
    } else {
      CLI::App* topic = find_command(help_topic);
      if (topic == nullptr) usage("help: unknown command '" + help_topic + "'; commands: " + kCommands);
      text = topic->help("migrator");
    }
    if (json != nullptr) json->fields()["help"] = text;
    if (json == nullptr) std::cout << text;
    return 0;
  }

  if (init->parsed() || create->parsed()) {
    std::vector<std::filesystem::path> paths;
    if (init->parsed()) {
      paths = migrator::init_directory(dir);
    } else {
      std::filesystem::path created =
          migrator::new_migration(dir, new_name, timestamp ? migrator::utc_timestamp() : std::string());
      paths = {created / "up.sql", created / "down.sql"};
    }
    nlohmann::json files = nlohmann::json::array();
    for (const auto& path : paths) {
      human << "created " << path.string() << "\n";
      files.push_back(path.string());
    }
    if (json != nullptr) json->fields()["created"] = files;
    return 0;
  }

  for (const std::string& rule : lint_allow) {
    if (!migrator::is_lint_rule(rule))
      usage("--lint-allow: unknown lint rule '" + rule + "' (`migrator lint --rules`)");
  }
  migrator::LintOptions lint_options;
  lint_options.allow.insert(lint_allow.begin(), lint_allow.end());
  lint_options.row_threshold = static_cast<double>(
      parse_whole_number("--lint-row-threshold", lint_row_threshold_text, 0, 1000000000000, "a number of rows"));
  if (lint->parsed())
    return run_lint(lint_paths, lint_list_rules, lint_verbose, json, human, dir, database_url, lint_options);

  int64_t wait = parse_whole_number("--wait", wait_text, 0, kMaxWaitSeconds, "seconds");
  int64_t lock_retries = parse_whole_number("--lock-retries", lock_retries_text, 0, 10, "a number of retries");
  int64_t keep_backups = parse_whole_number("--keep-backups", keep_backups_text, 1, 1000, "a number of backups");
  int64_t backup_compression =
      parse_whole_number("--backup-compression", backup_compression_text, 0, 9, "a compression level");
  auto duration = [](const std::string& option, const std::string& text) {
    std::optional<int64_t> ms = migrator::parse_duration_ms(text);
    if (!ms) usage(option + ": expected a duration such as 500ms, 5s or 2min, at most a day, got '" + text + "'");
    return *ms;
  };
  // --backfill-target also takes microseconds: a batch's length is what a client may wait for.
  auto backfill_target_us = [](const std::string& text) -> int64_t {
    constexpr int64_t kMinUs = 100;
    constexpr size_t kMaxDigits = 9;
    const std::string expected =
        "--backfill-target: expected a duration such as 500us, 1ms or 50ms, from 100us to a day, got '" + text + "'";
    int64_t us = 0;
    if (text.size() > 2 && text.compare(text.size() - 2, 2, "us") == 0) {
      std::string digits = text.substr(0, text.size() - 2);
      if (digits.size() > kMaxDigits || digits.find_first_not_of("0123456789") != std::string::npos) usage(expected);
      us = std::stoll(digits);
    } else {
      std::optional<int64_t> ms = migrator::parse_duration_ms(text);
      if (!ms) usage(expected);
      us = *ms * 1000;
    }
    if (us < kMinUs) usage(expected);  // the ms path stops at a day, nine digits of us well short of it
    return us;
  };
  int64_t lock_timeout_ms = duration("--lock-timeout", lock_timeout_text);
  int64_t statement_timeout_ms = duration("--statement-timeout", statement_timeout_text);
  migrator::expand::BackfillOptions backfill_options;
  backfill_options.batch_rows = parse_whole_number("--backfill-batch-rows", backfill_batch_rows_text, 1, 1000000,
                                                   "a number of rows");
  backfill_options.target_batch_us = backfill_target_us(backfill_target_text);
  backfill_options.pause_ms = duration("--backfill-pause", backfill_pause_text);
  backfill_options.nice_ratio = parse_ratio("--backfill-nice-ratio", backfill_nice_ratio_text, 100);
  backfill_options.max_active_sessions = static_cast<int>(
      parse_whole_number("--backfill-max-active", backfill_max_active_text, 0, 100000, "a number of sessions"));
  backfill_options.max_lock_waiters = static_cast<int>(parse_whole_number(
      "--backfill-max-lock-waiters", backfill_max_lock_waiters_text, 0, 100000, "a number of sessions"));
  backfill_options.max_replica_lag_ms = duration("--backfill-max-replica-lag", backfill_max_replica_lag_text);
  std::optional<uint64_t> up_to_version;
  if (up->parsed() && !up_to.empty()) up_to_version = parse_version("--to", up_to);
  uint64_t baseline_to = 0;
  if (baseline->parsed()) baseline_to = parse_version("baseline VERSION", baseline_version);
  uint64_t resolve_to = 0;
  if (resolve->parsed()) {
    resolve_to = parse_version("resolve VERSION", resolve_version);
    if (resolve_applied == resolve_reverted) usage("resolve: give exactly one of --applied and --reverted");
  }
  uint64_t steps = 1;
  std::optional<uint64_t> down_to_version;
  if (down->parsed()) {
    if (!steps_text.empty() && !down_to.empty()) usage("down: give --steps or --to, not both");
    if (!steps_text.empty()) {
      steps =
          static_cast<uint64_t>(parse_whole_number("--steps", steps_text, 1, kMaxVersion, "a number of migrations"));
    }
    if (!down_to.empty()) down_to_version = parse_version("--to", down_to);
  }

  if (database_url.empty()) {
    usage("no database URL: pass --database-url URL or set DATABASE_URL");
  }
  migrator::DatabaseUrl url = migrator::parse_database_url(database_url);
  std::vector<std::string> warnings;
  bool backup_command = backup->parsed() || list_backups->parsed() || restore->parsed();
  std::vector<migrator::Migration> migrations;  // backup commands work without the migrations directory
  if (!backup_command) migrations = migrator::load_migrations(dir, &warnings);
  for (const std::string& warning : warnings) std::cerr << "migrator: warning: " << warning << "\n";
  for (const migrator::Migration& migration : migrations) {
    if (migration.declarative() && url.kind == migrator::DatabaseKind::kSqlite) {
      throw Error(ExitCode::kInvalidMigrations,
                  migration.declarative_path().string() +
                      ": declarative (expand–contract) migrations need PostgreSQL; on SQLite write up.sql and "
                      "down.sql instead; nothing was run");
    }
  }
  migrator::DriverOptions options;
  options.wait_seconds = static_cast<int>(wait);
  options.lock_timeout_ms = lock_timeout_ms;
  options.statement_timeout_ms = statement_timeout_ms;
  options.lock_retries = static_cast<int>(lock_retries);
  options.create_database = up->parsed() && !dry_run;
  options.notices = &std::cerr;
  std::unique_ptr<migrator::ProgressLine> progress;
  if (migrator::ProgressLine::wanted()) progress = std::make_unique<migrator::ProgressLine>(STDERR_FILENO);
  options.progress = progress.get();
  std::unique_ptr<migrator::Driver> driver = migrator::open_driver(url, options);
  set_active_driver(driver.get());
  struct Release {  // the watcher must not cancel through a destroyed driver
    ~Release() { set_active_driver(nullptr); }
  } release;
  const std::vector<migrator::Migration> migrations_on_disk = migrations;
  migrator::BackupOptions backup_options;
  backup_options.directory = backup_dir.empty()
                                 ? (std::filesystem::path(dir) / ".." / ".migrator" / "backups").lexically_normal()
                                 : std::filesystem::path(backup_dir);
  backup_options.pg_bindir = pg_bin;
  backup_options.keep = static_cast<int>(keep_backups);
  backup_options.compression = static_cast<int>(backup_compression);
  auto print_backup = [&](const migrator::BackupRecord& record, const std::string& verb) {
    if (json != nullptr) json->fields()[verb == "restored" ? "restored" : "backup"] = record.to_json();
    human << verb << " " << record.file << " (" << record.size << " bytes, sha256 " << record.sha256 << ")"
          << std::endl;
  };
  migrator::Engine engine(*driver, std::move(migrations), human);
  struct Runs {  // what the command did, also when it fails part-way
    ~Runs() {
      if (json != nullptr && !status) json->fields()["migrations"] = migrator::runs_json(engine.runs());
    }
    migrator::JsonDocument* json;
    migrator::Engine& engine;
    bool status;
  } runs{json, engine, status->parsed()};
  std::unique_ptr<migrator::expand::BackfillProgressOutput> backfill_output;
  std::unique_ptr<migrator::expand::PhaseRunner> phase_runner;
  bool phase_command = complete->parsed() || abort_command->parsed() || backfill_command->parsed();
  // The phase runner holds a second connection for the whole run. up, down and redo consult phases only
  // for declarative migrations on disk, so without one they do without it: an idle session would
  // have to catch up with every catalog change the migrations make, at the server's expense.
  bool any_declarative = std::any_of(migrations_on_disk.begin(), migrations_on_disk.end(),
                                     [](const migrator::Migration& m) { return m.declarative(); });
  bool needs_phases = any_declarative || !(up->parsed() || down->parsed() || redo->parsed());
  if (url.kind == migrator::DatabaseKind::kPostgres && needs_phases) {
    migrator::expand::PhaseOptions phase_options;
    if (app.count("--lock-timeout") > 0) phase_options.lock_timeout_ms = lock_timeout_ms;
    phase_options.lock_retries = static_cast<int>(std::max<int64_t>(lock_retries, 1));
    phase_options.notices = &std::cerr;
    phase_options.backfill = backfill_options;
    // Backfill progress on stderr: JSON lines with --json (stdout holds the one document), a bar on
    // a terminal, nothing otherwise (the "backfilled ..." line says the total).
    if (json != nullptr) {
      backfill_output = std::make_unique<migrator::expand::BackfillProgressOutput>(
          STDERR_FILENO, migrator::expand::BackfillProgressOutput::Format::kJsonLines);
    } else if (migrator::expand::BackfillProgressOutput::bar_wanted()) {
      backfill_output = std::make_unique<migrator::expand::BackfillProgressOutput>(
          STDERR_FILENO, migrator::expand::BackfillProgressOutput::Format::kBar);
    }
    phase_options.backfill_observer = backfill_output.get();
    phase_runner = std::make_unique<migrator::expand::PhaseRunner>(url.target, phase_options, human);
    migrator::expand::PhaseRunner* runner = phase_runner.get();
    engine.set_declarative([runner](const migrator::Migration& m) { runner->expand(m); },
                           [runner] {
                             std::map<uint64_t, migrator::DeclarativePhase> phases;
                             for (const auto& [v, row] : runner->phases()) {
                               phases[v] = {row.phase, row.backfill_rows_done, row.backfill_rows_total, row.error};
                             }
                             return phases;
                           });
  } else if (phase_command) {
    throw Error(ExitCode::kUsage, "complete, abort and backfill run declarative migrations, which need PostgreSQL");
  }
  if (up->parsed() && url.kind == migrator::DatabaseKind::kPostgres) {
    engine.set_before_up([&](const std::vector<const migrator::Migration*>& pending) {
      // Its own connection, closed once lint is done: an idle session would have to catch up with
      // every catalog change the migrations make while they run.
      migrator::PostgresCatalog catalog(url.target);
      lint_options.catalog = &catalog;
      struct Forget {  // lint_options must not outlive the catalog it points to
        migrator::LintOptions& options;
        ~Forget() { options.catalog = nullptr; }
      } forget{lint_options};
      migrator::lint_before_up(pending, lint_options);
    });
  }

  bool changes_schema = (up->parsed() || down->parsed() || redo->parsed()) && !dry_run;
  if (changes_schema && !no_backup) {
    // Under the migration lock, before anything runs: if the backup fails, nothing runs (exit 7).
    driver->lock();
    std::vector<migrator::DryRunScript> scripts =
        up->parsed()     ? migrator::plan_up(*driver, migrations_on_disk, up_to_version, allow_out_of_order)
        : redo->parsed() ? migrator::plan_redo(*driver, migrations_on_disk)
                         : migrator::plan_down(*driver, migrations_on_disk, steps, down_to_version);
    // A revert under a declarative migration in flight is refused before any backup.
    if (!scripts.empty() && (down->parsed() || redo->parsed()))
      engine.refuse_if_in_flight(redo->parsed() ? "redo" : "down");
    std::string why = take_backup ? "requested with --backup" : migrator::first_destructive_statement(scripts);
    if (!scripts.empty() && !why.empty()) {
      std::string labels;
      for (const migrator::DryRunScript& script : scripts) {
        std::string label = script.migration->label();
        if (labels.find(label) == std::string::npos) labels += (labels.empty() ? "" : ", ") + label;
      }
      print_backup(migrator::open_backups(url, backup_options)->backup("before " + labels + ": " + why, {}),
                   "backed up to");
    }
  }
  auto report_dry_run = [&](const migrator::DryRunReport& report) {
    if (json != nullptr) {
      json->fields()["dry_run"] = report.to_json();
    } else {
      report.print(human);
    }
    if (!report.error.empty()) {
      throw Error(ExitCode::kMigrationFailed, "dry run failed (rolled back, nothing was changed): " + report.error);
    }
  };
  if (backup->parsed()) {
    driver->lock();
    print_backup(migrator::open_backups(url, backup_options)->backup("requested", backup_out), "backed up to");
  } else if (list_backups->parsed()) {
    std::vector<migrator::BackupRecord> records = migrator::open_backups(url, backup_options)->list();
    if (json != nullptr) {
      nlohmann::json listed = nlohmann::json::array();
      for (const migrator::BackupRecord& record : records) listed.push_back(record.to_json());
      json->fields()["backups"] = listed;
    } else if (records.empty()) {
      human << "no backups" << std::endl;
    }
    if (json == nullptr) {
      for (const migrator::BackupRecord& record : records) {
        human << record.created_at << "  " << record.file << "  " << record.size << " bytes  sha256 "
              << record.sha256.substr(0, 12) << "  by " << record.by << "  " << record.reason << "\n";
      }
    }
  } else if (restore->parsed()) {
    driver->lock();
    auto confirm = [&] {
      if (yes) return;
      if (isatty(STDIN_FILENO) == 0) {
        usage("restore: refusing to replace the database without confirmation: no terminal to ask on; pass --yes");
      }
      std::cerr << "Restore " << restore_file
                << "? It replaces the database's contents (and its migration state) with the backup's. [y/N] "
                << std::flush;
      std::string answer;
      std::getline(std::cin, answer);
      if (answer != "y" && answer != "Y" && answer != "yes") {
        throw Error(ExitCode::kUsage, "restore: not confirmed; nothing was changed");
      }
    };
    print_backup(migrator::open_backups(url, backup_options)->restore(restore_file, confirm), "restored");
  } else if (dry_run) {
    report_dry_run(up->parsed() ? migrator::dry_run_up(*driver, migrations_on_disk, up_to_version, allow_out_of_order,
                                                       [&](const migrator::Migration& m, pqxx::transaction_base& tx) {
                                                         return phase_runner->dry_run_scripts(m, tx);
                                                       })
                   : redo->parsed() ? migrator::dry_run_redo(*driver, migrations_on_disk)
                                    : migrator::dry_run_down(*driver, migrations_on_disk, steps, down_to_version));
  } else if (status->parsed()) {
    if (json != nullptr) {
      std::vector<migrator::MigrationStatus> statuses = engine.status();
      nlohmann::json rows = nlohmann::json::array();
      for (const migrator::MigrationStatus& s : statuses) rows.push_back(migrator::status_json(s));
      nlohmann::json indexes = nlohmann::json::array();
      std::vector<migrator::InvalidIndex> others;
      for (const migrator::Engine::LeftIndex& left : engine.left_indexes(statuses, &others)) {
        indexes.push_back({{"schema", left.index.schema},
                           {"name", left.index.name},
                           {"table", left.index.table},
                           {"left_by", left.migration->version},
                           {"file", left.migration->up_path().string()},
                           {"line", left.line}});
      }
      for (const migrator::InvalidIndex& index : others) {
        indexes.push_back(
            {{"schema", index.schema}, {"name", index.name}, {"table", index.table}, {"left_by", nullptr}});
      }
      json->fields()["migrations"] = rows;
      json->fields()["invalid_indexes"] = indexes;
    }
    engine.print_status();
  } else if (phase_command) {
    uint64_t version = parse_version("VERSION", phase_version);
    const migrator::Migration* migration = nullptr;
    for (const migrator::Migration& m : migrations_on_disk) {
      if (m.version == version) migration = &m;
    }
    if (migration == nullptr || !migration->declarative()) {
      throw Error(ExitCode::kInvalidMigrations,
                  (migration == nullptr ? "no migration with version " + phase_version + " in " + dir
                                        : migration->label() + " is not a declarative migration (no migration.yaml)") +
                      "; nothing was changed");
    }
    if (phase_dry_run) {
      std::vector<std::string> notes;
      migrator::DryRunReport report = driver->dry_run([&] {
        return complete->parsed() ? phase_runner->complete_dry_run_scripts(*migration)
                                  : phase_runner->abort_dry_run_scripts(*migration, &notes);
      });
      report.command = complete->parsed() ? "complete" : "abort";
      report.notes = notes;
      report_dry_run(report);
      return 0;
    }
    driver->lock();
    if (complete->parsed()) {
      bool drops_only = phase_runner->drops_pending(*migration);
      if (!drops_only) phase_runner->check_complete(*migration);
      if (!complete_no_backup && !drops_only) {
        print_backup(migrator::open_backups(url, backup_options)->backup("before complete of " + migration->label(), {}),
                     "backed up to");
      }
      phase_runner->complete(*migration);
    } else if (abort_command->parsed()) {
      phase_runner->abort(*migration);
    } else {
      phase_runner->backfill(*migration);
    }
  } else if (up->parsed()) {
    engine.up(up_to_version, allow_out_of_order);
  } else if (redo->parsed()) {
    engine.redo();
  } else if (verify->parsed()) {
    engine.verify();
  } else if (baseline->parsed()) {
    engine.baseline(baseline_to);
  } else if (resolve->parsed()) {
    engine.resolve(resolve_to, resolve_applied);
  } else if (down_to_version) {
    engine.down_to(*down_to_version);
  } else {
    engine.down_steps(steps);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  watch_signals();
  bool json = false;
  for (int i = 1; i < argc; ++i) json = json || std::string(argv[i]) == "--json";
  migrator::JsonDocument document;
  auto fail = [&](int code, const std::string& message) {
    std::cout.flush();
    std::cerr << "migrator: " << message << std::endl;
    if (json) std::cout << document.failure(code, message) << std::endl;
    return code;
  };
  try {
    int code = run(argc, argv, json ? &document : nullptr);
    if (json) std::cout << document.success() << std::endl;
    return code;
  } catch (const migrator::Error& e) {
    if (migrator::interrupt_requested() && e.code() != migrator::ExitCode::kInterrupted) {
      return fail(static_cast<int>(migrator::ExitCode::kInterrupted), std::string("interrupted: ") + e.what());
    }
    return fail(e.exit_code(), e.what());
  } catch (const std::exception& e) {
    return fail(static_cast<int>(migrator::ExitCode::kMigrationFailed), std::string("unexpected error: ") + e.what());
  }
}
