// `up --dry-run` and `down --dry-run` on PostgreSQL, through the executable: the report's locks,
// rewrites and row counts, and a pg_dump of the database byte for byte the same before and after.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "migrator/pg_test_database.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

class DryRunPg : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string problem;
    database_ = TestDatabase::create(&problem);
    ASSERT_NE(database_, nullptr) << problem;
  }

  CommandResult migrator(std::vector<std::string> args) {
    std::vector<std::string> all = {"--database-url", database_->url(), "--dir", migrations_.path().string()};
    all.insert(all.end(), args.begin(), args.end());
    return run_command(MIGRATOR_BIN, all);
  }

  // pg_dump's plain output of the test database, read back from a file.
  std::string dump() {
    std::filesystem::path file = scratch_.path() / ("dump" + std::to_string(++dumps_) + ".sql");
    CommandResult result = run_command(pg_bindir() + "/pg_dump", {"--dbname", database_->url(), "--restrict-key",
                                                                  "migratortest", "--file", file.string()});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
  }

  std::unique_ptr<TestDatabase> database_;
  MigrationsDir migrations_;
  TempDir scratch_;
  int dumps_ = 0;
};

// The statements of the report's one migration, by line.
std::map<int, nlohmann::json> statements_by_line(const nlohmann::json& report, size_t migration) {
  std::map<int, nlohmann::json> by_line;
  for (const nlohmann::json& statement : report.at("migrations").at(migration).at("statements")) {
    by_line[statement.at("line").get<int>()] = statement;
  }
  return by_line;
}

nlohmann::json lock(const std::string& relation, const std::string& mode) {
  return {{"relation", relation}, {"mode", mode}};
}

TEST_F(DryRunPg, ReportsLocksRewritesAndRowsAndChangesNothing) {
  migrations_.add("0001_accounts",
                  "CREATE TABLE accounts (id bigint PRIMARY KEY, plan text, score integer);\n"
                  "INSERT INTO accounts SELECT g, 'free', g FROM generate_series(1, 100) g;\n",
                  "DROP TABLE accounts;\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  migrations_.add(
      "0002_events",
      // A table, an index on it, an update, a rewriting type change, and a statement that cannot
      // run in a transaction (so the migration declares no-transaction).
      "-- migrator: no-transaction\n"
      "CREATE TABLE events (id bigint PRIMARY KEY, account_id bigint);\n"
      "CREATE INDEX events_account ON events (account_id);\n"
      "UPDATE accounts SET plan = 'pro' WHERE id <= 10;\n"
      "ALTER TABLE accounts ALTER COLUMN score TYPE bigint;\n"
      "CREATE INDEX CONCURRENTLY accounts_plan ON accounts (plan);\n",
      "DROP INDEX accounts_plan;\nALTER TABLE accounts ALTER COLUMN score TYPE integer;\nDROP TABLE events;\n");
  migrations_.add("0003_events_kind", "ALTER TABLE events ADD COLUMN kind text;\nUPDATE events SET kind = 'x';\n",
                  "ALTER TABLE events DROP COLUMN kind;\n");
  std::string history_before = database_->query_value("SELECT count(*) FROM migrator.history");
  std::string before = dump();

  CommandResult result = migrator({"--json", "up", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json report = nlohmann::json::parse(result.out)["dry_run"];
  EXPECT_EQ(report.at("command"), "up");
  EXPECT_EQ(report.at("error"), nullptr);
  ASSERT_EQ(report.at("migrations").size(), 2u);
  EXPECT_EQ(report["migrations"][0]["migration"], "0002_events");
  std::map<int, nlohmann::json> statements = statements_by_line(report, 0);
  ASSERT_EQ(statements.size(), 5u);

  EXPECT_EQ(statements[2]["command_tag"], "CREATE TABLE");
  EXPECT_THAT(statements[2]["locks"], Contains(lock("public.events", "AccessExclusiveLock")));
  EXPECT_EQ(statements[3]["command_tag"], "CREATE INDEX");
  EXPECT_THAT(statements[3]["locks"], Contains(lock("public.events_account", "AccessExclusiveLock")));
  EXPECT_EQ(statements[4]["command_tag"], "UPDATE");
  EXPECT_EQ(statements[4]["rows"], 10);
  EXPECT_EQ(statements[4]["locks"].front(), lock("public.accounts", "RowExclusiveLock"));
  EXPECT_EQ(statements[4]["rewritten"], nlohmann::json::array());
  EXPECT_EQ(statements[5]["command_tag"], "ALTER TABLE");
  EXPECT_THAT(statements[5]["locks"], Contains(lock("public.accounts", "AccessExclusiveLock")));
  EXPECT_EQ(statements[5]["rewritten"], nlohmann::json::array({"public.accounts"}));
  EXPECT_EQ(statements[6]["executed"], false);
  EXPECT_THAT(statements[6]["not_executed_reason"].get<std::string>(), HasSubstr("CREATE INDEX CONCURRENTLY"));
  for (const auto& [line, statement] : statements) {
    if (statement["executed"] == true) {
      EXPECT_GE(statement["duration_ms"].get<double>(), 0.0) << line;
    }
  }
  // 0003 ran after 0002 in the same transaction: it saw the events table.
  std::map<int, nlohmann::json> later = statements_by_line(report, 1);
  EXPECT_EQ(later[1]["command_tag"], "ALTER TABLE");
  // Locks are reported by the statement that first takes them: 0002 created events, so its
  // AccessExclusiveLock is already held here.
  EXPECT_EQ(later[1]["locks"], nlohmann::json::array());
  EXPECT_EQ(later[1]["rewritten"], nlohmann::json::array());  // a nullable column without default
  EXPECT_EQ(later[2]["command_tag"], "UPDATE");
  EXPECT_EQ(later[2]["rows"], 0);

  EXPECT_EQ(dump(), before);  // byte for byte
  EXPECT_EQ(database_->query_value("SELECT count(*) FROM migrator.history"), history_before);
  EXPECT_EQ(database_->query_value("SELECT string_agg(version::text, ',') FROM migrator.schema_migrations"), "1");

  CommandResult text = migrator({"up", "--dry-run"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("0002_events (up)"));
  EXPECT_THAT(text.out, HasSubstr("REWRITES public.accounts"));
  EXPECT_THAT(text.out, HasSubstr("not executed  CREATE INDEX CONCURRENTLY cannot run inside a transaction"));
  EXPECT_THAT(text.out, HasSubstr("rolled back: nothing was changed"));
  EXPECT_EQ(dump(), before);
}

TEST_F(DryRunPg, DownDryRunRevertsNothing) {
  migrations_.add("0001_accounts",
                  "CREATE TABLE accounts (id bigint PRIMARY KEY);\nINSERT INTO accounts VALUES (1), (2);\n",
                  "DELETE FROM accounts;\nDROP TABLE accounts;\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  std::string before = dump();
  CommandResult result = migrator({"--json", "down", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json report = nlohmann::json::parse(result.out)["dry_run"];
  EXPECT_EQ(report["command"], "down");
  std::map<int, nlohmann::json> statements = statements_by_line(report, 0);
  EXPECT_EQ(statements[1]["rows"], 2);
  EXPECT_THAT(statements[2]["locks"], Contains(lock("public.accounts (dropped)", "AccessExclusiveLock")));
  EXPECT_EQ(dump(), before);
  EXPECT_EQ(database_->query_value("SELECT count(*) FROM accounts"), "2");
}

TEST_F(DryRunPg, FreshDatabaseGetsNoStateSchema) {
  migrations_.add("0001_accounts", "CREATE TABLE accounts (id bigint PRIMARY KEY);\n", "DROP TABLE accounts;\n");
  CommandResult result = migrator({"up", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("0001_accounts (up)"));
  EXPECT_EQ(database_->query_value("SELECT to_regnamespace('migrator') IS NULL"), "t");
  EXPECT_EQ(database_->query_value("SELECT to_regclass('public.accounts') IS NULL"), "t");
}

TEST_F(DryRunPg, FailingStatementNamesFileAndLineAndExitsOne) {
  migrations_.add("0001_accounts", "CREATE TABLE accounts (id bigint PRIMARY KEY);\nSELECT missing FROM accounts;\n",
                  "DROP TABLE accounts;\n");
  CommandResult result = migrator({"up", "--dry-run"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("0001_accounts/up.sql:2: ERROR: column \"missing\" does not exist"));
  EXPECT_THAT(result.out, HasSubstr("rolled back: nothing was changed"));
  EXPECT_EQ(database_->query_value("SELECT to_regclass('public.accounts') IS NULL"), "t");
}

TEST_F(DryRunPg, ReportsTheSequencesItAdvanced) {
  migrations_.add("0001_counter", "CREATE SEQUENCE counter;\n", "DROP SEQUENCE counter;\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  migrations_.add("0002_take", "SELECT nextval('counter');\n", "SELECT 1;\n");
  CommandResult result = migrator({"--json", "up", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json report = nlohmann::json::parse(result.out)["dry_run"];
  EXPECT_EQ(report["sequences_advanced"],
            nlohmann::json::array({{{"sequence", "public.counter"}, {"before", ""}, {"after", "1"}}}));
}

}  // namespace
}  // namespace migrator_test
