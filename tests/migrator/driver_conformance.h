// The driver conformance suite: the behaviour every driver must show through the engine. A backend
// file instantiates it with a Backend class providing:
//   static std::unique_ptr<Backend> create(std::string* problem);  // a fresh, empty database (it exists)
//   std::string url() const;                                       // its database URL
//   std::optional<int64_t> count_rows(const std::string& table);   // nullopt: no such table
//   static constexpr const char* kStateTable;
// and INSTANTIATE_TYPED_TEST_SUITE_P(<Name>, DriverConformance, Backend).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "migrator/drivers/database_url.h"
#include "migrator/engine/engine.h"
#include "migrator/error.h"
#include "migrator/source/source.h"
#include "migrator/test_support.h"
#include "migrator/version.h"

namespace migrator_test {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// What one migrator run did: its progress output and, if it failed, the exit code and message.
struct Outcome {
  std::string out;
  int exit_code = 0;
  std::string error;
};

template <class Backend>
class DriverConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string problem;
    backend_ = Backend::create(&problem);
    ASSERT_TRUE(backend_ != nullptr) << problem;
  }

  // Each call is a separate run with its own connection, like separate CLI invocations.
  template <class Action>
  Outcome run(Action action) {
    Outcome result;
    std::ostringstream out;
    try {
      migrator::DriverOptions options;
      options.create_database = true;
      std::unique_ptr<migrator::Driver> driver =
          migrator::open_driver(migrator::parse_database_url(backend_->url()), options);
      migrator::Engine engine(*driver, migrator::load_migrations(migrations_.path()), out);
      action(engine);
    } catch (const migrator::Error& e) {
      result.exit_code = e.exit_code();
      result.error = e.what();
    }
    result.out = out.str();
    return result;
  }
  Outcome up(std::optional<uint64_t> to = std::nullopt, bool allow_out_of_order = false) {
    return run([&](migrator::Engine& engine) { engine.up(to, allow_out_of_order); });
  }
  Outcome down_steps(uint64_t steps) {
    return run([&](migrator::Engine& engine) { engine.down_steps(steps); });
  }
  Outcome down_to(uint64_t version) {
    return run([&](migrator::Engine& engine) { engine.down_to(version); });
  }
  std::vector<migrator::MigrationStatus> status() {
    std::vector<migrator::MigrationStatus> statuses;
    Outcome result = run([&](migrator::Engine& engine) { statuses = engine.status(); });
    EXPECT_EQ(result.exit_code, 0) << result.error;
    return statuses;
  }
  // "<version_text>_<name> <state>" per migration, e.g. "0001_first applied".
  std::vector<std::string> states() {
    std::vector<std::string> lines;
    for (const migrator::MigrationStatus& s : status()) {
      std::string state = describe_state(s);
      lines.push_back(s.version_text + "_" + s.name + " " + state.substr(0, state.find(' ')));
    }
    return lines;
  }
  // "<action> <version> <outcome>" per history row, oldest first.
  std::vector<std::string> history() {
    std::unique_ptr<migrator::Driver> driver =
        migrator::open_driver(migrator::parse_database_url(backend_->url()), migrator::DriverOptions{});
    std::vector<std::string> lines;
    for (const migrator::HistoryEntry& entry : driver->history()) {
      lines.push_back(entry.action + " " + std::to_string(entry.version) + " " + entry.outcome);
    }
    return lines;
  }
  std::vector<migrator::AppliedMigration> applied() {
    std::unique_ptr<migrator::Driver> driver =
        migrator::open_driver(migrator::parse_database_url(backend_->url()), migrator::DriverOptions{});
    return driver->applied();
  }

  // Three migrations creating t1, filling it, and creating t2.
  void add_three() {
    migrations_.add("0001_first", "CREATE TABLE t1 (id integer PRIMARY KEY);\n", "DROP TABLE t1;\n");
    migrations_.add("0002_second", "INSERT INTO t1 (id) VALUES (1);\nINSERT INTO t1 (id) VALUES (2);\n",
                    "DELETE FROM t1;\n");
    migrations_.add("0003_third", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
  }

  std::unique_ptr<Backend> backend_;
  MigrationsDir migrations_;
};

TYPED_TEST_SUITE_P(DriverConformance);

TYPED_TEST_P(DriverConformance, FreshDatabaseIsAllPendingAndStatusCreatesNothing) {
  this->add_three();
  EXPECT_THAT(this->states(), ElementsAre("0001_first pending", "0002_second pending", "0003_third pending"));
  EXPECT_EQ(this->backend_->count_rows(TypeParam::kStateTable), std::nullopt);
}

TYPED_TEST_P(DriverConformance, UpAppliesInNumericVersionOrderAndRecordsState) {
  this->migrations_.add("10_ten", "INSERT INTO t1 (id) VALUES (10);\n", "DELETE FROM t1 WHERE id = 10;\n");
  this->migrations_.add("9_nine", "INSERT INTO t1 (id) VALUES (9);\n", "DELETE FROM t1 WHERE id = 9;\n");
  this->migrations_.add("0001_first", "CREATE TABLE t1 (id integer PRIMARY KEY);\n", "DROP TABLE t1;\n");
  Outcome result = this->up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("applied 0001_first \\([0-9]+ ms\\)\n"
                                       "applied 9_nine \\([0-9]+ ms\\)\n"
                                       "applied 10_ten \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t1"), 2);

  std::vector<migrator::Migration> on_disk = migrator::load_migrations(this->migrations_.path());
  std::vector<migrator::AppliedMigration> rows = this->applied();
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].version, on_disk[i].version);
    EXPECT_EQ(rows[i].name, on_disk[i].name);
    EXPECT_EQ(rows[i].checksum, on_disk[i].checksum);
    EXPECT_THAT(rows[i].applied_at, MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
    EXPECT_FALSE(rows[i].applied_by.empty());
    EXPECT_GE(rows[i].execution_ms, 0);
  }
  EXPECT_EQ(rows[1].version, 9u);
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "9_nine applied", "10_ten applied"));
}

TYPED_TEST_P(DriverConformance, UpWithNothingPendingSaysSo) {
  this->add_three();
  ASSERT_EQ(this->up().exit_code, 0);
  Outcome again = this->up();
  EXPECT_EQ(again.exit_code, 0) << again.error;
  EXPECT_EQ(again.out, "nothing to apply\n");
  EXPECT_EQ(this->backend_->count_rows("t1"), 2);  // 0002 did not run twice
}

TYPED_TEST_P(DriverConformance, UpToStopsAtThatVersion) {
  this->add_three();
  Outcome result = this->up(2);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_second applied", "0003_third pending"));
  EXPECT_EQ(this->backend_->count_rows("t2"), std::nullopt);
  result = this->up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("applied 0003_third \\([0-9]+ ms\\)\n"));
}

TYPED_TEST_P(DriverConformance, DownRevertsTheNewestByDefault) {
  this->add_three();
  ASSERT_EQ(this->up().exit_code, 0);
  Outcome result = this->down_steps(1);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("reverted 0003_third \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t2"), std::nullopt);
  EXPECT_EQ(this->backend_->count_rows("t1"), 2);
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_second applied", "0003_third pending"));
}

TYPED_TEST_P(DriverConformance, DownStepsAndDownToRevertNewestFirst) {
  this->add_three();
  ASSERT_EQ(this->up().exit_code, 0);
  Outcome result = this->down_steps(2);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("reverted 0003_third \\([0-9]+ ms\\)\nreverted 0002_second \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t1"), 0);

  ASSERT_EQ(this->up().exit_code, 0);
  result = this->down_to(1);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("reverted 0003_third \\([0-9]+ ms\\)\nreverted 0002_second \\([0-9]+ ms\\)\n"));
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_second pending", "0003_third pending"));

  result = this->down_to(0);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("reverted 0001_first \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t1"), std::nullopt);
  EXPECT_TRUE(this->applied().empty());
}

TYPED_TEST_P(DriverConformance, DownWithNothingAppliedSaysSo) {
  this->add_three();
  Outcome result = this->down_steps(1);
  EXPECT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(result.out, "nothing to revert\n");
}

TYPED_TEST_P(DriverConformance, RevertedMigrationsCanBeReapplied) {
  this->add_three();
  ASSERT_EQ(this->up().exit_code, 0);
  ASSERT_EQ(this->down_to(0).exit_code, 0);
  Outcome result = this->up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(this->backend_->count_rows("t1"), 2);
  EXPECT_EQ(this->backend_->count_rows("t2"), 0);
  EXPECT_EQ(this->applied().size(), 3u);
}

TYPED_TEST_P(DriverConformance, FailingMigrationIsRolledBackAndNamesFileAndLine) {
  this->migrations_.add("0001_first", "CREATE TABLE t1 (id integer PRIMARY KEY);\n", "DROP TABLE t1;\n");
  this->migrations_.add("0002_broken",
                        "CREATE TABLE t2 (id integer);\n"
                        "INSERT INTO t2 (id) VALUES (1);\n"
                        "\n"
                        "-- the next statement fails\n"
                        "SELECT nope FROM t2;\n",
                        "DROP TABLE t2;\n");
  this->migrations_.add("0003_third", "CREATE TABLE t3 (id integer);\n", "DROP TABLE t3;\n");
  Outcome result = this->up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr((this->migrations_.path() / "0002_broken" / "up.sql").string() + ":5: "));
  EXPECT_THAT(result.error, HasSubstr("nope"));
  EXPECT_THAT(result.out, MatchesRegex("applied 0001_first \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t1"), 0);             // earlier migration stays
  EXPECT_EQ(this->backend_->count_rows("t2"), std::nullopt);  // first statement left no trace
  EXPECT_EQ(this->backend_->count_rows("t3"), std::nullopt);  // later migrations never ran
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_broken pending", "0003_third pending"));
}

TYPED_TEST_P(DriverConformance, ErrorInsideMultiLineStatementNamesItsLine) {
  this->migrations_.add("0001_first",
                        "CREATE TABLE t1 (id integer);\n"
                        "SELECT\n"
                        "  id,\n"
                        "  nope\n"
                        "FROM t1;\n",
                        "DROP TABLE t1;\n");
  Outcome result = this->up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("0001_first/up.sql:4: "));
  EXPECT_EQ(this->backend_->count_rows("t1"), std::nullopt);
}

TYPED_TEST_P(DriverConformance, SyntaxErrorNamesLineAndRunsNothing) {
  this->migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n\nCREAT TABLE t2 (id integer);\n",
                        "DROP TABLE t1;\n");
  Outcome result = this->up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("0001_first/up.sql:3: "));
  EXPECT_THAT(result.error, HasSubstr("syntax error"));
  EXPECT_EQ(this->backend_->count_rows("t1"), std::nullopt);
  EXPECT_THAT(this->states(), ElementsAre("0001_first pending"));
}

TYPED_TEST_P(DriverConformance, FailingDownKeepsMigrationApplied) {
  this->migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\nSELECT nope FROM t1;\n");
  ASSERT_EQ(this->up().exit_code, 0);
  Outcome result = this->down_steps(1);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("0001_first/down.sql:2: "));
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(this->backend_->count_rows("t1"), 0);  // DROP TABLE rolled back
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied"));
}

TYPED_TEST_P(DriverConformance, ChecksumDriftIsReportedAndRefused) {
  this->add_three();
  ASSERT_EQ(this->up(1).exit_code, 0);
  write_file(this->migrations_.path() / "0001_first" / "up.sql", "CREATE TABLE t1 (id bigint PRIMARY KEY);\n");
  EXPECT_THAT(this->states(), ElementsAre("0001_first changed", "0002_second pending", "0003_third pending"));

  Outcome result = this->up();
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("0001_first is changed: its up.sql/down.sql differ from when it was applied; "
                                      "restore the applied files"));
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(this->backend_->count_rows("t1"), 0);  // 0002 was not applied
  EXPECT_EQ(this->down_steps(1).exit_code, 3);
  EXPECT_EQ(this->backend_->count_rows("t1"), 0);  // 0001 was not reverted
}

TYPED_TEST_P(DriverConformance, MissingMigrationIsReportedAndRefused) {
  this->add_three();
  ASSERT_EQ(this->up(2).exit_code, 0);
  this->migrations_.remove("0002_second");
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_second missing", "0003_third pending"));
  Outcome result = this->up();
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("0002_second is missing: applied, but its directory is not in the migrations "
                                      "directory; restore it (e.g. from git)"));
  EXPECT_EQ(this->backend_->count_rows("t2"), std::nullopt);
  EXPECT_EQ(this->down_steps(1).exit_code, 3);
  EXPECT_EQ(this->backend_->count_rows("t1"), 2);
}

TYPED_TEST_P(DriverConformance, InvalidDirectoryIsRejectedBeforeRunning) {
  this->add_three();
  this->migrations_.add("0004_fourth", "CREATE TABLE t4 (id integer);\n", "DROP TABLE t4;\n");
  std::filesystem::remove(this->migrations_.path() / "0004_fourth" / "down.sql");
  Outcome result = this->up();
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr((this->migrations_.path() / "0004_fourth" / "down.sql").string()));
  EXPECT_EQ(this->backend_->count_rows("t1"), std::nullopt);
}

TYPED_TEST_P(DriverConformance, IrreversibleMigrationIsNeverReverted) {
  this->migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  this->migrations_.add("0002_final", "-- migrator: irreversible\nINSERT INTO t1 (id) VALUES (1);\n", "");
  std::filesystem::remove(this->migrations_.path() / "0002_final" / "down.sql");
  ASSERT_EQ(this->up().exit_code, 0);
  Outcome result = this->down_to(0);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("refusing to revert 0002_final: its up.sql declares it irreversible"));
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(this->backend_->count_rows("t1"), 1);
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_final applied"));
}

TYPED_TEST_P(DriverConformance, EmptyDownOnlyRemovesTheRecord) {
  this->migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  this->migrations_.add("0002_noop", "-- migrator: empty-down\nINSERT INTO t1 (id) VALUES (1);\n", "-- keep the row\n");
  ASSERT_EQ(this->up().exit_code, 0);
  Outcome result = this->down_steps(1);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("reverted 0002_noop \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t1"), 1);
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_noop pending"));
}

TYPED_TEST_P(DriverConformance, PrintStatusListsEverythingThenFailsOnDrift) {
  this->add_three();
  ASSERT_EQ(this->up(2).exit_code, 0);
  Outcome clean = this->run([](migrator::Engine& engine) { engine.print_status(); });
  EXPECT_EQ(clean.exit_code, 0) << clean.error;
  write_file(this->migrations_.path() / "0001_first" / "down.sql", "DROP TABLE t1 CASCADE;\n");
  this->migrations_.remove("0002_second");
  Outcome drift = this->run([](migrator::Engine& engine) { engine.print_status(); });
  EXPECT_EQ(drift.exit_code, 3);
  EXPECT_THAT(drift.out, MatchesRegex("0001  first   changed \\(applied [^)]*\\)\n"
                                      "0002  second  missing \\(applied [^)]*\\)\n"
                                      "0003  third   pending\n"));
  EXPECT_THAT(drift.error, HasSubstr("applied migrations differ from the files on disk:\n  0001_first is changed"));
  EXPECT_THAT(drift.error, HasSubstr("\n  0002_second is missing"));
}

TYPED_TEST_P(DriverConformance, HistoryRecordsEveryAttemptWithOutcomeAndVersion) {
  this->add_three();
  this->migrations_.add("0004_broken", "CREATE TABLE t4 (id integer);\nSELECT nope FROM t4;\n", "DROP TABLE t4;\n");
  EXPECT_EQ(this->up().exit_code, 1);
  ASSERT_EQ(this->down_steps(2).exit_code, 0);
  EXPECT_THAT(this->history(), ElementsAre("up 1 applied", "up 2 applied", "up 3 applied", "up 4 failed",
                                           "down 3 reverted", "down 2 reverted"));
  std::unique_ptr<migrator::Driver> driver =
      migrator::open_driver(migrator::parse_database_url(this->backend_->url()), migrator::DriverOptions{});
  std::vector<migrator::HistoryEntry> entries = driver->history();
  ASSERT_EQ(entries.size(), 6u);
  for (const migrator::HistoryEntry& entry : entries) {
    EXPECT_EQ(entry.migrator_version, migrator::kMigratorVersion);
    EXPECT_FALSE(entry.by.empty());
    EXPECT_THAT(entry.at, MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
    EXPECT_GE(entry.duration_ms, 0);
  }
  EXPECT_EQ(entries[3].name, "broken");
  EXPECT_THAT(entries[3].detail, HasSubstr("0004_broken/up.sql:2: ERROR: "));
  EXPECT_EQ(entries[0].detail, "");
}

TYPED_TEST_P(DriverConformance, OutOfOrderMigrationIsRefusedUnlessAllowed) {
  this->migrations_.add("0001_first", "CREATE TABLE t1 (id integer PRIMARY KEY);\n", "DROP TABLE t1;\n");
  this->migrations_.add("0003_third", "CREATE TABLE t3 (id integer);\n", "DROP TABLE t3;\n");
  ASSERT_EQ(this->up().exit_code, 0);
  this->migrations_.add("0002_second", "INSERT INTO t1 (id) VALUES (2);\n", "DELETE FROM t1 WHERE id = 2;\n");
  this->migrations_.add("0004_fourth", "CREATE TABLE t4 (id integer);\n", "DROP TABLE t4;\n");
  Outcome refused = this->up();
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_THAT(refused.error, HasSubstr("refusing to apply migrations out of order, nothing was applied:\n  0002_second "
                                       "is pending, but 0003_third (a higher version) is already applied"));
  EXPECT_THAT(refused.error, HasSubstr("--allow-out-of-order"));
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(this->backend_->count_rows("t1"), 0);
  EXPECT_EQ(this->backend_->count_rows("t4"), std::nullopt);  // not even the in-order one ran

  Outcome allowed = this->up(std::nullopt, /*allow_out_of_order=*/true);
  ASSERT_EQ(allowed.exit_code, 0) << allowed.error;
  EXPECT_THAT(allowed.out, MatchesRegex("applied 0002_second \\([0-9]+ ms\\)\napplied 0004_fourth \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t1"), 1);
}

TYPED_TEST_P(DriverConformance, RedoRevertsAndReappliesTheLatest) {
  Outcome nothing = this->run([](migrator::Engine& engine) { EXPECT_FALSE(engine.redo()); });
  EXPECT_EQ(nothing.out, "nothing to redo\n");
  this->add_three();
  ASSERT_EQ(this->up(2).exit_code, 0);
  Outcome result = this->run([](migrator::Engine& engine) { EXPECT_TRUE(engine.redo()); });
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("reverted 0002_second \\([0-9]+ ms\\)\napplied 0002_second \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t1"), 2);  // down.sql deleted both rows, up.sql inserted them again
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_second applied", "0003_third pending"));
  EXPECT_THAT(this->history(), ElementsAre("up 1 applied", "up 2 applied", "down 2 reverted", "up 2 applied"));
}

TYPED_TEST_P(DriverConformance, BaselineRecordsVersionsUpToItWithoutRunningThem) {
  this->add_three();
  Outcome result = this->run([](migrator::Engine& engine) { EXPECT_EQ(engine.baseline(2), 2); });
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(result.out, "baselined 0001_first (not run)\nbaselined 0002_second (not run)\n");
  EXPECT_EQ(this->backend_->count_rows("t1"), std::nullopt);  // 0001's CREATE TABLE never ran
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_second applied", "0003_third pending"));
  EXPECT_THAT(this->history(), ElementsAre("baseline 1 applied", "baseline 2 applied"));
  std::vector<migrator::Migration> on_disk = migrator::load_migrations(this->migrations_.path());
  std::vector<migrator::AppliedMigration> rows = this->applied();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].checksum, on_disk[0].checksum);
  EXPECT_EQ(rows[1].checksum, on_disk[1].checksum);
  EXPECT_EQ(rows[1].directory, "0002_second");
  EXPECT_EQ(rows[1].execution_ms, 0);

  Outcome later = this->up();  // only the migration above the baseline runs
  ASSERT_EQ(later.exit_code, 0) << later.error;
  EXPECT_THAT(later.out, MatchesRegex("applied 0003_third \\([0-9]+ ms\\)\n"));
  EXPECT_EQ(this->backend_->count_rows("t2"), 0);
  EXPECT_EQ(this->backend_->count_rows("t1"), std::nullopt);
}

TYPED_TEST_P(DriverConformance, BaselineRefusesWhenAMigrationIsApplied) {
  this->add_three();
  ASSERT_EQ(this->up(1).exit_code, 0);
  Outcome refused = this->run([](migrator::Engine& engine) { engine.baseline(3); });
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_THAT(refused.error, HasSubstr("refusing to baseline, nothing was changed: 1 migration(s) already applied "
                                       "(0001_first first)"));
  EXPECT_EQ(refused.out, "");
  EXPECT_THAT(this->states(), ElementsAre("0001_first applied", "0002_second pending", "0003_third pending"));
  EXPECT_THAT(this->history(), ElementsAre("up 1 applied"));
}

TYPED_TEST_P(DriverConformance, BaselineRefusesAVersionNotOnDisk) {
  this->add_three();
  for (uint64_t version : {0u, 4u}) {
    Outcome refused = this->run([&](migrator::Engine& engine) { engine.baseline(version); });
    EXPECT_EQ(refused.exit_code, 3);
    EXPECT_THAT(refused.error, HasSubstr("refusing to baseline, nothing was changed: no migration with version " +
                                         std::to_string(version) + " in the migrations directory"));
  }
  EXPECT_TRUE(this->applied().empty());
  EXPECT_TRUE(this->history().empty());
}

TYPED_TEST_P(DriverConformance, VerifyRunsEachAppliedVerifySqlAndRollsItBack) {
  this->add_three();
  Outcome nothing = this->run([](migrator::Engine& engine) { EXPECT_EQ(engine.verify(), 0); });
  ASSERT_EQ(nothing.exit_code, 0) << nothing.error;
  EXPECT_EQ(nothing.out, "nothing applied to verify\n");
  // Writes to t1 to show the transaction is rolled back; 0003 stays pending, so its verify.sql never runs.
  write_file(this->migrations_.path() / "0001_first" / "verify.sql",
             "INSERT INTO t1 (id) VALUES (42);\nSELECT id FROM t1 WHERE id = 42;\n");
  write_file(this->migrations_.path() / "0003_third" / "verify.sql", "SELECT nope FROM t2;\n");
  ASSERT_EQ(this->up(2).exit_code, 0);
  Outcome result = this->run([](migrator::Engine& engine) { EXPECT_EQ(engine.verify(), 1); });
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(result.out,
            "verified 0001_first: checksum ok, verify.sql ok\nverified 0002_second: checksum ok, no verify.sql\n");
  EXPECT_EQ(this->backend_->count_rows("t1"), 2);  // the INSERT of verify.sql did not stay
  EXPECT_THAT(this->history(), ElementsAre("up 1 applied", "up 2 applied"));
}

TYPED_TEST_P(DriverConformance, VerifyFailureNamesFileAndLine) {
  this->add_three();
  write_file(this->migrations_.path() / "0002_second" / "verify.sql",
             "SELECT id FROM t1;\nSELECT id\n  FROM no_such_table;\n");
  ASSERT_EQ(this->up().exit_code, 0);
  Outcome result = this->run([](migrator::Engine& engine) { engine.verify(); });
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("verify.sql failed (rolled back, nothing was changed):\n  "));
  EXPECT_THAT(result.error, HasSubstr("0002_second/verify.sql:"));
  EXPECT_THAT(result.error, HasSubstr("no_such_table"));
  EXPECT_EQ(result.out,
            "verified 0001_first: checksum ok, no verify.sql\nFAILED 0002_second: checksum ok, verify.sql failed\n"
            "verified 0003_third: checksum ok, no verify.sql\n");
}

TYPED_TEST_P(DriverConformance, VerifyReportsChangedAndMissingAndRunsNothing) {
  this->add_three();
  ASSERT_EQ(this->up().exit_code, 0);
  write_file(this->migrations_.path() / "0001_first" / "up.sql", "CREATE TABLE t1 (id bigint PRIMARY KEY);\n");
  write_file(this->migrations_.path() / "0003_third" / "verify.sql", "SELECT id FROM t2;\n");
  this->migrations_.remove("0002_second");
  Outcome result = this->run([](migrator::Engine& engine) { engine.verify(); });
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("applied migrations differ from the files on disk:\n  0001_first is changed"));
  EXPECT_THAT(result.error, HasSubstr("\n  0002_second is missing"));
  EXPECT_EQ(result.out, "");  // no verify.sql ran
}

REGISTER_TYPED_TEST_SUITE_P(DriverConformance, VerifyRunsEachAppliedVerifySqlAndRollsItBack,
                            VerifyFailureNamesFileAndLine, VerifyReportsChangedAndMissingAndRunsNothing,
                            BaselineRecordsVersionsUpToItWithoutRunningThem, BaselineRefusesWhenAMigrationIsApplied,
                            BaselineRefusesAVersionNotOnDisk, RedoRevertsAndReappliesTheLatest,
                            OutOfOrderMigrationIsRefusedUnlessAllowed, HistoryRecordsEveryAttemptWithOutcomeAndVersion,
                            PrintStatusListsEverythingThenFailsOnDrift, IrreversibleMigrationIsNeverReverted,
                            EmptyDownOnlyRemovesTheRecord, FreshDatabaseIsAllPendingAndStatusCreatesNothing,
                            UpAppliesInNumericVersionOrderAndRecordsState, UpWithNothingPendingSaysSo,
                            UpToStopsAtThatVersion, DownRevertsTheNewestByDefault, DownStepsAndDownToRevertNewestFirst,
                            DownWithNothingAppliedSaysSo, RevertedMigrationsCanBeReapplied,
                            FailingMigrationIsRolledBackAndNamesFileAndLine, ErrorInsideMultiLineStatementNamesItsLine,
                            SyntaxErrorNamesLineAndRunsNothing, FailingDownKeepsMigrationApplied,
                            ChecksumDriftIsReportedAndRefused, MissingMigrationIsReportedAndRefused,
                            InvalidDirectoryIsRejectedBeforeRunning);

}  // namespace migrator_test
