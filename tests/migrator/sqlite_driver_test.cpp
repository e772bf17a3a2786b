// The driver conformance suite on SQLite (a database file in a temporary directory per test), and
// SQLite-specific behaviour.
#include <sqlite3.h>

#include "migrator/driver_conformance.h"
#include "migrator/drivers/sqlite_driver.h"

namespace migrator_test {
namespace {

class SqliteBackend {
 public:
  static constexpr const char* kStateTable = "migrator_schema_migrations";

  static std::unique_ptr<SqliteBackend> create(std::string* problem) {
    auto backend = std::make_unique<SqliteBackend>();
    sqlite3* db = nullptr;  // an empty file is an empty database
    int rc = sqlite3_open_v2(backend->path().c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    sqlite3_close(db);
    if (rc != SQLITE_OK) *problem = "cannot create " + backend->path().string();
    return rc == SQLITE_OK ? std::move(backend) : nullptr;
  }
  std::string url() const { return "sqlite://" + path().string(); }
  std::filesystem::path path() const { return dir_.path() / "test.db"; }

  std::optional<int64_t> count_rows(const std::string& table) {
    sqlite3* db = nullptr;
    std::optional<int64_t> count;
    if (sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* stmt = nullptr;
      std::string sql = "SELECT count(*) FROM \"" + table + "\"";
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        count = sqlite3_column_int64(stmt, 0);
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return count;
  }

 private:
  TempDir dir_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, DriverConformance, SqliteBackend);

using SqliteDriverTest = DriverConformance<SqliteBackend>;

TEST_F(SqliteDriverTest, TriggerBodiesWithSemicolonsRunAsOneStatement) {
  migrations_.add("0001_audit",
                  "CREATE TABLE t1 (id integer);\n"
                  "CREATE TABLE audit (id integer);\n"
                  "CREATE TRIGGER t1_audit AFTER INSERT ON t1 BEGIN\n"
                  "  INSERT INTO audit (id) VALUES (new.id);\n"
                  "  INSERT INTO audit (id) VALUES (new.id + 100);\n"
                  "END;\n"
                  "INSERT INTO t1 (id) VALUES (1);\n",
                  "DROP TABLE audit;\nDROP TABLE t1;\n");
  Outcome result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(backend_->count_rows("audit"), 2);
}

TEST_F(SqliteDriverTest, ScriptThatCommitsItselfIsRejectedAndRolledBack) {
  migrations_.add("0001_commits", "CREATE TABLE t1 (id integer);\nCOMMIT;\nCREATE TABLE t2 (id integer);\n",
                  "DROP TABLE t1;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("0001_commits/up.sql:2: "));
  EXPECT_THAT(result.error, HasSubstr("must not end its transaction"));
  EXPECT_TRUE(applied().empty());
}

TEST_F(SqliteDriverTest, NoTransactionRunsStatementByStatementAndHonoursTheScriptsOwnTransactions) {
  migrations_.add("0001_outside",
                  "-- migrator: no-transaction\n"
                  "CREATE TABLE t1 (id integer);\n"
                  "BEGIN;\nINSERT INTO t1 VALUES (1);\nCOMMIT;\n"
                  "VACUUM;\n",  // SQLite refuses VACUUM inside a transaction
                  "DROP TABLE t1;\n");
  Outcome result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("applied 0001_outside \\([0-9]+ ms, outside a transaction, statement by "
                                       "statement\\)\n"));
  EXPECT_EQ(backend_->count_rows("t1"), 1);
  result = down_steps(1);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(backend_->count_rows("t1"), std::nullopt);
  EXPECT_TRUE(applied().empty());
}

TEST_F(SqliteDriverTest, NoTransactionFailureKeepsTheStatementsThatRanAndNamesThem) {
  migrations_.add("0001_outside",
                  "-- migrator: no-transaction\n"
                  "CREATE TABLE t1 (id integer);\n"
                  "INSERT INTO t1 VALUES (1);\n"
                  "INSERT INTO nowhere VALUES (1);\n"
                  "CREATE TABLE t2 (id integer);\n",
                  "DROP TABLE t1;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("0001_outside/up.sql:4: ERROR: no such table: nowhere; 2 statements ran "
                                      "outside a transaction and remain (lines 2, 3)"));
  EXPECT_THAT(result.error, HasSubstr("0001_outside is recorded as failed and later runs refuse until it is "
                                      "resolved: finish or undo its statements by hand, then run `migrator resolve 1 "
                                      "--applied` (its changes are all in place) or `migrator resolve 1 --reverted` "
                                      "(none are)"));
  EXPECT_EQ(backend_->count_rows("t1"), 1);
  EXPECT_EQ(backend_->count_rows("t2"), std::nullopt);
  EXPECT_THAT(states(), ElementsAre("0001_outside failed"));
  EXPECT_TRUE(applied().empty());
  EXPECT_THAT(history(), ElementsAre("up 1 failed"));
  std::vector<migrator::MigrationStatus> statuses = status();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].failed_action, "up");
  EXPECT_FALSE(statuses[0].interrupted);
  EXPECT_EQ(statuses[0].ran, "2, 3");
  EXPECT_THAT(statuses[0].error, HasSubstr("up.sql:4: ERROR: no such table: nowhere"));

  // Every later run refuses, naming it, and changes nothing.
  migrations_.add("0002_next", "CREATE TABLE t3 (id integer);\n", "DROP TABLE t3;\n");
  for (Outcome refused : {up(), down_steps(1), run([](migrator::Engine& engine) { engine.redo(); }),
                          run([](migrator::Engine& engine) { engine.print_status(); })}) {
    EXPECT_EQ(refused.exit_code, 3);
    EXPECT_THAT(refused.error, HasSubstr("0001_outside failed (up outside a transaction, started "));
    EXPECT_THAT(refused.error, HasSubstr("; statements at lines 2, 3 ran; "));
    EXPECT_THAT(refused.error, HasSubstr("then run `migrator resolve 1 --applied` (its changes are all in place) or "
                                         "`migrator resolve 1 --reverted` (none are)"));
  }
  EXPECT_EQ(backend_->count_rows("t3"), std::nullopt);
  EXPECT_THAT(history(), ElementsAre("up 1 failed"));
}

TEST_F(SqliteDriverTest, NoTransactionFailureInsideTheScriptsOwnBlockRollsTheBlockBack) {
  migrations_.add("0001_outside",
                  "-- migrator: no-transaction\n"
                  "CREATE TABLE t1 (id integer);\n"
                  "BEGIN;\n"
                  "INSERT INTO t1 VALUES (1);\n"
                  "INSERT INTO nowhere VALUES (1);\n"
                  "COMMIT;\n",
                  "DROP TABLE t1;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("up.sql:5: ERROR: no such table: nowhere; 1 statements ran outside a "
                                      "transaction and remain (lines 2)"));
  EXPECT_EQ(backend_->count_rows("t1"), 0);
  ASSERT_EQ(status().size(), 1u);
  EXPECT_EQ(status()[0].ran, "2");
}

TEST_F(SqliteDriverTest, FailedDownIsRecordedAsFailedWithItsDirection) {
  migrations_.add("0001_outside", "-- migrator: no-transaction\nCREATE TABLE t1 (id integer);\n",
                  "DROP TABLE t1;\nDROP TABLE nowhere;\n");
  ASSERT_EQ(up().exit_code, 0);
  EXPECT_THAT(states(), ElementsAre("0001_outside applied"));
  Outcome result = down_steps(1);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("down.sql:2: ERROR: no such table: nowhere; 1 statements ran"));
  EXPECT_THAT(states(), ElementsAre("0001_outside failed"));
  EXPECT_EQ(status()[0].failed_action, "down");
  EXPECT_THAT(history(), ElementsAre("up 1 applied", "down 1 failed"));
}

TEST_F(SqliteDriverTest, ARunningMarkerLeftByADeadRunIsShownAsInterruptedAndRefused) {
  migrations_.add("0001_outside", "-- migrator: no-transaction\nCREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  ASSERT_EQ(up().exit_code, 0);
  {  // what a run killed after its first statement leaves: the marker, never finished
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(backend_->path().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE migrator_schema_migrations SET state = 'running', ran = '2'", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::vector<migrator::MigrationStatus> statuses = status();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].state, migrator::MigrationState::kFailed);
  EXPECT_TRUE(statuses[0].interrupted);
  EXPECT_THAT(describe_state(statuses[0]), ::testing::StartsWith("interrupted (up outside a transaction, started "));
  EXPECT_THAT(describe_state(statuses[0]), HasSubstr("; the run died or still runs; statements at lines 2 ran)"));
  EXPECT_EQ(up().exit_code, 3);
}

TEST(SqliteDriver, UnopenableDatabaseIsADatabaseError) {
  TempDir dir;
  migrator::DriverOptions options;
  options.create_database = true;
  try {
    migrator::SqliteDriver driver((dir.path() / "no" / "such" / "dir.db").string(), options);
    FAIL() << "opened a database in a directory that does not exist";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kDatabase);
    EXPECT_THAT(e.what(), HasSubstr("cannot open SQLite database"));
  }
}

TEST_F(SqliteDriverTest, StateTableFromBeforeTheFailedStateIsUpgradedInPlace) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations_.add("0002_outside",
                  "-- migrator: no-transaction\nCREATE TABLE t2 (id integer);\nSELECT * FROM nowhere;\n",
                  "DROP TABLE t2;\n");
  std::string sum = migrator::load_migrations(migrations_.path()).at(0).checksum;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(backend_->path().c_str(), &db), SQLITE_OK);
  std::string old_state =  // the state table as the release before the failed state created it
      "CREATE TABLE t1 (id integer);"
      "CREATE TABLE migrator_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
      " checksum TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
      " applied_by TEXT NOT NULL, execution_ms INTEGER NOT NULL, directory TEXT);"
      "INSERT INTO migrator_schema_migrations (version, name, checksum, applied_by, execution_ms, directory)"
      " VALUES (1, 'first', '" +
      sum + "', 'someone', 3, '0001_first');";
  ASSERT_EQ(sqlite3_exec(db, old_state.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  EXPECT_THAT(states(), ElementsAre("0001_first applied", "0002_outside pending"));
  EXPECT_EQ(up().exit_code, 1);
  EXPECT_THAT(states(), ElementsAre("0001_first applied", "0002_outside failed"));
  EXPECT_EQ(applied().size(), 1u);
  EXPECT_EQ(backend_->count_rows("t2"), 0);
}

TEST_F(SqliteDriverTest, StateTableFromTheFirstReleaseIsUpgradedInPlace) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations_.add("0002_second", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
  std::string sum = migrator::load_migrations(migrations_.path()).at(0).checksum;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(backend_->path().c_str(), &db), SQLITE_OK);
  std::string old_state =  // the state table as the first release created it, with 0001 applied
      "CREATE TABLE t1 (id integer);"
      "CREATE TABLE migrator_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
      " checksum TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
      " applied_by TEXT NOT NULL, execution_ms INTEGER NOT NULL);"
      "INSERT INTO migrator_schema_migrations (version, name, checksum, applied_by, execution_ms)"
      " VALUES (1, 'first', '" +
      sum + "', 'someone', 3);";
  ASSERT_EQ(sqlite3_exec(db, old_state.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  EXPECT_THAT(states(), ElementsAre("0001_first applied", "0002_second pending"));
  Outcome result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("applied 0002_second \\([0-9]+ ms\\)\n"));
  std::vector<migrator::AppliedMigration> rows = applied();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].directory, "");  // recorded before the column existed
  EXPECT_EQ(rows[0].applied_by, "someone");
  EXPECT_EQ(rows[1].directory, "0002_second");
  migrations_.remove("0001_first");
  migrations_.remove("0002_second");
  EXPECT_THAT(states(), ElementsAre("1_first missing", "0002_second missing"));
}

TEST_F(SqliteDriverTest, HistoryIsAppendOnly) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  ASSERT_EQ(up().exit_code, 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(backend_->path().c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE migrator_history SET outcome = 'failed'", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_STREQ(sqlite3_errmsg(db), "migrator_history is append-only");
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM migrator_history", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(history(), ElementsAre("up 1 applied"));
}

TEST_F(SqliteDriverTest, HistoryFromBeforeBaselineIsUpgradedInPlace) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  ASSERT_EQ(up().exit_code, 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(backend_->path().c_str(), &db), SQLITE_OK);
  const char* old_history =  // the history as the release before baseline created it, with one row
      "DROP TABLE migrator_history;"
      "DELETE FROM migrator_schema_migrations;"
      "CREATE TABLE migrator_history (id INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL,"
      " name TEXT NOT NULL, action TEXT NOT NULL CHECK (action IN ('up', 'down')),"
      " outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'reverted', 'failed', 'interrupted')),"
      " at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), by TEXT NOT NULL,"
      " duration_ms INTEGER NOT NULL, migrator_version TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');"
      "INSERT INTO migrator_history (version, name, action, outcome, by, duration_ms, migrator_version)"
      " VALUES (7, 'old', 'down', 'failed', 'someone', 5, '0.0.1');";
  ASSERT_EQ(sqlite3_exec(db, old_history, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  Outcome result = run([](migrator::Engine& engine) { engine.baseline(1); });
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(history(), ElementsAre("down 7 failed", "baseline 1 applied"));
  ASSERT_EQ(sqlite3_open(backend_->path().c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM migrator_history", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_STREQ(sqlite3_errmsg(db), "migrator_history is append-only");  // the triggers came back
  sqlite3_close(db);
}

TEST(SqliteDriver, MissingDatabaseIsNotCreatedUnlessAsked) {
  TempDir dir;
  std::string path = (dir.path() / "typo.db").string();
  try {
    migrator::SqliteDriver driver(path, migrator::DriverOptions{});
    FAIL() << "opened " << path;
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kDatabase);
    EXPECT_THAT(e.what(), HasSubstr(path + " does not exist"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SqliteDriver, InMemoryDatabaseKeepsStateForTheDriversLifetime) {
  MigrationsDir migrations;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  std::unique_ptr<migrator::Driver> driver =
      migrator::open_driver(migrator::parse_database_url("sqlite::memory:"), migrator::DriverOptions{});
  std::ostringstream out;
  migrator::Engine engine(*driver, migrator::load_migrations(migrations.path()), out);
  EXPECT_EQ(engine.up(), 1);
  ASSERT_EQ(driver->applied().size(), 1u);
  EXPECT_EQ(engine.down_steps(5), 1);
  EXPECT_TRUE(driver->applied().empty());
}

// A declarative migration's phases (planned later, or given as SQL of a phase) are PostgreSQL's:
// SQLite's dry run refuses them before running anything.
TEST(SqliteDriver, DryRunRefusesADeclarativeMigrationsPhases) {
  MigrationsDir migrations;
  migrations.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  std::vector<migrator::Migration> loaded = migrator::load_migrations(migrations.path());
  std::unique_ptr<migrator::Driver> driver =
      migrator::open_driver(migrator::parse_database_url("sqlite::memory:"), migrator::DriverOptions{});
  migrator::DryRunScript later{&loaded.at(0), "expand"};
  later.later = [](pqxx::transaction_base&) { return std::vector<migrator::DryRunScript>{}; };
  migrator::DryRunScript phase{&loaded.at(0), "expand", "SELECT 1;", "m/migration.yaml (expand)"};
  for (const migrator::DryRunScript& script : {later, phase}) {
    try {
      driver->dry_run([&] { return std::vector<migrator::DryRunScript>{script}; });
      ADD_FAILURE() << "dry-ran a declarative phase on SQLite";
    } catch (const migrator::Error& e) {
      EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
      EXPECT_THAT(e.what(), HasSubstr("refusing to dry-run 0001_first: a declarative migration needs PostgreSQL"));
    }
  }
}

}  // namespace
}  // namespace migrator_test
