// Dry runs without a server: statements recognised from the parse tree, and the SQLite dry run
// through the executable (row counts, nothing persists).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "migrator/drivers/dry_run.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;

TEST(WhyNotInTransaction, RecognisesStatementsPostgresRefusesInATransactionBlock) {
  EXPECT_EQ(migrator::why_not_in_transaction("CREATE INDEX CONCURRENTLY i ON t (a)"),
            "CREATE INDEX CONCURRENTLY cannot run inside a transaction");
  EXPECT_EQ(migrator::why_not_in_transaction("drop index concurrently if exists i"),
            "DROP INDEX CONCURRENTLY cannot run inside a transaction");
  EXPECT_EQ(migrator::why_not_in_transaction("REINDEX INDEX CONCURRENTLY i"),
            "REINDEX CONCURRENTLY cannot run inside a transaction");
  EXPECT_EQ(migrator::why_not_in_transaction("VACUUM (ANALYZE) t"), "VACUUM cannot run inside a transaction");
  EXPECT_EQ(migrator::why_not_in_transaction("ALTER SYSTEM SET work_mem = '64MB'"),
            "ALTER SYSTEM cannot run inside a transaction");
  EXPECT_EQ(migrator::why_not_in_transaction("CREATE DATABASE other"),
            "CREATE DATABASE cannot run inside a transaction");
  EXPECT_EQ(migrator::why_not_in_transaction("CLUSTER"), "CLUSTER without a table cannot run inside a transaction");
}

TEST(WhyNotInTransaction, AcceptsTheirTransactionalFormsAndLookalikes) {
  for (const char* sql : {"CREATE INDEX i ON t (a)", "DROP INDEX i", "REINDEX INDEX i", "ANALYZE t",
                          "CLUSTER t USING i", "SELECT 'CREATE INDEX CONCURRENTLY i ON t (a)'", "-- VACUUM\nSELECT 1",
                          "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT 1 $$", "not sql at all"}) {
    EXPECT_EQ(migrator::why_not_in_transaction(sql), "") << sql;
  }
}

TEST(CommandTag, NamesTheStatementFromItsParseTree) {
  EXPECT_EQ(migrator::command_tag_of("update t set a = 1"), "UPDATE");
  EXPECT_EQ(migrator::command_tag_of("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"), "INSERT");
  EXPECT_EQ(migrator::command_tag_of("CREATE UNIQUE INDEX i ON t (a)"), "CREATE INDEX");
  EXPECT_EQ(migrator::command_tag_of("ALTER TABLE t ADD COLUMN b int"), "ALTER TABLE");
  EXPECT_EQ(migrator::command_tag_of("ALTER INDEX i RENAME TO j"), "ALTER INDEX");
  EXPECT_EQ(migrator::command_tag_of("DROP TABLE t, u"), "DROP TABLE");
  EXPECT_EQ(migrator::command_tag_of("CREATE MATERIALIZED VIEW v AS SELECT 1"), "CREATE MATERIALIZED VIEW");
  EXPECT_EQ(migrator::command_tag_of("CREATE POLICY p ON t USING (true)"), "CREATE POLICY");
  EXPECT_EQ(migrator::command_tag_of("SELECT 1; SELECT 2"), "");
}

TEST(StatementPreview, FirstLineShortened) {
  EXPECT_EQ(migrator::statement_preview("UPDATE t SET a = 1"), "UPDATE t SET a = 1");
  EXPECT_EQ(migrator::statement_preview("UPDATE t\nSET a = 1"), "UPDATE t...");
  EXPECT_EQ(migrator::statement_preview(std::string(70, 'x')), std::string(57, 'x') + "...");
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

TEST(SqliteDryRun, ReportsRowsPerStatementAndLeavesTheFileUnchanged) {
  MigrationsDir migrations;
  TempDir scratch;
  std::string url = "sqlite:" + (scratch.path() / "app.db").string();
  migrations.add("0001_accounts",
                 "CREATE TABLE accounts (id INTEGER PRIMARY KEY, plan TEXT);\n"
                 "INSERT INTO accounts (plan) VALUES ('free'), ('free'), ('free');\n",
                 "DROP TABLE accounts;\n");
  auto migrator = [&](std::vector<std::string> args) {
    std::vector<std::string> all = {"--database-url", url, "--dir", migrations.path().string()};
    all.insert(all.end(), args.begin(), args.end());
    return run_command(MIGRATOR_BIN, all);
  };
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  migrations.add("0002_plans",
                 "UPDATE accounts SET plan = 'pro' WHERE id <= 2;\n"
                 "CREATE TABLE events (id INTEGER PRIMARY KEY);\n"
                 "  SELECT * FROM accounts;\n",
                 "DROP TABLE events;\n");
  migrations.add("0003_more", "INSERT INTO events SELECT id FROM accounts;\nDELETE FROM accounts;\n",
                 "DELETE FROM events;\n");
  std::string before = read_bytes(scratch.path() / "app.db");

  CommandResult result = migrator({"--json", "up", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json report = nlohmann::json::parse(result.out)["dry_run"];
  EXPECT_EQ(report["database"], "sqlite");
  ASSERT_EQ(report["migrations"].size(), 2u);
  const nlohmann::json& plans = report["migrations"][0]["statements"];
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[0]["command_tag"], "UPDATE");
  EXPECT_EQ(plans[0]["rows"], 2);
  EXPECT_EQ(plans[1]["command_tag"], "CREATE TABLE");
  EXPECT_EQ(plans[1]["rows"], nullptr);
  EXPECT_EQ(plans[2]["line"], 3);
  EXPECT_EQ(plans[2]["rows"], 3);
  const nlohmann::json& more = report["migrations"][1]["statements"];
  EXPECT_EQ(more[0]["rows"], 3);  // sees the table 0002 created
  EXPECT_EQ(more[1]["rows"], 3);
  EXPECT_EQ(read_bytes(scratch.path() / "app.db"), before);

  CommandResult status = migrator({"status"});
  EXPECT_THAT(status.out, HasSubstr("0002  plans     pending"));

  CommandResult down = migrator({"down", "--dry-run"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, HasSubstr("0001_accounts (down)"));
  EXPECT_THAT(down.out, HasSubstr("DROP TABLE"));
  EXPECT_EQ(read_bytes(scratch.path() / "app.db"), before);

  nlohmann::json redo = nlohmann::json::parse(migrator({"--json", "redo", "--dry-run"}).out)["dry_run"];
  ASSERT_EQ(redo["migrations"].size(), 2u);
  EXPECT_EQ(redo["migrations"][0]["action"], "down");
  EXPECT_EQ(redo["migrations"][1]["action"], "up");
  EXPECT_EQ(redo["migrations"][1]["statements"][1]["rows"], 3);  // the INSERT, after down dropped the table
  EXPECT_EQ(read_bytes(scratch.path() / "app.db"), before);
}

TEST(SqliteDryRun, FailureNamesFileAndLineExitsOneAndKeepsNothing) {
  MigrationsDir migrations;
  TempDir scratch;
  std::string url = "sqlite:" + (scratch.path() / "app.db").string();
  migrations.add("0001_accounts", "CREATE TABLE accounts (id INTEGER PRIMARY KEY);\n", "DROP TABLE accounts;\n");
  ASSERT_EQ(run_command(MIGRATOR_BIN, {"--database-url", url, "--dir", migrations.path().string(), "up"}).exit_code, 0);
  migrations.add("0002_bad", "INSERT INTO accounts VALUES (1);\n\nINSERT INTO nowhere VALUES (1);\n",
                 "DELETE FROM accounts;\n");
  CommandResult result =
      run_command(MIGRATOR_BIN, {"--database-url", url, "--dir", migrations.path().string(), "up", "--dry-run"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("0002_bad/up.sql:3: ERROR: no such table: nowhere"));
  CommandResult status =
      run_command(MIGRATOR_BIN, {"--database-url", url, "--dir", migrations.path().string(), "status"});
  EXPECT_THAT(status.out, HasSubstr("0002  bad       pending"));
}

TEST(SqliteDryRun, HelpDocumentsDryRunAndJson) {
  for (const char* command : {"up", "down", "redo"}) {
    EXPECT_THAT(run_command(MIGRATOR_BIN, {command, "--help"}).out, HasSubstr("--dry-run")) << command;
  }
  EXPECT_THAT(run_command(MIGRATOR_BIN, {"--help"}).out, HasSubstr("--json"));
}

}  // namespace
}  // namespace migrator_test
