// The migrations directory format: parsing, validation errors, checksums.
#include "migrator/source/source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "migrator/error.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;

// The message of the Error(kInvalidMigrations) that loading `dir` throws; fails the test otherwise.
std::string load_error(const std::filesystem::path& dir) {
  try {
    migrator::load_migrations(dir);
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    return e.what();
  }
  ADD_FAILURE() << "load_migrations(" << dir << ") succeeded";
  return "";
}

TEST(Checksum, IsSha256OfUpThenNulThenDown) {
  // Expected values from `printf 'a\0b' | sha256sum` and `printf '\0' | sha256sum`.
  EXPECT_EQ(migrator::checksum("a", "b"), "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
  EXPECT_EQ(migrator::checksum("", ""), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_NE(migrator::checksum("ab", ""), migrator::checksum("a", "b"));
}

TEST(LoadMigrations, ReadsDirectoriesSortedNumericallyAndIgnoresPlainFiles) {
  MigrationsDir dir;
  dir.add("20240101120000_add_email", "ALTER TABLE users ADD email text;", "ALTER TABLE users DROP email;");
  dir.add("0001_create_users", "CREATE TABLE users ();", "DROP TABLE users;");
  dir.add("2_second-step", "SELECT 2;", "SELECT -2;");
  write_file(dir.path() / "README.md", "not a migration\n");

  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir.path());
  ASSERT_EQ(migrations.size(), 3u);
  EXPECT_EQ(migrations[0].version, 1u);
  EXPECT_EQ(migrations[0].name, "create_users");
  EXPECT_EQ(migrations[0].label(), "0001_create_users");
  EXPECT_EQ(migrations[0].up_sql, "CREATE TABLE users ();");
  EXPECT_EQ(migrations[0].down_sql, "DROP TABLE users;");
  EXPECT_EQ(migrations[0].checksum, migrator::checksum("CREATE TABLE users ();", "DROP TABLE users;"));
  EXPECT_EQ(migrations[0].up_path(), dir.path() / "0001_create_users" / "up.sql");
  EXPECT_EQ(migrations[1].version, 2u);
  EXPECT_EQ(migrations[1].name, "second-step");
  EXPECT_EQ(migrations[2].version, 20240101120000u);
  EXPECT_EQ(migrations[2].name, "add_email");
}

TEST(LoadMigrations, WarnsForSqlFilesInOtherToolsLayouts) {
  MigrationsDir dir;
  dir.add("0001_real", "SELECT 1;", "SELECT 1;");
  for (const char* name : {"1_init.up.sql", "1_init.down.sql", "20240101120000_create_users.sql", "0002_b.up.sql",
                           "V3__add_email.sql", "notes.sql", "README.md"}) {
    write_file(dir.path() / name, "SELECT 1;\n");
  }
  std::vector<std::string> warnings;
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir.path(), &warnings);
  ASSERT_EQ(migrations.size(), 1u);
  const std::string reads = "; migrator reads " + (dir.path() / "<version>_<name>").string() + "/up.sql and down.sql";
  auto ignored = [&](const std::string& name, const std::string& layout) {
    return "ignored " + (dir.path() / name).string() + ": it looks like " + layout + reads;
  };
  const std::string golang = "a golang-migrate migration (<version>_<name>.up.sql and .down.sql)";
  EXPECT_THAT(warnings, ::testing::ElementsAre(
                            ignored("0002_b.up.sql", golang), ignored("1_init.down.sql", golang),
                            ignored("1_init.up.sql", golang),
                            ignored("20240101120000_create_users.sql",
                                    "a dbmate migration (<version>_<name>.sql with -- migrate:up and -- migrate:down)"),
                            ignored("V3__add_email.sql", "a Flyway migration (V<version>__<name>.sql)"),
                            ignored("notes.sql", "a migration file outside a migration directory")));
}

TEST(LoadMigrations, EmptyDirectoryHasNoMigrations) {
  MigrationsDir dir;
  EXPECT_TRUE(migrator::load_migrations(dir.path()).empty());
}

TEST(LoadMigrations, NonexistentDirectoryIsAnError) {
  MigrationsDir dir;
  EXPECT_THAT(load_error(dir.path() / "nope"), HasSubstr("nope does not exist"));
}

TEST(LoadMigrations, BadDirectoryNamesAreErrors) {
  for (const char* bad : {"create_users", "0001", "0001_", "0001-create", "0001_create users", "v1_x", "0001_a.b"}) {
    MigrationsDir dir;
    dir.add("0001_fine", "SELECT 1;", "SELECT 1;");
    std::filesystem::create_directories(dir.path() / bad);
    std::string message = load_error(dir.path());
    EXPECT_THAT(message, HasSubstr((dir.path() / bad).string())) << bad;
    EXPECT_THAT(message, HasSubstr("<version>_<name>")) << bad;
  }
}

TEST(LoadMigrations, VersionBeyondBigintIsAnError) {
  MigrationsDir dir;
  dir.add("9223372036854775807_max", "SELECT 1;", "SELECT 1;");
  EXPECT_EQ(migrator::load_migrations(dir.path()).at(0).version, 9223372036854775807u);
  dir.add("9223372036854775808_too_big", "SELECT 1;", "SELECT 1;");
  EXPECT_THAT(load_error(dir.path()), HasSubstr("9223372036854775808_too_big: version is larger than"));
}

TEST(LoadMigrations, DuplicateVersionNamesBothDirectories) {
  MigrationsDir dir;
  dir.add("0002_one", "SELECT 1;", "SELECT 1;");
  dir.add("2_other", "SELECT 1;", "SELECT 1;");
  std::string message = load_error(dir.path());
  EXPECT_THAT(message, HasSubstr("duplicate migration version 2"));
  EXPECT_THAT(message, HasSubstr((dir.path() / "0002_one").string()));
  EXPECT_THAT(message, HasSubstr((dir.path() / "2_other").string()));
}

TEST(LoadMigrations, MissingUpOrDownNamesTheMissingPath) {
  for (const char* missing : {"up.sql", "down.sql"}) {
    MigrationsDir dir;
    dir.add("0001_first", "SELECT 1;", "SELECT 1;");
    std::filesystem::remove(dir.path() / "0001_first" / missing);
    EXPECT_THAT(load_error(dir.path()),
                HasSubstr("missing migration file " + (dir.path() / "0001_first" / missing).string()));
  }
}

// A directory where a script should be is not a file to read: reported as the missing file.
TEST(LoadMigrations, UpOrDownThatIsADirectoryIsReportedMissing) {
  for (const char* script : {"up.sql", "down.sql"}) {
    MigrationsDir dir;
    dir.add("0001_first", "SELECT 1;", "SELECT 1;");
    std::filesystem::path path = dir.path() / "0001_first" / script;
    std::filesystem::remove(path);
    std::filesystem::create_directory(path);
    EXPECT_THAT(load_error(dir.path()), HasSubstr("missing migration file " + path.string()));
  }
}

// The files are read whole, whatever their size, and hashed as up.sql, a NUL byte, then down.sql.
TEST(LoadMigrations, ReadsLargeScriptsWholeIntoTheChecksum) {
  MigrationsDir dir;
  std::string up = "-- " + std::string(200000, 'x') + "\nSELECT 1;\n";
  std::string down = "SELECT 2;\n-- " + std::string(70000, 'y') + "\n";
  dir.add("0001_large", up, down);
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir.path());
  ASSERT_EQ(migrations.size(), 1u);
  EXPECT_EQ(migrations[0].up_sql, up);
  EXPECT_EQ(migrations[0].down_sql, down);
  EXPECT_EQ(migrations[0].checksum, migrator::checksum(up, down));
  EXPECT_NE(migrations[0].checksum, migrator::checksum(up + down, ""));
}

TEST(HeaderOptions, AreReadFromLeadingCommentLinesOnly) {
  migrator::MigrationOptions options = migrator::parse_header_options(
      "-- Adds the audit table.\n\n--migrator: irreversible\nCREATE TABLE t (id int);\n", "up.sql");
  EXPECT_TRUE(options.irreversible);
  EXPECT_FALSE(options.empty_down);
  options = migrator::parse_header_options("  -- migrator:  empty-down \nSELECT 1;\n", "up.sql");
  EXPECT_TRUE(options.empty_down);
  // After the first statement, a comment is only a comment.
  options = migrator::parse_header_options("SELECT 1;\n-- migrator: irreversible\n", "up.sql");
  EXPECT_FALSE(options.irreversible);
}

TEST(HeaderOptions, UnknownOptionNamesFileLineAndTheKnownOnes) {
  try {
    migrator::parse_header_options("-- a comment\n-- migrator: irreversible, no-such-thing\nSELECT 1;\n", "x/up.sql");
    ADD_FAILURE() << "accepted an unknown option";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    EXPECT_STREQ(e.what(),
                 "x/up.sql:2: unknown migrator option 'no-such-thing'; known options: irreversible, empty-down, "
                 "no-transaction, lock-timeout=DURATION, statement-timeout=DURATION, lint-allow=RULE");
  }
}

TEST(Durations, AcceptMillisecondsSecondsAndMinutesUpToADay) {
  EXPECT_EQ(migrator::parse_duration_ms("0s"), 0);
  EXPECT_EQ(migrator::parse_duration_ms("500ms"), 500);
  EXPECT_EQ(migrator::parse_duration_ms("5s"), 5000);
  EXPECT_EQ(migrator::parse_duration_ms("2min"), 120000);
  EXPECT_EQ(migrator::parse_duration_ms("1440min"), 86400000);
  for (const char* bad : {"", "5", "s", "-1s", "1.5s", "5 s", "5sec", "1441min", "86400001ms", "9999999999s"}) {
    EXPECT_EQ(migrator::parse_duration_ms(bad), std::nullopt) << bad;
  }
}

TEST(HeaderOptions, TimeoutsAreDurations) {
  migrator::MigrationOptions options =
      migrator::parse_header_options("-- migrator: lock-timeout=250ms, statement-timeout=2min\nSELECT 1;\n", "up.sql");
  EXPECT_EQ(options.lock_timeout_ms, 250);
  EXPECT_EQ(options.statement_timeout_ms, 120000);
  EXPECT_EQ(migrator::parse_header_options("SELECT 1;\n", "up.sql").lock_timeout_ms, std::nullopt);
  try {
    migrator::parse_header_options("\n-- migrator: lock-timeout=5\n", "x/up.sql");
    ADD_FAILURE() << "accepted a duration without a unit";
  } catch (const migrator::Error& e) {
    EXPECT_STREQ(e.what(),
                 "x/up.sql:2: lock-timeout expects a duration such as lock-timeout=500ms, =5s or =2min, at "
                 "most a day; got 'lock-timeout=5'");
  }
}

TEST(LoadMigrations, EmptyDownIsAnErrorUnlessDeclared) {
  MigrationsDir dir;
  dir.add("0001_first", "CREATE TABLE t1 (id integer);\n", "-- nothing\n\n/* really */\n");
  EXPECT_THAT(load_error(dir.path()),
              HasSubstr((dir.path() / "0001_first" / "down.sql").string() + ": down.sql has no statement"));
  write_file(dir.path() / "0001_first" / "up.sql", "-- migrator: empty-down\nCREATE TABLE t1 (id integer);\n");
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir.path());
  ASSERT_EQ(migrations.size(), 1u);
  EXPECT_TRUE(migrations[0].options.empty_down);
  write_file(dir.path() / "0001_first" / "down.sql", "DROP TABLE t1;\n");
  EXPECT_THAT(load_error(dir.path()), HasSubstr("declares empty-down in its up.sql, but down.sql has statements"));
}

TEST(LoadMigrations, VerifySqlIsOptionalAndMustHaveAStatement) {
  MigrationsDir dir;
  dir.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  dir.add("0002_second", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
  write_file(dir.path() / "0002_second" / "verify.sql", "SELECT id FROM t2;\n");
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir.path());
  ASSERT_EQ(migrations.size(), 2u);
  EXPECT_EQ(migrations[0].verify_sql, "");
  EXPECT_EQ(migrations[1].verify_sql, "SELECT id FROM t2;\n");
  EXPECT_EQ(migrations[1].verify_path(), dir.path() / "0002_second" / "verify.sql");

  write_file(dir.path() / "0002_second" / "verify.sql", "-- nothing yet\n\n");
  std::string error = load_error(dir.path());
  EXPECT_THAT(error, HasSubstr((dir.path() / "0002_second" / "verify.sql").string() + ": verify.sql has no statement"));
}

TEST(LoadMigrations, IrreversibleMigrationHasNoDownSql) {
  MigrationsDir dir;
  dir.add("0001_first", "-- migrator: irreversible\nDROP TABLE legacy;\n", "CREATE TABLE legacy ();\n");
  EXPECT_THAT(load_error(dir.path()), HasSubstr("declared irreversible in its up.sql, so it must have no down.sql"));
  std::filesystem::remove(dir.path() / "0001_first" / "down.sql");
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir.path());
  ASSERT_EQ(migrations.size(), 1u);
  EXPECT_TRUE(migrations[0].options.irreversible);
  EXPECT_EQ(migrations[0].down_sql, "");
  EXPECT_EQ(migrations[0].checksum, migrator::checksum(migrations[0].up_sql, ""));
}

TEST(LoadMigrations, ExampleMigrationsAreValid) {
  std::vector<migrator::Migration> examples = migrator::load_migrations(MIGRATOR_EXAMPLES_DIR);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples[0].label(), "0001_create_accounts");
  EXPECT_EQ(examples[1].label(), "0002_add_accounts_plan");
}

}  // namespace
}  // namespace migrator_test

namespace migrator_test {
namespace {

TEST(HeaderOptions, NoTransaction) {
  EXPECT_TRUE(migrator::parse_header_options("-- migrator: no-transaction\nVACUUM;\n", "up.sql").no_transaction);
  EXPECT_FALSE(migrator::parse_header_options("VACUUM;\n", "up.sql").no_transaction);
}

}  // namespace
}  // namespace migrator_test
