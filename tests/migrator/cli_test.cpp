// The migrator executable: help, exit codes and messages, run as a user would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  for (const char* command : {"status", "up", "down"}) {
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
  CommandResult result = migrator_cli({"--database-url", url, "--dir", migrations.path().string(), "status"});
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
  EXPECT_THAT(status.out, MatchesRegex("0001  first   applied [0-9T:Z-]+\n0002  second  pending\n"));
  CommandResult down = with({"down"});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, MatchesRegex("reverted 0001_first \\([0-9]+ ms\\)\n"));
  CommandResult again = with({"down"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "nothing to revert\n");
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
