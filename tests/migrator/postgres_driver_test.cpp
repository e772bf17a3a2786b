// The driver conformance suite on PostgreSQL, and PostgreSQL-specific behaviour. Needs DATABASE_URL
// (a role allowed to CREATE DATABASE): every test runs in its own database, created from the
// process id and test name and dropped afterwards, so runs can repeat and overlap.
#include <libpq-fe.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <pqxx/pqxx>

#include "migrator/driver_conformance.h"
#include "migrator/drivers/postgres_driver.h"

namespace migrator_test {
namespace {

std::string quote_conninfo_value(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

// `conninfo` (URI or key=value) with dbname replaced, as a key=value string.
std::string with_dbname(const std::string& conninfo, const std::string& dbname, std::string* problem) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    *problem = "cannot parse DATABASE_URL: " + std::string(error != nullptr ? error : "out of memory");
    PQfreemem(error);
    return "";
  }
  std::string result;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || std::string(option->keyword) == "dbname") continue;
    result += std::string(option->keyword) + "=" + quote_conninfo_value(option->val) + " ";
  }
  PQconninfoFree(options);
  return result + "dbname=" + quote_conninfo_value(dbname);
}

class PostgresBackend {
 public:
  static constexpr const char* kStateTable = "migrator.schema_migrations";

  static std::unique_ptr<PostgresBackend> create(std::string* problem) {
    const char* maintenance = std::getenv("DATABASE_URL");
    if (maintenance == nullptr || *maintenance == '\0') {
      *problem = "DATABASE_URL is not set: the pg tests need a PostgreSQL server and a role that may CREATE DATABASE";
      return nullptr;
    }
    std::string name = unique_test_name("migrator_test");
    std::string url = with_dbname(maintenance, name, problem);
    if (url.empty()) return nullptr;
    try {
      pqxx::connection connection(maintenance);
      pqxx::nontransaction tx(connection);
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
      tx.exec("CREATE DATABASE " + tx.quote_name(name));
    } catch (const std::exception& e) {
      *problem = "cannot create test database " + name + ": " + e.what();
      return nullptr;
    }
    return std::unique_ptr<PostgresBackend>(new PostgresBackend(maintenance, name, url));
  }

  ~PostgresBackend() {
    try {
      pqxx::connection connection(maintenance_);
      pqxx::nontransaction tx(connection);
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop test database " << name_ << ": " << e.what();
    }
  }

  std::string url() const { return url_; }

  std::optional<int64_t> count_rows(const std::string& table) {
    pqxx::connection connection(url_);
    pqxx::read_transaction tx(connection);
    if (tx.exec_params1("SELECT to_regclass($1) IS NULL", table)[0].as<bool>()) return std::nullopt;
    return tx.exec1("SELECT count(*) FROM " + table)[0].as<int64_t>();
  }

 private:
  PostgresBackend(std::string maintenance, std::string name, std::string url)
      : maintenance_(std::move(maintenance)), name_(std::move(name)), url_(std::move(url)) {}

  std::string maintenance_;
  std::string name_;
  std::string url_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, DriverConformance, PostgresBackend);

using PostgresDriverTest = DriverConformance<PostgresBackend>;

TEST_F(PostgresDriverTest, DollarQuotedFunctionBodiesAreOneStatement) {
  migrations_.add("0001_function",
                  "CREATE FUNCTION twice(x integer) RETURNS integer LANGUAGE plpgsql AS $$\n"
                  "BEGIN\n"
                  "  RETURN x * 2;  -- a semicolon inside the body\n"
                  "END;\n"
                  "$$;\n"
                  "CREATE TABLE t1 AS SELECT twice(21) AS answer;\n",
                  "DROP TABLE t1;\nDROP FUNCTION twice(integer);\n");
  Outcome result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  pqxx::connection connection(backend_->url());
  pqxx::read_transaction tx(connection);
  EXPECT_EQ(tx.exec1("SELECT answer FROM t1")[0].as<int>(), 42);
}

TEST_F(PostgresDriverTest, ErrorNamesSqlstate) {
  migrations_.add("0001_first", "/* leading\n   comment */\nCREATE TABLE t1 (id integer);\nSELECT x FROM t1;\n",
                  "DROP TABLE t1;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("0001_first/up.sql:4: ERROR: column \"x\" does not exist (SQLSTATE 42703)"));
}

// The first statement shares its round trip with the SET LOCAL timeouts: its errors still name the
// file's line.
TEST_F(PostgresDriverTest, ErrorInTheFirstStatementNamesItsLine) {
  migrations_.add("0001_first", "-- a table\nCREATE TABLE t1 (\n  id integer,\n  y no_such_type\n);\n",
                  "DROP TABLE t1;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error,
              HasSubstr("0001_first/up.sql:4: ERROR: type \"no_such_type\" does not exist (SQLSTATE 42704)"));
  EXPECT_TRUE(applied().empty());
}

// The record of a revert shares its round trip with COMMIT, so it reports a state row that is no
// longer there by failing (the history row's version would be NULL): the revert rolls back whole.
TEST_F(PostgresDriverTest, RevertWhoseStateRowVanishedFailsAndRollsBack) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n",
                  "DROP TABLE t1;\nDELETE FROM migrator.schema_migrations WHERE version = 1;\n");
  ASSERT_EQ(up().exit_code, 0);
  Outcome result = down_steps(1);
  EXPECT_EQ(result.exit_code, static_cast<int>(migrator::ExitCode::kDatabase)) << result.error;
  EXPECT_THAT(result.error, HasSubstr("0001_first is not recorded as applied (changed concurrently?)"));
  EXPECT_EQ(backend_->count_rows("t1"), 0);  // DROP TABLE rolled back with the rest
  ASSERT_EQ(applied().size(), 1u);
  EXPECT_THAT(history(), ElementsAre("up 1 applied"));
}

TEST_F(PostgresDriverTest, StateTableHasTheDocumentedColumns) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  ASSERT_EQ(up().exit_code, 0);
  pqxx::connection connection(backend_->url());
  pqxx::read_transaction tx(connection);
  pqxx::row row = tx.exec1(
      "SELECT version, name, applied_by = session_user, applied_at <= now(), execution_ms >= 0 "
      "FROM migrator.schema_migrations");
  EXPECT_EQ(row[0].as<int64_t>(), 1);
  EXPECT_EQ(row[1].as<std::string>(), "first");
  EXPECT_TRUE(row[2].as<bool>());
  EXPECT_TRUE(row[3].as<bool>());
  EXPECT_TRUE(row[4].as<bool>());
}

TEST_F(PostgresDriverTest, TransactionControlIsRefusedBeforeAnythingRuns) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations_.add("0002_rollback",
                  "INSERT INTO t1 VALUES (1);\n"
                  "SELECT 'ROLLBACK;'; -- ROLLBACK; in a string and a comment is fine\n"
                  "SAVEPOINT before_update;\n"
                  "ROLLBACK;\n",
                  "DELETE FROM t1;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("0002_rollback/up.sql:4: 'ROLLBACK' controls the transaction"));
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(backend_->count_rows("t1"), std::nullopt);  // not even 0001 ran

  write_file(migrations_.path() / "0002_rollback" / "up.sql", "BEGIN;\nINSERT INTO t1 VALUES (1);\nCOMMIT;\n");
  result = up();
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("0002_rollback/up.sql:1: 'BEGIN' controls the transaction"));

  write_file(migrations_.path() / "0002_rollback" / "up.sql", "INSERT INTO t1 VALUES (1);\n");
  write_file(migrations_.path() / "0002_rollback" / "down.sql", "DELETE FROM t1;\nCOMMIT;\n");
  ASSERT_EQ(up().exit_code, 0);
  result = down_steps(1);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("0002_rollback/down.sql:2: 'COMMIT' controls the transaction"));
  EXPECT_EQ(backend_->count_rows("t1"), 1);
}

bool wait_for_query(const std::string& url, const std::string& prefix);
std::string query(const std::string& url, const std::string& sql);

TEST_F(PostgresDriverTest, HistoryIsAppendOnlyAndRecordsInterruptions) {
  migrations_.add("0001_slow", "CREATE TABLE t1 (id integer);\nSELECT pg_sleep(60);\n", "DROP TABLE t1;\n");
  ChildProcess up_run(MIGRATOR_BIN, {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "up"});
  ASSERT_TRUE(wait_for_query(backend_->url(), "SELECT pg_sleep(60)"));
  up_run.send(SIGINT);
  EXPECT_EQ(up_run.wait().exit_code, 130);
  EXPECT_THAT(history(), ElementsAre("up 1 interrupted"));
  pqxx::connection connection(backend_->url());
  for (const char* change : {"UPDATE migrator.history SET outcome = 'applied'", "DELETE FROM migrator.history"}) {
    try {
      pqxx::work tx(connection);
      tx.exec(change);
      ADD_FAILURE() << change << " succeeded";
    } catch (const pqxx::sql_error& e) {
      EXPECT_EQ(e.sqlstate(), "55000");
      EXPECT_THAT(e.what(), HasSubstr("migrator.history is append-only"));
    }
  }
}

TEST_F(PostgresDriverTest, StateTableFromTheFirstReleaseIsUpgradedInPlace) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations_.add("0002_second", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
  std::string sum = migrator::load_migrations(migrations_.path()).at(0).checksum;
  {
    pqxx::connection connection(backend_->url());
    pqxx::work tx(connection);
    tx.exec(  // the state table as the first release created it, with 0001 applied
        "CREATE TABLE t1 (id integer);"
        "CREATE SCHEMA migrator;"
        "CREATE TABLE migrator.schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,"
        " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
        " applied_by text NOT NULL DEFAULT session_user, execution_ms bigint NOT NULL)");
    tx.exec_params(
        "INSERT INTO migrator.schema_migrations (version, name, checksum, execution_ms) VALUES (1, 'first', $1, 3)",
        sum);
    tx.commit();
  }
  EXPECT_THAT(states(), ElementsAre("0001_first applied", "0002_second pending"));
  Outcome result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("applied 0002_second \\([0-9]+ ms\\)\n"));
  std::vector<migrator::AppliedMigration> rows = applied();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].directory, "");
  EXPECT_EQ(rows[1].directory, "0002_second");
  migrations_.remove("0001_first");
  migrations_.remove("0002_second");
  EXPECT_THAT(states(), ElementsAre("1_first missing", "0002_second missing"));
}

// The state schema script runs when the state is not what it makes, not on every run: a second run
// leaves its function's catalog row as the first wrote it (CREATE OR REPLACE would write a new one).
TEST_F(PostgresDriverTest, CurrentStateTablesAreNotRecreatedByEveryRun) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  ASSERT_EQ(up().exit_code, 0);
  auto function_row = [&] {
    pqxx::connection connection(backend_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1("SELECT xmin::text FROM pg_proc WHERE proname = 'history_is_append_only'")[0].as<std::string>();
  };
  std::string written = function_row();
  migrations_.add("0002_second", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n");
  ASSERT_EQ(up().exit_code, 0);
  ASSERT_EQ(down_steps(1).exit_code, 0);
  EXPECT_EQ(function_row(), written);
  // Without the trigger, the shape is not the current one: the next run puts it back.
  query(backend_->url(), "DROP TRIGGER history_is_append_only ON migrator.history");
  ASSERT_EQ(up().exit_code, 0);
  EXPECT_NE(function_row(), written);
  EXPECT_THAT(history(), ElementsAre("up 1 applied", "up 2 applied", "down 2 reverted", "up 2 applied"));
  try {
    query(backend_->url(), "DELETE FROM migrator.history");
    ADD_FAILURE() << "the history accepted a DELETE";
  } catch (const pqxx::sql_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("migrator.history is append-only"));
  }
}

TEST_F(PostgresDriverTest, HistoryFromBeforeBaselineIsUpgradedInPlace) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  ASSERT_EQ(up().exit_code, 0);
  {
    pqxx::connection connection(backend_->url());
    pqxx::work tx(connection);
    // The action check as the release before baseline created it.
    tx.exec(
        "DELETE FROM migrator.schema_migrations;"
        "ALTER TABLE migrator.history DROP CONSTRAINT history_action_check;"
        "ALTER TABLE migrator.history ADD CONSTRAINT history_action_check CHECK (action IN ('up', 'down'))");
    tx.commit();
  }
  Outcome result = run([](migrator::Engine& engine) { engine.baseline(1); });
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(history(), ElementsAre("up 1 applied", "baseline 1 applied"));
}

// A run releases the migration lock over its connection as it ends: the server frees a session's
// advisory locks only as its backend exits, after the client has disconnected, so a run started at
// once after another found the lock still held (exit 5) now and then.
TEST_F(PostgresDriverTest, UnlockFreesTheLockWhileTheConnectionIsOpen) {
  pqxx::connection watcher(backend_->url());
  auto held = [&] {
    pqxx::nontransaction tx(watcher);
    return tx
        .exec1(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())")[0]
        .as<int>();
  };
  migrator::DriverOptions options;
  options.create_database = true;
  migrator::PostgresDriver driver(backend_->url(), options);
  driver.lock();
  EXPECT_EQ(held(), 1);
  driver.unlock();
  EXPECT_EQ(held(), 0);
  driver.lock();  // taken again by a later call, and released with the driver
  EXPECT_EQ(held(), 1);
}

TEST_F(PostgresDriverTest, LockHeldElsewhereFailsAtOnceOrAfterWait) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  pqxx::connection holder(backend_->url());
  pqxx::nontransaction hold(holder);
  hold.exec("SELECT pg_advisory_lock(" + std::to_string(migrator::PostgresDriver::kLockKey) + ")");

  int holder_pid = hold.exec1("SELECT pg_backend_pid()")[0].as<int>();
  for (int wait : {0, 1}) {
    migrator::DriverOptions options;
    options.wait_seconds = wait;
    migrator::PostgresDriver driver(backend_->url(), options);
    std::ostringstream out;
    migrator::Engine engine(driver, migrator::load_migrations(migrations_.path()), out);
    auto start = std::chrono::steady_clock::now();
    try {
      engine.up();
      ADD_FAILURE() << "up() ran while another session held the migration lock";
    } catch (const migrator::Error& e) {
      EXPECT_EQ(e.code(), migrator::ExitCode::kLockHeld);
      EXPECT_THAT(e.what(), HasSubstr("another run holds the migration lock (pid " + std::to_string(holder_pid)));
      EXPECT_THAT(e.what(), HasSubstr(wait == 0 ? "; --wait SECONDS waits for it" : "; gave up after 1 s"));
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, std::chrono::milliseconds(wait == 0 ? 900 : 5000));
    if (wait == 1) {
      EXPECT_GE(elapsed, std::chrono::seconds(1));
    }
  }
  EXPECT_EQ(backend_->count_rows("t1"), std::nullopt);

  hold.exec("SELECT pg_advisory_unlock(" + std::to_string(migrator::PostgresDriver::kLockKey) + ")");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(backend_->count_rows("t1"), 0);
}

// Runs `up` on the test database with `options`, collecting notices; returns the error or "".
// lock_timeout and the first backoff 100 ms, and `retries` retries.
migrator::DriverOptions quick_retries(int retries) {
  migrator::DriverOptions options;
  options.lock_timeout_ms = 100;
  options.lock_retries = retries;
  options.retry_backoff_ms = 100;
  return options;
}

// A thread that commits `hold` 250 ms after a session of the database at `url` starts waiting for a
// lock on t0 (so after a lock_timeout of 100 ms has expired at least once), or after 2 s.
std::thread release_when_queued(const std::string& url, pqxx::work& hold) {
  return std::thread([url, &hold] {
    pqxx::connection watcher(url);
    for (int i = 0; i < 200; ++i) {
      pqxx::nontransaction tx(watcher);
      if (tx.exec1("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 't0'::regclass")[0].as<int>() > 0) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    hold.commit();
  });
}

std::string up_with(const std::string& url, const std::filesystem::path& dir, migrator::DriverOptions options,
                    std::ostringstream* notices) {
  options.notices = notices;
  try {
    migrator::PostgresDriver driver(url, options);
    std::ostringstream out;
    migrator::Engine engine(driver, migrator::load_migrations(dir), out);
    engine.up();
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kMigrationFailed);
    return e.what();
  }
  return "";
}

TEST_F(PostgresDriverTest, LockTimeoutRollsBackAndRetriesWithBackoffThenGivesUp) {
  migrations_.add("0000_table", "CREATE TABLE t0 (id integer);\n", "DROP TABLE t0;\n");
  ASSERT_EQ(up().exit_code, 0);
  migrations_.add("0001_alter", "CREATE TABLE t1 (id integer);\nALTER TABLE t0 ADD COLUMN x integer;\n",
                  "DROP TABLE t1;\nALTER TABLE t0 DROP COLUMN x;\n");
  pqxx::connection holder(backend_->url());
  pqxx::work hold(holder);
  hold.exec("SELECT * FROM t0");  // ACCESS SHARE, enough to block ALTER TABLE

  migrator::DriverOptions options = quick_retries(2);
  std::ostringstream notices;
  auto start = std::chrono::steady_clock::now();
  std::string error = up_with(backend_->url(), migrations_.path(), options, &notices);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(error, HasSubstr("0001_alter/up.sql:2: ERROR: canceling statement due to lock timeout (SQLSTATE 55P03); "
                               "gave up after 3 attempts (lock_timeout 100 ms)"));
  EXPECT_THAT(notices.str(), HasSubstr("; rolled back, retry 1 of 2 in 100 ms\n"));
  EXPECT_THAT(notices.str(), HasSubstr("; rolled back, retry 2 of 2 in 200 ms\n"));
  EXPECT_GE(elapsed, std::chrono::milliseconds(3 * 100 + 100 + 200));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_EQ(backend_->count_rows("t1"), std::nullopt);
  EXPECT_EQ(applied().size(), 1u);

  // Released during the backoff: a retry succeeds. The holder lets go once the migration has queued
  // for the lock and timed out (lock_timeout 100 ms) at least once.
  std::thread release = release_when_queued(backend_->url(), hold);
  options.lock_retries = 5;
  std::ostringstream more;
  error = up_with(backend_->url(), migrations_.path(), options, &more);
  release.join();
  EXPECT_EQ(error, "");
  EXPECT_THAT(more.str(), HasSubstr("retry 1 of 5"));
  EXPECT_EQ(backend_->count_rows("t1"), 0);
}

// Outside a transaction a statement in autocommit that timed out waiting for a lock did nothing: it
// alone is retried with the backoff; the statements before it stay, as they ran once.
class PostgresOutsideRetryTest : public PostgresDriverTest {
 protected:
  // 0000 creates t0 and is applied; 0001 (no-transaction) inserts a row into it, then alters it.
  void add_insert_then_alter_outside_a_transaction() {
    migrations_.add("0000_table", "CREATE TABLE t0 (id integer);\n", "DROP TABLE t0;\n");
    ASSERT_EQ(up().exit_code, 0);
    migrations_.add("0001_alter",
                    "-- migrator: no-transaction\nINSERT INTO t0 VALUES (1);\nALTER TABLE t0 ADD COLUMN x integer;\n",
                    "ALTER TABLE t0 DROP COLUMN x;\n");
  }
};

TEST_F(PostgresOutsideRetryTest, ALockTimeoutRetriesTheStatementAloneThenGivesUp) {
  add_insert_then_alter_outside_a_transaction();
  pqxx::connection holder(backend_->url());
  pqxx::work hold(holder);
  hold.exec("SELECT * FROM t0 LIMIT 0");  // ACCESS SHARE, enough to block ALTER TABLE, not INSERT

  migrator::DriverOptions options = quick_retries(2);
  std::ostringstream notices;
  auto start = std::chrono::steady_clock::now();
  std::string error = up_with(backend_->url(), migrations_.path(), options, &notices);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(error, HasSubstr("0001_alter/up.sql:3: ERROR: canceling statement due to lock timeout (SQLSTATE 55P03); "
                               "gave up after 3 attempts (lock_timeout 100 ms); 1 of 2 statements ran outside a "
                               "transaction and remain (lines 2)"));
  EXPECT_THAT(notices.str(), HasSubstr("0001_alter/up.sql:3: ERROR: canceling statement due to lock timeout (SQLSTATE "
                                       "55P03); the statement did nothing, retry 1 of 2 in 100 ms\n"));
  EXPECT_THAT(notices.str(), HasSubstr("; the statement did nothing, retry 2 of 2 in 200 ms\n"));
  EXPECT_GE(elapsed, std::chrono::milliseconds(3 * 100 + 100 + 200));
  EXPECT_EQ(backend_->count_rows("t0"), 1);  // the INSERT ran once, not once per attempt
  EXPECT_THAT(states(), ElementsAre("0000_table applied", "0001_alter failed"));
  hold.abort();
}

TEST_F(PostgresOutsideRetryTest, ALockReleasedDuringTheBackoffLetsTheRetrySucceed) {
  add_insert_then_alter_outside_a_transaction();
  pqxx::connection holder(backend_->url());
  pqxx::work hold(holder);
  hold.exec("SELECT * FROM t0 LIMIT 0");
  std::thread release = release_when_queued(backend_->url(), hold);
  migrator::DriverOptions options = quick_retries(5);
  std::ostringstream notices;
  std::string error = up_with(backend_->url(), migrations_.path(), options, &notices);
  release.join();
  EXPECT_EQ(error, "");
  EXPECT_THAT(notices.str(), HasSubstr("retry 1 of 5"));
  EXPECT_EQ(backend_->count_rows("t0"), 1);
  EXPECT_THAT(states(), ElementsAre("0000_table applied", "0001_alter applied"));
}

// CREATE INDEX CONCURRENTLY runs transactions of its own and may leave an invalid index: not retried.
TEST_F(PostgresDriverTest, OutsideATransactionAConcurrentIndexBuildIsNotRetried) {
  migrations_.add("0000_table", "CREATE TABLE t0 (id integer);\n", "DROP TABLE t0;\n");
  ASSERT_EQ(up().exit_code, 0);
  migrations_.add("0001_index", "CREATE INDEX CONCURRENTLY t0_id ON t0 (id);\n", "DROP INDEX CONCURRENTLY t0_id;\n");
  pqxx::connection holder(backend_->url());
  pqxx::work hold(holder);
  hold.exec("LOCK TABLE t0 IN SHARE UPDATE EXCLUSIVE MODE");
  migrator::DriverOptions options = quick_retries(2);
  std::ostringstream notices;
  std::string error = up_with(backend_->url(), migrations_.path(), options, &notices);
  EXPECT_THAT(error, HasSubstr("0001_index/up.sql:1: ERROR: canceling statement due to lock timeout (SQLSTATE 55P03); "
                               "no statement of it ran"));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("gave up after")));
  EXPECT_EQ(notices.str(), "");
  hold.abort();
}

TEST_F(PostgresDriverTest, HeaderTimeoutsOverrideTheRunsAndEndWithTheMigration) {
  migrations_.add("0000_table", "CREATE TABLE t0 (id integer);\n", "DROP TABLE t0;\n");
  ASSERT_EQ(up().exit_code, 0);
  migrations_.add("0001_alter", "-- migrator: lock-timeout=100ms\nALTER TABLE t0 ADD COLUMN x integer;\n",
                  "ALTER TABLE t0 DROP COLUMN x;\n");
  pqxx::connection holder(backend_->url());
  pqxx::work hold(holder);
  hold.exec("SELECT * FROM t0");
  migrator::DriverOptions options;  // 5 s by default, but the file says 100 ms
  options.lock_retries = 0;
  std::ostringstream notices;
  auto start = std::chrono::steady_clock::now();
  std::string error = up_with(backend_->url(), migrations_.path(), options, &notices);
  EXPECT_THAT(error, HasSubstr("gave up after 1 attempts (lock_timeout 100 ms)"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  hold.abort();

  migrations_.add("0001_alter", "-- migrator: statement-timeout=200ms\nSELECT pg_sleep(3);\n", "SELECT 1;\n");
  error = up_with(backend_->url(), migrations_.path(), options, &notices);
  EXPECT_THAT(error,
              HasSubstr("0001_alter/up.sql:2: ERROR: canceling statement due to statement timeout (SQLSTATE 57014)"));
  options.statement_timeout_ms = 100;  // the run's setting, for a file without the header option
  migrations_.add("0001_alter", "SELECT pg_sleep(3);\n", "SELECT 1;\n");
  error = up_with(backend_->url(), migrations_.path(), options, &notices);
  EXPECT_THAT(error, HasSubstr("canceling statement due to statement timeout"));
  EXPECT_EQ(applied().size(), 1u);
}

TEST_F(PostgresDriverTest, WaitDoesNotApplyToMigrations) {
  // The migration waits ~1.5 s for a table lock held elsewhere; with a 1 s limit it would fail.
  migrations_.add("0000_table", "CREATE TABLE t0 (id integer);\n", "DROP TABLE t0;\n");
  ASSERT_EQ(up().exit_code, 0);
  migrations_.add("0001_locks", "LOCK TABLE t0;\nCREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  pqxx::connection holder(backend_->url());
  pqxx::work hold(holder);
  hold.exec("LOCK TABLE t0");
  hold.exec("SELECT pg_sleep(0)");
  migrator::DriverOptions options;
  options.wait_seconds = 1;
  migrator::PostgresDriver driver(backend_->url(), options);
  std::ostringstream out;
  migrator::Engine engine(driver, migrator::load_migrations(migrations_.path()), out);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    hold.commit();
  });
  int applied = -1;
  try {
    applied = engine.up();
  } catch (const migrator::Error& e) {
    ADD_FAILURE() << e.what();
  }
  release.join();
  EXPECT_EQ(applied, 1);
}

// Waits until a session of the database runs a query starting with `prefix`; false after 10 s.
bool wait_for_query(const std::string& url, const std::string& prefix) {
  pqxx::connection connection(url);
  for (int i = 0; i < 200; ++i) {
    pqxx::nontransaction tx(connection);
    if (tx.exec_params1("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND state = 'active' AND starts_with(query, $1)",
                        prefix)[0]
            .as<int>() > 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST_F(PostgresDriverTest, SignalCancelsTheStatementRollsBackAndReleasesTheLock) {
  for (int signal : {SIGINT, SIGTERM}) {
    migrations_.add("0001_slow", "CREATE TABLE t1 (id integer);\nSELECT pg_sleep(60);\n", "DROP TABLE t1;\n");
    ChildProcess up(MIGRATOR_BIN, {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "up"});
    ASSERT_TRUE(wait_for_query(backend_->url(), "SELECT pg_sleep(60)"));
    auto start = std::chrono::steady_clock::now();
    up.send(signal);
    CommandResult result = up.wait();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_EQ(result.exit_code, 130) << result.err;
    EXPECT_THAT(result.err,
                HasSubstr("migrator: interrupted: " + (migrations_.path() / "0001_slow" / "up.sql").string() +
                          ":2 was cancelled and the migration rolled back, nothing of it remains; the "
                          "migration lock is released"));
    EXPECT_EQ(backend_->count_rows("t1"), std::nullopt);
    EXPECT_TRUE(applied().empty());
    pqxx::connection connection(backend_->url());
    pqxx::nontransaction tx(connection);
    EXPECT_EQ(
        tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'")[0]
            .as<int>(),
        0);
    EXPECT_TRUE(tx.exec1("SELECT pg_try_advisory_lock(" + std::to_string(migrator::PostgresDriver::kLockKey) + ")")[0]
                    .as<bool>());
  }
}

TEST_F(PostgresDriverTest, WaitingForTheLockSaysSoEverySecondNamingTheHolder) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  pqxx::connection holder(backend_->url());
  pqxx::nontransaction hold(holder);
  int holder_pid = hold.exec1("SELECT pg_backend_pid()")[0].as<int>();
  hold.exec("SELECT pg_advisory_lock(" + std::to_string(migrator::PostgresDriver::kLockKey) + ")");
  CommandResult result = run_command(
      MIGRATOR_BIN, {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "--wait", "3", "up"});
  EXPECT_EQ(result.exit_code, 5);
  std::string waiting = "waiting for the migration lock, held by another run (pid " + std::to_string(holder_pid);
  EXPECT_THAT(result.err, HasSubstr(waiting + ", user "));
  EXPECT_THAT(result.err, HasSubstr("): 1 s\n"));
  EXPECT_THAT(result.err, HasSubstr("): 2 s\n"));
  EXPECT_THAT(result.err,
              HasSubstr("another run holds the migration lock (" + waiting.substr(waiting.find("pid")) + ", user "));
  EXPECT_THAT(result.err, HasSubstr("; gave up after 3 s\n"));
  EXPECT_EQ(backend_->count_rows("t1"), std::nullopt);

  ChildProcess waiter(MIGRATOR_BIN,
                      {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "--wait", "60", "up"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  waiter.send(SIGINT);
  CommandResult interrupted = waiter.wait();
  EXPECT_EQ(interrupted.exit_code, 130);
  EXPECT_THAT(interrupted.err, HasSubstr("interrupted while waiting for the migration lock; nothing was changed"));
}

TEST_F(PostgresDriverTest, TwoRunsStartedTogetherApplyOnceAndTheOtherExitsFive) {
  migrations_.add("0001_slow", "CREATE TABLE t1 (id integer);\nSELECT pg_sleep(1);\nINSERT INTO t1 VALUES (1);\n",
                  "DROP TABLE t1;\n");
  std::vector<std::string> args = {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "up"};
  ChildProcess first(MIGRATOR_BIN, args);
  ChildProcess second(MIGRATOR_BIN, args);
  CommandResult a = first.wait();
  CommandResult b = second.wait();
  std::vector<int> codes = {a.exit_code, b.exit_code};
  std::sort(codes.begin(), codes.end());
  EXPECT_THAT(codes, ElementsAre(0, 5)) << a.err << b.err;
  EXPECT_THAT(a.err + b.err, HasSubstr("another run holds the migration lock (pid "));
  EXPECT_EQ(backend_->count_rows("t1"), 1);
  EXPECT_EQ(applied().size(), 1u);
}

// Runs `sql` on the test database in autocommit and returns the first column of the first row as text
// ("" without rows).
std::string query(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction tx(connection);
  pqxx::result result = tx.exec(sql);
  return result.empty() || result[0][0].is_null() ? "" : result[0][0].as<std::string>();
}

TEST_F(PostgresDriverTest, ConcurrentIndexBuildsRunOutsideATransactionWithoutTheHeader) {
  migrations_.add("0001_table",
                  "CREATE TABLE t0 (id integer, b integer);\nINSERT INTO t0 SELECT g, g FROM "
                  "generate_series(1, 1000) g;\n",
                  "DROP TABLE t0;\n");
  migrations_.add("0002_indexes",
                  "CREATE INDEX CONCURRENTLY t0_id ON t0 (id);\nCREATE INDEX CONCURRENTLY t0_b ON public.t0 (b);\n",
                  "DROP INDEX CONCURRENTLY t0_b;\nDROP INDEX CONCURRENTLY t0_id;\n");
  Outcome result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, MatchesRegex("applied 0001_table \\([0-9]+ ms\\)\n"
                                       "applied 0002_indexes \\([0-9]+ ms, outside a transaction, statement by "
                                       "statement\\)\n"));
  EXPECT_EQ(query(backend_->url(),
                  "SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname) "
                  "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                  "WHERE i.indrelid = 't0'::regclass"),
            "t0_b:true,t0_id:true");
  EXPECT_EQ(applied().size(), 2u);
  // The session settings the statements ran with are reset afterwards.
  result = run([](migrator::Engine& engine) { engine.down_steps(1); });
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, HasSubstr("outside a transaction"));
  EXPECT_EQ(query(backend_->url(), "SELECT count(*) FROM pg_index WHERE indrelid = 't0'::regclass"), "0");
  EXPECT_EQ(applied().size(), 1u);
}

TEST_F(PostgresDriverTest, ConcurrentIndexMixedWithOtherStatementsIsRefusedBeforeAnythingRuns) {
  migrations_.add("0001_table", "CREATE TABLE t0 (id integer);\n", "DROP TABLE t0;\n");
  migrations_.add("0002_mixed",
                  "ALTER TABLE t0 ADD COLUMN b integer;\n-- then\nCREATE INDEX CONCURRENTLY t0_b ON "
                  "t0 (b);\n",
                  "ALTER TABLE t0 DROP COLUMN b;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.error, HasSubstr("0002_mixed/up.sql:3: 'CREATE INDEX CONCURRENTLY t0_b ON t0 (b)' cannot run "
                                      "inside a transaction block (CREATE INDEX CONCURRENTLY), but the other "
                                      "statements of this migration run in one; move it to a migration of its own, "
                                      "or declare '-- migrator: no-transaction'"));
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(backend_->count_rows("t0"), std::nullopt);  // not even 0001 ran
}

TEST_F(PostgresDriverTest, NoTransactionHeaderRunsEachStatementAndTheScriptsOwnTransactions) {
  migrations_.add("0001_outside",
                  "-- migrator: no-transaction, lock-timeout=1s\n"
                  "CREATE TABLE t0 (id integer);\n"
                  "BEGIN;\nINSERT INTO t0 VALUES (1);\nINSERT INTO t0 VALUES (2);\nCOMMIT;\n"
                  "CREATE INDEX CONCURRENTLY t0_id ON t0 (id);\n"
                  "VACUUM ANALYZE t0;\n",
                  "DROP TABLE t0;\n");
  Outcome result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_THAT(result.out, HasSubstr("applied 0001_outside"));
  EXPECT_EQ(backend_->count_rows("t0"), 2);
  EXPECT_EQ(query(backend_->url(), "SELECT indisvalid FROM pg_index WHERE indexrelid = 't0_id'::regclass"), "t");
  EXPECT_EQ(query(backend_->url(),
                  "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 't0' AND "
                  "last_vacuum IS NOT NULL"),
            "1");
}

TEST_F(PostgresDriverTest, FailedConcurrentIndexIsRecordedAndItsInvalidIndexReported) {
  migrations_.add("0001_table",
                  "CREATE TABLE t0 (a integer, b integer);\nINSERT INTO t0 SELECT g, g % 10 FROM "
                  "generate_series(1, 100) g;\n",
                  "DROP TABLE t0;\n");
  migrations_.add("0002_indexes",
                  "CREATE INDEX CONCURRENTLY t0_a ON t0 (a);\n\nCREATE UNIQUE INDEX CONCURRENTLY t0_b ON t0 (b);\n"
                  "CREATE INDEX CONCURRENTLY t0_ab ON t0 (a, b);\n",
                  "DROP INDEX CONCURRENTLY t0_ab;\nDROP INDEX CONCURRENTLY t0_b;\nDROP INDEX CONCURRENTLY t0_a;\n");
  Outcome result = up();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.error, HasSubstr("0002_indexes/up.sql:3: ERROR: could not create unique index \"t0_b\" "
                                      "(SQLSTATE 23505); 1 of 3 statements ran outside a transaction and remain "
                                      "(lines 1)\n0002_indexes is recorded as failed"));
  EXPECT_THAT(history(), ElementsAre("up 1 applied", "up 2 failed"));
  EXPECT_THAT(states(), ElementsAre("0001_table applied", "0002_indexes failed"));
  // An invalid index no migration built is reported apart.
  query(backend_->url(), "CREATE TABLE other (x integer); INSERT INTO other VALUES (1), (1)");
  EXPECT_THROW(query(backend_->url(), "CREATE UNIQUE INDEX CONCURRENTLY other_x ON other (x)"), pqxx::sql_error);

  result = run([](migrator::Engine& engine) { engine.print_status(); });
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.out, HasSubstr("0002  indexes  failed (up outside a transaction, started "));
  EXPECT_THAT(result.out,
              HasSubstr("; statements at lines 1 ran; " + (migrations_.path() / "0002_indexes" / "up.sql").string() +
                        ":3: ERROR: could "
                        "not create unique index \"t0_b\""));
  EXPECT_THAT(result.out, HasSubstr("invalid index public.t0_b on t0: left by the failed CREATE INDEX CONCURRENTLY "
                                    "at " +
                                    (migrations_.path() / "0002_indexes" / "up.sql").string() +
                                    ":3; `migrator resolve 2 --reverted` drops it\n"));
  EXPECT_THAT(result.out, HasSubstr("invalid index public.other_x on other: not built by a failed migration"));
  EXPECT_THAT(result.error, HasSubstr("migrations run outside a transaction did not finish:\n  0002_indexes failed"));
  EXPECT_EQ(up().exit_code, 3);

  // The operator undoes what ran (t0_a) and fixes the data; resolve drops the invalid index the failed
  // build left, and only that one; then up builds all three.
  query(backend_->url(), "DROP INDEX t0_a; UPDATE t0 SET b = a");
  result = run([](migrator::Engine& engine) { engine.resolve(2, /*applied=*/false); });
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(result.out, "resolved 0002_indexes: recorded as reverted, dropped invalid index public.t0_b\n");
  EXPECT_EQ(query(backend_->url(),
                  "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i "
                  "JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid"),
            "other_x");
  EXPECT_THAT(states(), ElementsAre("0001_table applied", "0002_indexes pending"));
  result = up();
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_EQ(query(backend_->url(),
                  "SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname) "
                  "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                  "WHERE i.indrelid = 't0'::regclass"),
            "t0_a:true,t0_ab:true,t0_b:true");
  EXPECT_THAT(history(), ElementsAre("up 1 applied", "up 2 failed", "resolve 2 reverted", "up 2 applied"));
}

TEST_F(PostgresDriverTest, StateTableFromBeforeTheFailedStateIsUpgradedInPlace) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations_.add("0002_outside",
                  "-- migrator: no-transaction\nCREATE TABLE t2 (id integer);\nSELECT * FROM nowhere;\n",
                  "DROP TABLE t2;\n");
  std::string sum = migrator::load_migrations(migrations_.path()).at(0).checksum;
  {
    pqxx::connection connection(backend_->url());
    pqxx::work tx(connection);
    tx.exec(  // the state as the release before the failed state created it, with 0001 applied
        "CREATE TABLE t1 (id integer);"
        "CREATE SCHEMA migrator;"
        "CREATE TABLE migrator.schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,"
        " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
        " applied_by text NOT NULL DEFAULT session_user, execution_ms bigint NOT NULL, directory text);"
        "CREATE TABLE migrator.history (id bigserial PRIMARY KEY, version bigint NOT NULL, name text NOT NULL,"
        " action text NOT NULL CHECK (action IN ('up', 'down', 'baseline')),"
        " outcome text NOT NULL CHECK (outcome IN ('applied', 'reverted', 'failed', 'interrupted')),"
        " at timestamptz NOT NULL DEFAULT clock_timestamp(), by text NOT NULL DEFAULT session_user,"
        " duration_ms bigint NOT NULL, migrator_version text NOT NULL, detail text NOT NULL DEFAULT '')");
    tx.exec_params(
        "INSERT INTO migrator.schema_migrations (version, name, checksum, execution_ms, directory) "
        "VALUES (1, 'first', $1, 3, '0001_first')",
        sum);
    tx.commit();
  }
  EXPECT_THAT(states(), ElementsAre("0001_first applied", "0002_outside pending"));
  EXPECT_EQ(up().exit_code, 1);
  EXPECT_THAT(states(), ElementsAre("0001_first applied", "0002_outside failed"));
  EXPECT_EQ(applied().size(), 1u);
  EXPECT_EQ(backend_->count_rows("t2"), 0);
}

// Runs the migrator binary on the test database; `args` follow the global options.
CommandResult migrator_on(const std::string& url, const std::filesystem::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"--database-url", url, "--dir", dir.string()});
  return run_command(MIGRATOR_BIN, args);
}

TEST_F(PostgresDriverTest, KillNineDuringATransactionalMigrationLeavesNothingAndUpAppliesItOnce) {
  query(backend_->url(), "CREATE TABLE knob (seconds integer); INSERT INTO knob VALUES (60)");
  migrations_.add("0001_first", "CREATE TABLE t0 (id integer);\n", "DROP TABLE t0;\n");
  migrations_.add("0002_slow",
                  "CREATE TABLE t1 (id integer);\nINSERT INTO t1 VALUES (1);\nSELECT pg_sleep(seconds) FROM knob;\n"
                  "INSERT INTO t1 VALUES (2);\n",
                  "DROP TABLE t1;\n");
  ChildProcess up_run(MIGRATOR_BIN, {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "up"});
  ASSERT_TRUE(wait_for_query(backend_->url(), "SELECT pg_sleep(seconds)"));
  up_run.send(SIGKILL);
  EXPECT_EQ(up_run.wait().exit_code, 128 + SIGKILL);
  query(backend_->url(), "UPDATE knob SET seconds = 0");

  CommandResult status = migrator_on(backend_->url(), migrations_.path(), {"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, MatchesRegex("0001  first  applied .*\n0002  slow   pending\n"));
  EXPECT_EQ(backend_->count_rows("t1"), std::nullopt);
  // The server aborts the dead client's statement within about a second (client_connection_check_interval),
  // which releases the lock; --wait covers that second.
  auto start = std::chrono::steady_clock::now();
  CommandResult up = migrator_on(backend_->url(), migrations_.path(), {"--wait", "30", "up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, MatchesRegex("applied 0002_slow \\([0-9]+ ms\\)\n"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(backend_->count_rows("t1"), 2);
  EXPECT_EQ(applied().size(), 2u);
  EXPECT_THAT(history(), ElementsAre("up 1 applied", "up 2 applied"));
  EXPECT_EQ(migrator_on(backend_->url(), migrations_.path(), {"up"}).out, "nothing to apply\n");
}

TEST_F(PostgresDriverTest, KillNineDuringANonTransactionalMigrationIsShownAndResolvable) {
  query(backend_->url(), "CREATE TABLE knob (seconds integer); INSERT INTO knob VALUES (60)");
  migrations_.add("0001_outside",
                  "-- migrator: no-transaction\n"
                  "CREATE TABLE t1 (id integer);\n"
                  "INSERT INTO t1 VALUES (1);\n"
                  "SELECT pg_sleep(seconds) FROM knob;\n"
                  "INSERT INTO t1 VALUES (2);\n",
                  "DROP TABLE t1;\n");
  ChildProcess up_run(MIGRATOR_BIN, {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "up"});
  ASSERT_TRUE(wait_for_query(backend_->url(), "SELECT pg_sleep(seconds)"));
  up_run.send(SIGKILL);
  EXPECT_EQ(up_run.wait().exit_code, 128 + SIGKILL);
  query(backend_->url(), "UPDATE knob SET seconds = 0");

  CommandResult status = migrator_on(backend_->url(), migrations_.path(), {"status"});
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_THAT(status.out, HasSubstr("0001  outside  interrupted (up outside a transaction, started "));
  EXPECT_THAT(status.out, HasSubstr("; the run died or still runs; statements at lines 2, 3 ran)\n"));
  EXPECT_EQ(backend_->count_rows("t1"), 1);
  CommandResult refused = migrator_on(backend_->url(), migrations_.path(), {"--wait", "30", "up"});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("refusing to run, nothing was changed:\n  0001_outside interrupted"));
  EXPECT_THAT(refused.err, HasSubstr("`migrator resolve 1 --reverted`"));

  // The operator undoes the statements that ran, resolves, and up runs the migration whole.
  query(backend_->url(), "DROP TABLE t1");
  CommandResult resolved = migrator_on(backend_->url(), migrations_.path(), {"resolve", "1", "--reverted"});
  EXPECT_EQ(resolved.exit_code, 0) << resolved.err;
  EXPECT_EQ(resolved.out, "resolved 0001_outside: recorded as reverted\n");
  CommandResult up = migrator_on(backend_->url(), migrations_.path(), {"up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("applied 0001_outside"));
  EXPECT_EQ(backend_->count_rows("t1"), 2);
  EXPECT_THAT(history(), ElementsAre("resolve 1 reverted", "up 1 applied"));
  EXPECT_EQ(migrator_on(backend_->url(), migrations_.path(), {"status"}).exit_code, 0);
}

TEST_F(PostgresDriverTest, TwoRunsDuringAConcurrentIndexBuildApplyOnceWithoutHangingOrInvalidIndexes) {
  query(backend_->url(),
        "CREATE TABLE t0 (a integer, b integer); INSERT INTO t0 SELECT g, g FROM generate_series(1, 100000) g");
  migrations_.add("0001_index",
                  "CREATE INDEX CONCURRENTLY t0_a ON t0 (a);\nCREATE INDEX CONCURRENTLY t0_b ON t0 (b);\n",
                  "DROP INDEX CONCURRENTLY t0_b;\nDROP INDEX CONCURRENTLY t0_a;\n");
  std::vector<std::string> args = {"--database-url", backend_->url(), "--dir", migrations_.path().string(), "up"};
  {  // started together: one applies, the other exits 5 at once
    ChildProcess first(MIGRATOR_BIN, args);
    ChildProcess second(MIGRATOR_BIN, args);
    CommandResult a = first.wait();
    CommandResult b = second.wait();
    std::vector<int> codes = {a.exit_code, b.exit_code};
    std::sort(codes.begin(), codes.end());
    EXPECT_THAT(codes, ElementsAre(0, 5)) << a.err << b.err;
  }
  EXPECT_EQ(applied().size(), 1u);
  ASSERT_EQ(down_steps(1).exit_code, 0);

  // A second run waiting for the lock while the build waits for old snapshots: its polling holds no
  // transaction open, so the build finishes, then the waiter finds nothing to apply.
  pqxx::connection reader(backend_->url());
  pqxx::work snapshot(reader, "snapshot");
  snapshot.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  snapshot.exec("SELECT count(*) FROM t0");
  auto start = std::chrono::steady_clock::now();
  ChildProcess building(MIGRATOR_BIN, args);
  ASSERT_TRUE(wait_for_query(backend_->url(), "CREATE INDEX CONCURRENTLY t0_a"));
  std::vector<std::string> wait_args = args;
  wait_args.insert(wait_args.begin(), {"--wait", "60"});
  ChildProcess waiting(MIGRATOR_BIN, wait_args);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(query(backend_->url(),
                  "SELECT wait_event_type FROM pg_stat_activity WHERE starts_with(query, "
                  "'CREATE INDEX CONCURRENTLY t0_a')"),
            "Lock");  // the build waits for the snapshot above, not for the waiting run
  snapshot.commit();
  CommandResult built = building.wait();
  CommandResult waited = waiting.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(built.exit_code, 0) << built.err;
  EXPECT_THAT(built.out, HasSubstr("applied 0001_index"));
  EXPECT_EQ(waited.exit_code, 0) << waited.err;
  EXPECT_EQ(waited.out, "nothing to apply\n");
  EXPECT_THAT(waited.err, HasSubstr("waiting for the migration lock, held by another run"));
  EXPECT_EQ(query(backend_->url(), "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  EXPECT_EQ(query(backend_->url(), "SELECT count(*) FROM pg_index WHERE indrelid = 't0'::regclass"), "2");
  EXPECT_EQ(applied().size(), 1u);
}

TEST_F(PostgresDriverTest, SyntaxOrRuntimeErrorInTheThirdOfFiveStatementsChangesNothing) {
  migrations_.add("0001_first", "CREATE TABLE t0 (id integer);\nINSERT INTO t0 VALUES (1);\n", "DROP TABLE t0;\n");
  ASSERT_EQ(up().exit_code, 0);
  std::string before = query(backend_->url(),
                             "SELECT md5(string_agg(t::text, ',' ORDER BY version)) FROM "
                             "migrator.schema_migrations t");
  for (bool no_transaction : {false, true}) {
    std::string header = no_transaction ? "-- migrator: no-transaction\n" : "";
    int offset = no_transaction ? 1 : 0;
    for (const char* third : {"INSERT INTO t0 VALUES (3) oops;\n", "INSERT INTO t0 VALUES ('three');\n"}) {
      migrations_.add("0002_five",
                      header + "CREATE TABLE t1 (id integer);\nINSERT INTO t0 VALUES (2);\n" + third +
                          "INSERT INTO t0 VALUES (4);\nCREATE TABLE t2 (id integer);\n",
                      "DROP TABLE t2;\nDROP TABLE t1;\n");
      Outcome result = up();
      bool syntax = std::string(third).find("oops") != std::string::npos;
      EXPECT_EQ(result.exit_code, 1);
      EXPECT_THAT(result.error, HasSubstr("0002_five/up.sql:" + std::to_string(3 + offset) + ": "));
      EXPECT_THAT(result.error, HasSubstr(syntax ? "syntax error at or near \"oops\""
                                                 : "invalid input syntax for type integer: \"three\""));
      if (!no_transaction || syntax) {  // refused before anything ran, or rolled back whole
        EXPECT_EQ(backend_->count_rows("t1"), std::nullopt) << third;
        EXPECT_EQ(backend_->count_rows("t0"), 1) << third;
        EXPECT_EQ(query(backend_->url(),
                        "SELECT md5(string_agg(t::text, ',' ORDER BY version)) FROM "
                        "migrator.schema_migrations t"),
                  before);
      } else {  // outside a transaction: the two statements before it remain, and it says so
        EXPECT_THAT(result.error, HasSubstr("2 of 5 statements ran outside a transaction and remain (lines 2, 3)"));
        EXPECT_EQ(backend_->count_rows("t0"), 2);
        EXPECT_THAT(states(), ElementsAre("0001_first applied", "0002_five failed"));
      }
    }
  }
}

TEST_F(PostgresDriverTest, ALongMigrationShowsAProgressLineOnATerminalOnly) {
  migrations_.add("0001_slow", "CREATE TABLE t1 (id integer);\nSELECT pg_sleep(3.5);\nINSERT INTO t1 VALUES (1);\n",
                  "DROP TABLE t1;\n");
  std::string up_sql = (migrations_.path() / "0001_slow" / "up.sql").string();
  // Through a pipe (as in CI): no progress line, nothing but the result.
  CommandResult piped = migrator_on(backend_->url(), migrations_.path(), {"up"});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err, "");
  EXPECT_THAT(piped.out, MatchesRegex("applied 0001_slow \\([0-9]+ ms\\)\n"));
  ASSERT_EQ(down_steps(1).exit_code, 0);

  // On a terminal (script(1) gives the run a pseudo-terminal): redrawn about once a second, then erased.
  std::string command =
      std::string(MIGRATOR_BIN) + " --database-url \"$MIGRATOR_URL\" --dir '" + migrations_.path().string() + "' up";
  CommandResult terminal = run_command(
      "/usr/bin/env", {"TERM=xterm", "MIGRATOR_URL=" + backend_->url(), "script", "-qfec", command, "/dev/null"});
  ASSERT_EQ(terminal.exit_code, 0) << terminal.err;
  std::string line = "\r\033[K  " + up_sql + ": statement 2/3, ";
  EXPECT_THAT(terminal.out, HasSubstr(line + "1 s"));
  EXPECT_THAT(terminal.out, HasSubstr(line + "2 s"));
  EXPECT_THAT(terminal.out, HasSubstr(" s\r\033[Kapplied 0001_slow ("));  // erased before the result
  EXPECT_EQ(backend_->count_rows("t1"), 1);
}

// Applies and reverts are recorded by statements prepared once per session: a script that
// deallocates prepared statements, all or its own, does not keep the later ones from being recorded.
TEST_F(PostgresDriverTest, RecordsAreWrittenAfterScriptsThatDeallocatePreparedStatements) {
  migrations_.add("0001_first", "CREATE TABLE t1 (id integer);\n", "DROP TABLE t1;\n");
  migrations_.add("0002_second", "PREPARE mine AS SELECT 1;\nDEALLOCATE mine;\nCREATE TABLE t2 (id integer);\n",
                  "PREPARE mine AS SELECT 1;\nDEALLOCATE mine;\nDROP TABLE t2;\n");
  migrations_.add("0003_third", "CREATE TABLE t3 (id integer);\n", "DROP TABLE t3;\n");
  migrations_.add("0004_fourth", "DEALLOCATE ALL;\nCREATE TABLE t4 (id integer);\n",
                  "DEALLOCATE ALL;\nDROP TABLE t4;\n");
  migrations_.add("0005_fifth", "CREATE TABLE t5 (id integer);\n", "DROP TABLE t5;\n");
  ASSERT_EQ(up().exit_code, 0);
  Outcome result = down_to(0);
  ASSERT_EQ(result.exit_code, 0) << result.error;
  EXPECT_TRUE(applied().empty());
  EXPECT_THAT(history(), ElementsAre("up 1 applied", "up 2 applied", "up 3 applied", "up 4 applied", "up 5 applied",
                                     "down 5 reverted", "down 4 reverted", "down 3 reverted", "down 2 reverted",
                                     "down 1 reverted"));
  for (const char* table : {"t1", "t2", "t3", "t4", "t5"}) EXPECT_EQ(backend_->count_rows(table), std::nullopt);
}

// up and down of SQL migrations run on the one connection that holds the lock: no second session
// sits idle through the run (the server would make it catch up with every catalog change).
TEST_F(PostgresDriverTest, UpAndDownOfSqlMigrationsUseOneConnection) {
  const std::string others =
      "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
      "AND backend_type = 'client backend')";
  migrations_.add("0001_sessions", "CREATE TABLE sessions (action text, others bigint);\n", "DROP TABLE sessions;\n");
  migrations_.add("0002_count", "INSERT INTO sessions SELECT 'up', " + others + ";\n",
                  "INSERT INTO sessions SELECT 'down', " + others + ";\n");
  std::vector<std::string> args = {"--database-url", backend_->url(), "--dir", migrations_.path().string()};
  auto run = [&](std::vector<std::string> command) {
    command.insert(command.begin(), args.begin(), args.end());
    return run_command(MIGRATOR_BIN, command);
  };
  CommandResult up = run({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  CommandResult down = run({"down", "--no-backup"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(
      query(backend_->url(), "SELECT string_agg(action || ' ' || others, ', ' ORDER BY action DESC) FROM sessions"),
      "up 0, down 0");
}

TEST(PostgresDriver, UnreachableServerIsADatabaseError) {
  try {
    migrator::PostgresDriver driver("postgresql://127.0.0.1:1/none?connect_timeout=2", migrator::DriverOptions{});
    FAIL() << "connected to port 1";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kDatabase);
    EXPECT_THAT(e.what(), HasSubstr("cannot connect to PostgreSQL"));
  }
}

}  // namespace
}  // namespace migrator_test
