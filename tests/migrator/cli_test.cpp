// The migrator executable: help, exit codes and messages, run as a user would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

CommandResult migrator_cli(const std::vector<std::string>& args) { return run_command(MIGRATOR_BIN, args); }

TEST(MigratorCli, HelpListsCommandsAndExitCodes) {
  CommandResult result = migrator_cli({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* text : {"status", "up", "down", "--database-url", "DATABASE_URL", "Exit codes", "Example"}) {
    EXPECT_THAT(result.out, HasSubstr(text));
  }
}

TEST(MigratorCli, EverySubcommandHelpHasAnExample) {
  for (const char* command : {"init", "new", "status", "up", "down", "redo", "baseline", "verify", "resolve", "backup",
                              "backups", "restore", "lint", "help"}) {
    CommandResult result = migrator_cli({command, "--help"});
    EXPECT_EQ(result.exit_code, 0) << command;
    EXPECT_THAT(result.out, HasSubstr("Example:\n  migrator ")) << command;
  }
}

TEST(MigratorCli, UsageErrorsExitTwo) {
  CommandResult bad_url = migrator_cli({"--database-url", "mysql://h/db", "status"});
  EXPECT_EQ(bad_url.exit_code, 2);
  EXPECT_THAT(bad_url.err, HasSubstr("migrator: unrecognised database URL"));
  EXPECT_THAT(bad_url.err, HasSubstr("sqlite:PATH"));

  CommandResult no_url = migrator_cli({"status"});
  EXPECT_EQ(no_url.exit_code, 2);
  EXPECT_THAT(no_url.err, HasSubstr("DATABASE_URL"));

  EXPECT_EQ(migrator_cli({"--database-url", "sqlite::memory:", "sideways"}).exit_code, 2);
  EXPECT_EQ(migrator_cli({"--database-url", "sqlite::memory:"}).exit_code, 2);
  EXPECT_EQ(migrator_cli({"--database-url", "sqlite::memory:", "down", "--steps", "0"}).exit_code, 2);
  EXPECT_EQ(migrator_cli({"--database-url", "sqlite::memory:", "down", "--steps", "1", "--to", "3"}).exit_code, 2);
}

// One plain line on stderr naming what was wrong, no CLI11 boilerplate, exit 2.
void expect_usage_error(const std::vector<std::string>& args, const std::string& message) {
  CommandResult result = migrator_cli(args);
  EXPECT_EQ(result.exit_code, 2) << ::testing::PrintToString(args) << "\n" << result.err;
  EXPECT_THAT(result.err, HasSubstr("migrator: " + message)) << ::testing::PrintToString(args);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_EQ(result.out, "");
}

TEST(MigratorCli, NegativeOrNonNumericVersionsAreUsageErrors) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  std::vector<std::string> global = {"--database-url", "sqlite:" + (db.path() / "app.db").string(), "--dir",
                                     migrations.path().string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), global.begin(), global.end());
    return args;
  };
  const std::string range = "a version number from 0 to 9223372036854775807";
  expect_usage_error(with({"up", "--to", "-1"}), "--to: expected " + range + ", got '-1'");
  expect_usage_error(with({"up", "--to", "three"}), "--to: expected " + range + ", got 'three'");
  expect_usage_error(with({"up", "--to", "1e3"}), "--to: expected " + range + ", got '1e3'");
  expect_usage_error(with({"up", "--to", "9223372036854775808"}), "--to: expected " + range);
  expect_usage_error(with({"down", "--to", "-5"}), "--to: expected " + range + ", got '-5'");
  expect_usage_error(with({"down", "--steps", "-1"}), "--steps: expected a number of migrations from 1 to");
  // Nothing ran: the database file was never even created.
  EXPECT_FALSE(std::filesystem::exists(db.path() / "app.db"));
}

TEST(MigratorCli, WaitIsBoundedAndTheBoundIsInHelp) {
  EXPECT_THAT(migrator_cli({"--help"}).out, HasSubstr("0 to 86400; 0 fails at once with exit 5"));
  for (const char* bad : {"86401", "2147484", "99999999", "-1", "1.5"}) {
    expect_usage_error({"--database-url", "sqlite::memory:", "--wait", bad, "status"},
                       "--wait: expected seconds from 0 to 86400");
  }
  MigrationsDir migrations;
  CommandResult ok = migrator_cli(
      {"--database-url", "sqlite::memory:", "--dir", migrations.path().string(), "--wait", "86400", "status"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST(MigratorCli, TimeoutsAndRetriesAreBounded) {
  for (const char* bad : {"5", "-1s", "2days", "1441min"}) {
    expect_usage_error(
        {"--database-url", "sqlite::memory:", "--lock-timeout", bad, "status"},
        std::string("--lock-timeout: expected a duration such as 500ms, 5s or 2min, at most a day, got '") + bad + "'");
    expect_usage_error({"--database-url", "sqlite::memory:", "--statement-timeout", bad, "status"},
                       "--statement-timeout: expected a duration");
  }
  expect_usage_error({"--database-url", "sqlite::memory:", "--lock-retries", "11", "status"},
                     "--lock-retries: expected a number of retries from 0 to 10, got 11");
}

TEST(MigratorCli, BackfillNiceRatioIsADecimalFromZeroToAHundred) {
  for (const char* bad : {"-1", "1e2", "0.5.1", ".", "", "101", "half", "2x"}) {
    expect_usage_error({"--database-url", "sqlite::memory:", "--backfill-nice-ratio", bad, "status"},
                       std::string("--backfill-nice-ratio: expected a number from 0 to 100 such as 0.5 or 2, got '") +
                           bad + "'");
  }
  MigrationsDir migrations;
  for (const char* good : {"0", "0.5", "2", "100", "1.25", ".5"}) {
    CommandResult ok = migrator_cli({"--database-url", "sqlite::memory:", "--dir", migrations.path().string(),
                                     "--backfill-nice-ratio", good, "status"});
    EXPECT_EQ(ok.exit_code, 0) << good << ": " << ok.err;
  }
}

// The backfill's options are checked before anything runs: a bad number, unit or sign is a usage
// error (exit 2) naming the option and the value, and nothing is created or changed.
TEST(MigratorCli, BackfillOptionUsageErrorsExitTwoAndChangeNothing) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  std::string path = (db.path() / "app.db").string();
  const std::string rows = "expected a number of rows from 1 to 1000000, got ";
  const std::string sessions = "expected a number of sessions from 0 to 100000, got ";
  const std::string duration = "expected a duration such as 500ms, 5s or 2min, at most a day, got ";
  const std::string target = "expected a duration such as 500us, 1ms or 50ms, from 100us to a day, got ";
  struct Case {
    std::string option, value, message;
  };
  const std::vector<Case> cases = {
      {"--backfill-batch-rows", "0", rows + "0"},
      {"--backfill-batch-rows", "-5", rows + "'-5'"},
      {"--backfill-batch-rows", "5k", rows + "'5k'"},
      {"--backfill-batch-rows", "1000001", rows + "1000001"},
      {"--backfill-target", "100", target + "'100'"},
      {"--backfill-target", "-100ms", target + "'-100ms'"},
      {"--backfill-target", "2h", target + "'2h'"},
      {"--backfill-target", "99us", target + "'99us'"},
      {"--backfill-target", "0ms", target + "'0ms'"},
      {"--backfill-target", "-500us", target + "'-500us'"},
      {"--backfill-target", "us", target + "'us'"},
      {"--backfill-target", "1.5ms", target + "'1.5ms'"},
      {"--backfill-pause", "1.5s", duration + "'1.5s'"},
      {"--backfill-pause", "1441min", duration + "'1441min'"},
      {"--backfill-max-active", "-1", sessions + "'-1'"},
      {"--backfill-max-active", "many", sessions + "'many'"},
      {"--backfill-max-lock-waiters", "100001", sessions + "100001"},
      {"--backfill-max-replica-lag", "5 s", duration + "'5 s'"},
      {"--backfill-max-replica-lag", "-1s", duration + "'-1s'"},
  };
  for (const Case& c : cases) {
    expect_usage_error(
        {"--database-url", "sqlite:" + path, "--dir", migrations.path().string(), c.option, c.value, "up"},
        c.option + ": " + c.message);
    EXPECT_FALSE(std::filesystem::exists(path)) << c.option << " " << c.value;
  }
  // The same values in range are accepted: up runs and creates the database.
  CommandResult up =
      migrator_cli({"--database-url", "sqlite:" + path, "--dir", migrations.path().string(), "--backfill-batch-rows",
                    "1000000", "--backfill-target", "1ms", "--backfill-pause", "1440min", "--backfill-max-active", "0",
                    "--backfill-max-lock-waiters", "100000", "--backfill-max-replica-lag", "5s", "up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_TRUE(std::filesystem::exists(path));
  for (const std::string target_value : {"100us", "500us", "86400s"}) {
    CommandResult again = migrator_cli({"--database-url", "sqlite:" + path, "--dir", migrations.path().string(),
                                        "--backfill-target", target_value, "up"});
    EXPECT_EQ(again.exit_code, 0) << target_value << ": " << again.err;
  }
}

TEST(MigratorCli, UsageErrorsAreOnePlainLineNamingTheOption) {
  expect_usage_error({"--database-url", "sqlite::memory:", "down", "--steps", "0"},
                     "--steps: expected a number of migrations from 1 to 9223372036854775807, got 0");
  expect_usage_error({"--database-url", "sqlite::memory:", "sideways"},
                     "unknown command 'sideways'; commands: init, new, status, up, down, redo, baseline, verify, "
                     "resolve, complete, abort, backfill, backup, backups, restore, lint, help");
  expect_usage_error({"--database-url", "sqlite::memory:"},
                     "no command given; commands: init, new, status, up, down, redo, baseline, verify, resolve, "
                     "complete, abort, backfill, backup, backups, restore, lint, help");
  expect_usage_error({"--database-url", "sqlite::memory:", "down", "--steps", "1", "--to", "3"},
                     "down: give --steps or --to, not both");
  expect_usage_error({"up", "--bogus"}, "up: unexpected argument: --bogus (see migrator --help)");
  expect_usage_error({"--database-url", "postgresql://localhost:abc/app", "status"},
                     "invalid port 'abc' in the PostgreSQL URL: expected a number from 1 to 65535");
  expect_usage_error({"--database-url", "host=localhost port=70000 dbname=app", "status"}, "invalid port '70000'");
  expect_usage_error({"--database-url", "sqlite:", "status"}, "the SQLite URL 'sqlite:' names no file");
}

TEST(MigratorCli, HelpCommandShowsTheHelpOfACommand) {
  CommandResult help_up = migrator_cli({"help", "up"});
  EXPECT_EQ(help_up.exit_code, 0) << help_up.err;
  EXPECT_EQ(help_up.out, migrator_cli({"up", "--help"}).out);
  EXPECT_THAT(help_up.out, HasSubstr("--to"));
  CommandResult help = migrator_cli({"help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out, migrator_cli({"--help"}).out);
  expect_usage_error({"help", "sideways"}, "help: unknown command 'sideways'");
}

TEST(MigratorCli, BaselineAdoptsAnExistingDatabaseOnce) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_accounts", "CREATE TABLE accounts (id integer);\n", "DROP TABLE accounts;\n");
  migrations.add("0002_plans", "CREATE TABLE plans (id integer);\n", "DROP TABLE plans;\n");
  std::string path = (db.path() / "app.db").string();
  sqlite3* handle = nullptr;  // the database as it was made by hand, before the migrator
  ASSERT_EQ(sqlite3_open(path.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "CREATE TABLE accounts (id integer)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(handle);
  std::vector<std::string> global = {"--database-url", "sqlite:" + path, "--dir", migrations.path().string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), global.begin(), global.end());
    return args;
  };
  const std::string range = "a version number from 0 to 9223372036854775807";
  expect_usage_error(with({"baseline", "-1"}), "baseline VERSION: expected " + range + ", got '-1'");
  expect_usage_error(with({"baseline", "first"}), "baseline VERSION: expected " + range + ", got 'first'");
  EXPECT_EQ(migrator_cli(with({"baseline"})).exit_code, 2);

  CommandResult missing = migrator_cli(with({"baseline", "3"}));
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_THAT(missing.err, HasSubstr("no migration with version 3 in the migrations directory"));

  CommandResult adopted = migrator_cli(with({"baseline", "1"}));
  ASSERT_EQ(adopted.exit_code, 0) << adopted.err;
  EXPECT_EQ(adopted.out, "baselined 0001_accounts (not run)\n");
  CommandResult again = migrator_cli(with({"baseline", "1"}));
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_THAT(again.err, HasSubstr("refusing to baseline, nothing was changed: 1 migration(s) already applied"));
  CommandResult up = migrator_cli(with({"up"}));  // 0001 would fail: accounts exists already
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, MatchesRegex("applied 0002_plans \\([0-9]+ ms\\)\n"));
}

TEST(MigratorCli, VerifyExitsOneNamingFileAndLineOfAFailedVerifySql) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_accounts", "CREATE TABLE accounts (id integer);\n", "DROP TABLE accounts;\n");
  write_file(migrations.path() / "0001_accounts" / "verify.sql", "\nSELECT id FROM accounts;\n");
  std::vector<std::string> global = {"--database-url", "sqlite:" + (db.path() / "app.db").string(), "--dir",
                                     migrations.path().string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), global.begin(), global.end());
    return args;
  };
  ASSERT_EQ(migrator_cli(with({"up"})).exit_code, 0);
  CommandResult ok = migrator_cli(with({"verify"}));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "verified 0001_accounts: checksum ok, verify.sql ok\n");

  write_file(migrations.path() / "0001_accounts" / "verify.sql", "\nSELECT email FROM accounts;\n");
  CommandResult failed = migrator_cli(with({"verify"}));
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_THAT(failed.err, HasSubstr((migrations.path() / "0001_accounts" / "verify.sql").string() + ":2: ERROR: "));
  EXPECT_THAT(failed.err, HasSubstr("email"));

  write_file(migrations.path() / "0001_accounts" / "verify.sql", "-- to do\n");
  CommandResult empty = migrator_cli(with({"verify"}));
  EXPECT_EQ(empty.exit_code, 3);
  EXPECT_THAT(empty.err, HasSubstr("0001_accounts/verify.sql: verify.sql has no statement"));
}

TEST(MigratorCli, DirThatIsAFileSaysSo) {
  TempDir dir;
  write_file(dir.path() / "file", "x");
  CommandResult result =
      migrator_cli({"--database-url", "sqlite::memory:", "--dir", (dir.path() / "file").string(), "status"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.err, HasSubstr((dir.path() / "file").string() + " is not a directory"));
}

TEST(MigratorCli, OnlyUpCreatesAnSqliteDatabase) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  std::string path = (db.path() / "typo.db").string();
  for (const char* command : {"status", "down"}) {
    CommandResult result =
        migrator_cli({"--database-url", "sqlite:" + path, "--dir", migrations.path().string(), command});
    EXPECT_EQ(result.exit_code, 4) << command;
    EXPECT_EQ(result.err, "migrator: SQLite database " + path + " does not exist (only `migrator up` creates one)\n");
    EXPECT_FALSE(std::filesystem::exists(path)) << command;
  }
  CommandResult up = migrator_cli({"--database-url", "sqlite:" + path, "--dir", migrations.path().string(), "up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(MigratorCli, OtherToolsLayoutsAreReportedNotSilentlyIgnored) {
  MigrationsDir migrations;
  write_file(migrations.path() / "1_init.up.sql", "CREATE TABLE t1 (id integer);\n");
  write_file(migrations.path() / "1_init.down.sql", "DROP TABLE t1;\n");
  CommandResult result =
      migrator_cli({"--database-url", "sqlite::memory:", "--dir", migrations.path().string(), "status"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "no migrations\n");
  EXPECT_THAT(result.err, HasSubstr("migrator: warning: ignored " + (migrations.path() / "1_init.up.sql").string() +
                                    ": it looks like a golang-migrate migration"));
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 2) << result.err;
}

TEST(MigratorCli, InvalidMigrationsDirectoryExitsThree) {
  MigrationsDir migrations;
  std::filesystem::create_directories(migrations.path() / "not_a_migration");
  CommandResult result = migrator_cli({"--database-url", "sqlite::memory:", "--dir", migrations.path().string(), "up"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.err, HasSubstr("not_a_migration"));
}

TEST(MigratorCli, UnopenableDatabaseExitsFour) {
  MigrationsDir migrations;
  std::string url = "sqlite://" + (migrations.path() / "no" / "dir" / "x.db").string();
  CommandResult result = migrator_cli({"--database-url", url, "--dir", migrations.path().string(), "up"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_THAT(result.err, HasSubstr("migrator: cannot open SQLite database"));
}

TEST(MigratorCli, UpStatusDownOnSqlite) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations.add("0002_second", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
  // Global options after the subcommand work too.
  std::vector<std::string> global = {"--database-url", "sqlite:" + (db.path() / "app.db").string(), "--dir",
                                     migrations.path().string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), global.begin(), global.end());
    return migrator_cli(args);
  };

  CommandResult up = with({"up", "--to", "1"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, MatchesRegex("applied 0001_first \\([0-9]+ ms\\)\n"));
  CommandResult status = with({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out,
              MatchesRegex("0001  first   applied [0-9T:Z-]+ by [^ ]+ in [0-9]+ ms\n0002  second  pending\n"));
  CommandResult down = with({"down", "--no-backup"});  // its DROP TABLE would back up first (backup_test.cpp)
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, MatchesRegex("reverted 0001_first \\([0-9]+ ms\\)\n"));
  CommandResult again = with({"down"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "nothing to revert\n");
}

TEST(MigratorCli, StatusExitsThreeOnDrift) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  std::vector<std::string> args = {"--database-url", "sqlite:" + (db.path() / "app.db").string(), "--dir",
                                   migrations.path().string(), "status"};
  ASSERT_EQ(migrator_cli({"--database-url", "sqlite:" + (db.path() / "app.db").string(), "--dir",
                          migrations.path().string(), "up"})
                .exit_code,
            0);
  EXPECT_EQ(migrator_cli(args).exit_code, 0);
  write_file(migrations.path() / "0001_first" / "up.sql", "CREATE TABLE t1 (id bigint);\n");
  CommandResult drift = migrator_cli(args);
  EXPECT_EQ(drift.exit_code, 3);
  EXPECT_THAT(drift.out, MatchesRegex("0001  first  changed \\(applied .*\\)\n"));
  EXPECT_THAT(drift.err, HasSubstr("0001_first is changed"));
}

TEST(MigratorCli, SigintOrSigtermCancelsRollsBackAndExits130) {
  for (int signal : {SIGINT, SIGTERM}) {
    MigrationsDir migrations;
    TempDir db;
    migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
    migrations.add("0002_endless",
                   "CREATE TABLE t2 (id integer);\n"
                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\n",
                   "DROP TABLE t2;\n");
    std::string url = "sqlite:" + (db.path() / "app.db").string();
    ChildProcess up(MIGRATOR_BIN, {"--database-url", url, "--dir", migrations.path().string(), "up"});
    for (int i = 0; i < 100 && up.out_so_far().empty(); ++i) usleep(20000);  // 0001 committed
    usleep(200000);
    auto start = std::chrono::steady_clock::now();
    up.send(signal);
    CommandResult result = up.wait();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    EXPECT_EQ(result.exit_code, 130) << result.err;
    EXPECT_THAT(result.err,
                HasSubstr("migrator: interrupted: " + (migrations.path() / "0002_endless" / "up.sql").string() +
                          ":2 was cancelled and the migration rolled back, nothing of it remains"));
    CommandResult status = migrator_cli({"--database-url", url, "--dir", migrations.path().string(), "status"});
    EXPECT_THAT(status.out, MatchesRegex("0001  first    applied .*\n0002  endless  pending\n"));
    // The table of the interrupted migration is gone, and a rerun is not blocked.
    migrations.add("0002_endless", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
    CommandResult again = migrator_cli({"--database-url", url, "--dir", migrations.path().string(), "up"});
    EXPECT_EQ(again.exit_code, 0) << again.err;
  }
}

TEST(MigratorCli, SqliteWriterElsewhereExitsFiveAtOnce) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  std::string path = (db.path() / "app.db").string();
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer, "CREATE TABLE other (id integer); BEGIN IMMEDIATE;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  CommandResult result = migrator_cli({"--database-url", "sqlite:" + path, "--dir", migrations.path().string(), "up"});
  EXPECT_EQ(result.exit_code, 5) << result.err;
  EXPECT_THAT(result.err,
              HasSubstr("another connection is writing to the SQLite database (--wait SECONDS waits for it)"));
  sqlite3_exec(writer, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(writer);
  result = migrator_cli({"--database-url", "sqlite:" + path, "--dir", migrations.path().string(), "up"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

TEST(MigratorCli, InitCreatesARunnableExampleAndRefusesANonEmptyDirectory) {
  TempDir root;
  std::string dir = (root.path() / "db" / "migrations").string();
  CommandResult init = migrator_cli({"--dir", dir, "init"});  // no database needed
  EXPECT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(init.out,
            "created " + dir + "/0001_create_example/up.sql\ncreated " + dir + "/0001_create_example/down.sql\n");
  std::string db = "sqlite:" + (root.path() / "app.db").string();
  CommandResult up = migrator_cli({"--database-url", db, "--dir", dir, "up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, MatchesRegex("applied 0001_create_example \\([0-9]+ ms\\)\n"));
  CommandResult again = migrator_cli({"--dir", dir, "init"});
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_THAT(again.err, HasSubstr(dir + " already exists and is not an empty directory; nothing was created"));
}

TEST(MigratorCli, NewScaffoldsTheNextVersion) {
  MigrationsDir migrations;
  std::string dir = migrations.path().string();
  CommandResult first = migrator_cli({"--dir", dir, "new", "create_users"});
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out,
            "created " + dir + "/0001_create_users/up.sql\ncreated " + dir + "/0001_create_users/down.sql\n");
  migrations.add("000041_later", "SELECT 1;\n", "SELECT 1;\n");
  CommandResult next = migrator_cli({"--dir", dir, "new", "add-email"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_THAT(next.out, HasSubstr(dir + "/000042_add-email/up.sql"));
  // The scaffold's down.sql is only a comment: status says to write it before anything runs.
  CommandResult status = migrator_cli({"--database-url", "sqlite::memory:", "--dir", dir, "status"});
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_THAT(status.err, HasSubstr("/down.sql: down.sql has no statement; write the SQL that reverts up.sql"));

  CommandResult stamped = migrator_cli({"--dir", dir, "new", "--timestamp", "backfill"});
  EXPECT_EQ(stamped.exit_code, 0) << stamped.err;
  EXPECT_THAT(stamped.out,
              MatchesRegex("created .*/20[0-9]{12}_backfill/up.sql\ncreated .*/20[0-9]{12}_backfill/down.sql\n"));

  expect_usage_error({"--dir", dir, "new", "add email"}, "new: NAME must be letters, digits, '_' and '-'");
  CommandResult missing = migrator_cli({"--dir", dir, "new"});
  EXPECT_EQ(missing.exit_code, 2);
}

TEST(MigratorCli, AllowOutOfOrderFlag) {
  MigrationsDir migrations;
  TempDir db;
  std::vector<std::string> global = {"--database-url", "sqlite:" + (db.path() / "app.db").string(), "--dir",
                                     migrations.path().string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), global.begin(), global.end());
    return migrator_cli(args);
  };
  migrations.add("0002_second", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
  ASSERT_EQ(with({"up"}).exit_code, 0);
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  CommandResult refused = with({"up"});
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_THAT(refused.err, HasSubstr("0001_first is pending, but 0002_second (a higher version) is already applied"));
  CommandResult allowed = with({"up", "--allow-out-of-order"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_THAT(allowed.out, MatchesRegex("applied 0001_first \\([0-9]+ ms\\)\n"));
}

TEST(MigratorCli, FailingMigrationExitsOneNamingFileAndLine) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_ok", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations.add("0002_bad", "INSERT INTO t1 (id) VALUES (1);\n\nINSERT INTO t1 (nope) VALUES (2);\n",
                 "DELETE FROM t1;\n");
  CommandResult result = migrator_cli(
      {"--database-url", "sqlite://" + (db.path() / "app.db").string(), "--dir", migrations.path().string(), "up"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, MatchesRegex("applied 0001_ok \\([0-9]+ ms\\)\n"));
  EXPECT_THAT(result.err,
              HasSubstr("migrator: " + (migrations.path() / "0002_bad" / "up.sql").string() + ":3: ERROR: "));
  EXPECT_THAT(result.err, HasSubstr("nope"));
}

}  // namespace
}  // namespace migrator_test

namespace migrator_test {
namespace {

// Runs `sql` on the SQLite database at `path`: the first column of its first row, "" without one,
// or "error: <message>".
std::string sqlite3_exec_file(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return "error: cannot open";
  char* error = nullptr;
  auto first = [](void* out, int columns, char** values, char**) {
    std::string& text = *static_cast<std::string*>(out);
    if (text.empty() && columns > 0 && values[0] != nullptr) text = values[0];
    return 0;
  };
  if (sqlite3_exec(db, sql.c_str(), first, &result, &error) != SQLITE_OK) result = "error: " + std::string(error);
  sqlite3_free(error);
  sqlite3_close(db);
  return result;
}

TEST(MigratorCli, ResolveClearsAFailedMigrationAsAppliedOrReverted) {
  MigrationsDir migrations;
  TempDir db;
  migrations.add("0001_outside",
                 "-- migrator: no-transaction\nCREATE TABLE t1 (id integer);\nINSERT INTO nowhere VALUES (1);\n"
                 "CREATE TABLE t2 (id integer);\n",
                 "DROP TABLE t2;\nDROP TABLE t1;\n");
  migrations.add("0002_next", "CREATE TABLE t3 (id integer);\n", "DROP TABLE t3;\n");
  std::string url = "sqlite:" + (db.path() / "app.db").string();
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--database-url", url, "--dir", migrations.path().string()});
    return migrator_cli(args);
  };

  CommandResult up = with({"up"});
  EXPECT_EQ(up.exit_code, 1);
  EXPECT_THAT(up.err, HasSubstr("up.sql:3: ERROR: no such table: nowhere; 1 statements ran outside a transaction "
                                "and remain (lines 2)\n0001_outside is recorded as failed"));
  CommandResult status = with({"status"});
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_THAT(status.out, HasSubstr("0001  outside  failed (up outside a transaction, started "));
  EXPECT_THAT(status.out, HasSubstr("0002  next     pending\n"));
  EXPECT_EQ(with({"up"}).exit_code, 3);

  EXPECT_EQ(with({"resolve", "1"}).exit_code, 2);
  EXPECT_EQ(with({"resolve", "1", "--applied", "--reverted"}).exit_code, 2);
  CommandResult not_failed = with({"resolve", "2", "--applied"});
  EXPECT_EQ(not_failed.exit_code, 3);
  EXPECT_THAT(not_failed.err, HasSubstr("nothing to resolve, nothing was changed: 0002_next is pending"));

  // The operator finishes it by hand, then says so.
  ASSERT_EQ(sqlite3_exec_file(db.path() / "app.db", "CREATE TABLE t2 (id integer);"), "");
  CommandResult resolved = with({"resolve", "1", "--applied"});
  EXPECT_EQ(resolved.exit_code, 0) << resolved.err;
  EXPECT_EQ(resolved.out, "resolved 0001_outside: recorded as applied\n");
  status = with({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("0001  outside  applied "));
  up = with({"up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, MatchesRegex("applied 0002_next \\([0-9]+ ms\\)\n"));
  CommandResult again = with({"resolve", "1", "--reverted"});
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_THAT(again.err, HasSubstr("0001_outside is applied"));

  // A failed down, undone by hand and resolved as reverted: up applies it again.
  ASSERT_EQ(with({"down", "--no-backup", "--to", "1"}).exit_code, 0);
  ASSERT_EQ(sqlite3_exec_file(db.path() / "app.db", "DROP TABLE t1;"), "");  // so down.sql fails at line 2
  CommandResult down = with({"down", "--no-backup"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_THAT(down.err, HasSubstr("down.sql:2: ERROR: no such table: t1; 1 statements ran outside a transaction"));
  resolved = with({"resolve", "1", "--reverted"});
  EXPECT_EQ(resolved.exit_code, 0) << resolved.err;
  EXPECT_EQ(resolved.out, "resolved 0001_outside: recorded as reverted\n");
  write_file(migrations.path() / "0001_outside" / "up.sql",
             "-- migrator: no-transaction\nCREATE TABLE t1 (id integer);\nCREATE TABLE t2 (id integer);\n");
  EXPECT_EQ(with({"status"}).exit_code, 0);
  up = with({"up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("applied 0001_outside"));
  EXPECT_EQ(sqlite3_exec_file(db.path() / "app.db",
                              "SELECT group_concat(version || ' ' || action || ' ' || outcome, ', ') FROM "
                              "(SELECT * FROM migrator_history ORDER BY id)"),
            "1 up failed, 1 resolve applied, 2 up applied, 2 down reverted, 1 down failed, 1 resolve reverted, "
            "1 up applied, 2 up applied");
}

}  // namespace
}  // namespace migrator_test

#include <nlohmann/json.hpp>

#include "migrator/cli/json_output.h"

namespace migrator_test {
namespace {

using nlohmann::json;

// The one JSON document a --json run prints on stdout (a parse failure fails the test).
json document(const CommandResult& result) {
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1) << result.out;
  json parsed = json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << result.out;
  return parsed;
}

TEST(MigratorCli, JsonPrintsOneDocumentPerCommandAndHumanLinesOnStderr) {
  TempDir work;
  std::string dir = (work.path() / "m").string();
  std::string url = "sqlite:" + (work.path() / "app.db").string();
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "--database-url", url, "--dir", dir});
    return migrator_cli(args);
  };

  CommandResult init = with({"init"});
  EXPECT_EQ(init.exit_code, 0);
  json doc = document(init);
  EXPECT_EQ(doc["command"], "init");
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["exit_code"], 0);
  EXPECT_EQ(doc["created"].size(), 2u);
  EXPECT_THAT(init.err, HasSubstr("created "));

  write_file(work.path() / "m" / "0002_outside" / "up.sql",
             "-- migrator: no-transaction\nCREATE TABLE t1 (id integer);\nINSERT INTO nowhere VALUES (1);\n");
  write_file(work.path() / "m" / "0002_outside" / "down.sql", "DROP TABLE t1;\n");
  CommandResult up = with({"up"});
  EXPECT_EQ(up.exit_code, 1);
  doc = document(up);
  EXPECT_EQ(doc["command"], "up");
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["exit_code"], 1);
  EXPECT_EQ(doc["error"]["file"], dir + "/0002_outside/up.sql");
  EXPECT_EQ(doc["error"]["line"], 3);
  EXPECT_THAT(doc["error"]["message"].get<std::string>(), HasSubstr("no such table: nowhere"));
  ASSERT_EQ(doc["migrations"].size(), 1u);  // what ran before the failure
  EXPECT_EQ(doc["migrations"][0]["directory"], "0001_create_example");
  EXPECT_EQ(doc["migrations"][0]["outcome"], "applied");
  EXPECT_THAT(up.err, HasSubstr("migrator: " + dir + "/0002_outside/up.sql:3: ERROR: no such table: nowhere"));
  EXPECT_THAT(up.err, HasSubstr("applied 0001_create_example ("));

  CommandResult status = with({"status"});
  EXPECT_EQ(status.exit_code, 3);
  doc = document(status);
  EXPECT_EQ(doc["ok"], false);
  ASSERT_EQ(doc["migrations"].size(), 2u);
  EXPECT_EQ(doc["migrations"][0]["state"], "applied");
  EXPECT_EQ(doc["migrations"][1]["state"], "failed");
  EXPECT_EQ(doc["migrations"][1]["failed_action"], "up");
  EXPECT_EQ(doc["migrations"][1]["statements_ran_lines"], json::array({2}));
  EXPECT_EQ(doc["invalid_indexes"], json::array());

  CommandResult resolve = with({"resolve", "2", "--reverted"});
  EXPECT_EQ(resolve.exit_code, 0) << resolve.err;
  doc = document(resolve);
  EXPECT_EQ(doc["migrations"][0]["action"], "resolve");
  EXPECT_EQ(doc["migrations"][0]["outcome"], "reverted");

  CommandResult down = with({"down"});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  doc = document(down);
  EXPECT_EQ(doc["command"], "down");
  EXPECT_EQ(doc["migrations"][0]["outcome"], "reverted");
  EXPECT_GE(doc["migrations"][0]["duration_ms"].get<int64_t>(), 0);

  CommandResult usage = with({"sideways"});
  EXPECT_EQ(usage.exit_code, 2);
  doc = document(usage);
  EXPECT_EQ(doc["command"], nullptr);
  EXPECT_EQ(doc["exit_code"], 2);
  EXPECT_FALSE(doc["error"].contains("file"));
  CommandResult bad_option = with({"down", "--steps", "0"});
  EXPECT_EQ(document(bad_option)["command"], "down");
  EXPECT_EQ(document(bad_option)["exit_code"], 2);
}

TEST(JsonOutput, ErrorNamesTheFirstSqlFileAndLineTheMessageNames) {
  EXPECT_EQ(migrator::error_json("m/0002_x/up.sql:14: ERROR: boom (see m/0001_y/up.sql:2)"),
            json({{"message", "m/0002_x/up.sql:14: ERROR: boom (see m/0001_y/up.sql:2)"},
                  {"file", "m/0002_x/up.sql"},
                  {"line", 14}}));
  EXPECT_EQ(
      migrator::error_json("interrupted: m/1_a/down.sql:3 was cancelled"),
      json({{"message", "interrupted: m/1_a/down.sql:3 was cancelled"}, {"file", "m/1_a/down.sql"}, {"line", 3}}));
  EXPECT_EQ(migrator::error_json("cannot connect to PostgreSQL"), json({{"message", "cannot connect to PostgreSQL"}}));
  migrator::JsonDocument document;
  document.set_command("up");
  document.fields()["migrations"] = json::array();
  EXPECT_EQ(document.success(), R"({"command":"up","exit_code":0,"migrations":[],"ok":true})");
  EXPECT_EQ(document.failure(5, "another run holds the migration lock"),
            R"({"command":"up","error":{"message":"another run holds the migration lock"},"exit_code":5,)"
            R"("migrations":[],"ok":false})");
}

}  // namespace
}  // namespace migrator_test
