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

  migrator::DriverOptions options;
  options.lock_timeout_ms = 100;
  options.lock_retries = 2;
  options.retry_backoff_ms = 100;
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
  std::thread release([&] {
    pqxx::connection watcher(backend_->url());
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
  options.lock_retries = 5;
  std::ostringstream more;
  error = up_with(backend_->url(), migrations_.path(), options, &more);
  release.join();
  EXPECT_EQ(error, "");
  EXPECT_THAT(more.str(), HasSubstr("retry 1 of 5"));
  EXPECT_EQ(backend_->count_rows("t1"), 0);
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
