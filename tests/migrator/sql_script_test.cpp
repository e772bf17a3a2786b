// Statement splitting and line numbers.
#include "migrator/source/sql_script.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "migrator/error.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;

TEST(LineAt, CountsNewlinesBeforeOffset) {
  std::string text = "a\nbc\n\nd";
  EXPECT_EQ(migrator::line_at(text, 0), 1);
  EXPECT_EQ(migrator::line_at(text, 1), 1);  // the '\n' itself is on line 1
  EXPECT_EQ(migrator::line_at(text, 2), 2);
  EXPECT_EQ(migrator::line_at(text, 5), 3);
  EXPECT_EQ(migrator::line_at(text, 6), 4);
  EXPECT_EQ(migrator::line_at(text, 100), 4);
}

TEST(SkipBlankAndComments, SkipsWhitespaceLineAndBlockComments) {
  std::string text = "  \n-- note ; here\n /* block\n */ SELECT 1;";
  EXPECT_EQ(text.substr(migrator::skip_blank_and_comments(text, 0, true)), "SELECT 1;");
  EXPECT_EQ(migrator::skip_blank_and_comments("   -- only a comment", 0, true), 20u);
  EXPECT_EQ(migrator::skip_blank_and_comments("SELECT", 0, true), 0u);
}

TEST(SkipBlankAndComments, BlockCommentsNestOnlyWhenAsked) {
  std::string text = "/* a /* b */ c */ X";
  EXPECT_EQ(text.substr(migrator::skip_blank_and_comments(text, 0, true)), "X");
  EXPECT_EQ(text.substr(migrator::skip_blank_and_comments(text, 0, false)), "c */ X");
}

TEST(Utf8ByteOffset, CountsCharactersNotBytes) {
  std::string text = "h\xC3\xA9llo";  // "héllo"
  EXPECT_EQ(migrator::utf8_byte_offset(text, 0), 0u);
  EXPECT_EQ(migrator::utf8_byte_offset(text, 1), 1u);
  EXPECT_EQ(migrator::utf8_byte_offset(text, 2), 3u);
  EXPECT_EQ(migrator::utf8_byte_offset(text, 10), text.size());
}

TEST(SplitPostgresScript, GivesEachStatementFromItsFirstTokenWithItsLine) {
  std::string script =
      "-- header comment\n"
      "CREATE TABLE t (id int);\n"
      "\n"
      "/* about the function */\n"
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
      "INSERT INTO t VALUES (';'); INSERT INTO t\n"
      "  VALUES (2)";
  std::vector<migrator::Statement> statements = migrator::split_postgres_script(script, "up.sql");
  ASSERT_EQ(statements.size(), 4u);
  EXPECT_EQ(statements[0].text, "CREATE TABLE t (id int)");
  EXPECT_EQ(statements[0].line, 2);
  EXPECT_EQ(statements[1].text, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$");
  EXPECT_EQ(statements[1].line, 5);
  EXPECT_EQ(statements[2].text, "INSERT INTO t VALUES (';')");
  EXPECT_EQ(statements[2].line, 6);
  EXPECT_EQ(statements[3].text, "INSERT INTO t\n  VALUES (2)");
  EXPECT_EQ(statements[3].line, 6);
}

TEST(SplitPostgresScript, EmptyOrCommentOnlyScriptHasNoStatements) {
  EXPECT_TRUE(migrator::split_postgres_script("", "up.sql").empty());
  EXPECT_TRUE(migrator::split_postgres_script("-- nothing\n/* to do */\n", "up.sql").empty());
}

TEST(SplitPostgresScript, SyntaxErrorNamesPathAndLine) {
  for (const std::string prefix : {"", "-- caf\xC3\xA9 \xC3\xA9\xC3\xA9\xC3\xA9\n"}) {
    std::string script = prefix + "SELECT 1;\n\nSELECT 2 FROM;\n";
    try {
      migrator::split_postgres_script(script, "m/0001_x/up.sql");
      ADD_FAILURE() << "no syntax error";
    } catch (const migrator::Error& e) {
      EXPECT_EQ(e.code(), migrator::ExitCode::kMigrationFailed);
      int line = prefix.empty() ? 3 : 4;
      EXPECT_THAT(e.what(), HasSubstr("m/0001_x/up.sql:" + std::to_string(line) + ": syntax error at or near \";\""));
    }
  }
}

TEST(SplitPostgresScript, NamesEachStatementsNodeAndTransactionControl) {
  std::vector<migrator::Statement> statements = migrator::split_postgres_script(
      "CREATE TABLE t (id int);\n"
      "-- ROLLBACK; in a comment is nothing\n"
      "SELECT 'COMMIT;';\n"
      "SAVEPOINT s; ROLLBACK TO SAVEPOINT s; RELEASE s;\n"
      "BEGIN; COMMIT; END; ROLLBACK; ABORT; START TRANSACTION; PREPARE TRANSACTION 'x'; COMMIT PREPARED 'x';\n"
      "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;\n",
      "up.sql");
  std::vector<std::string> nodes;
  std::vector<bool> control;
  for (const migrator::Statement& statement : statements) {
    nodes.push_back(statement.node);
    control.push_back(statement.transaction_control);
  }
  EXPECT_THAT(nodes, ::testing::ElementsAre("CreateStmt", "SelectStmt", "TransactionStmt", "TransactionStmt",
                                            "TransactionStmt", "TransactionStmt", "TransactionStmt", "TransactionStmt",
                                            "TransactionStmt", "TransactionStmt", "TransactionStmt", "TransactionStmt",
                                            "TransactionStmt", "CreateFunctionStmt"));
  EXPECT_THAT(control, ::testing::ElementsAre(false, false, false, false, false, true, true, true, true, true, true,
                                              true, true, false));
}

}  // namespace
}  // namespace migrator_test

namespace migrator_test {
namespace {

std::string refused(const std::string& sql) {
  std::vector<migrator::Statement> statements = migrator::split_postgres_script(sql, "up.sql");
  EXPECT_EQ(statements.size(), 1u) << sql;
  return statements.empty() ? "?" : statements[0].refused_in_transaction;
}

TEST(SplitPostgresScript, RecognisesStatementsRefusedInATransactionBlockFromTheTree) {
  EXPECT_EQ(refused("CREATE INDEX CONCURRENTLY i ON t (a)"), "CREATE INDEX CONCURRENTLY");
  EXPECT_EQ(refused("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)"), "CREATE INDEX CONCURRENTLY");
  EXPECT_EQ(refused("DROP INDEX CONCURRENTLY IF EXISTS i"), "DROP INDEX CONCURRENTLY");
  EXPECT_EQ(refused("REINDEX INDEX CONCURRENTLY i"), "REINDEX CONCURRENTLY");
  EXPECT_EQ(refused("REINDEX (VERBOSE) TABLE CONCURRENTLY t"), "REINDEX CONCURRENTLY");
  EXPECT_EQ(refused("REINDEX DATABASE d"), "REINDEX DATABASE");
  EXPECT_EQ(refused("REINDEX SCHEMA s"), "REINDEX SCHEMA");
  EXPECT_EQ(refused("VACUUM t"), "VACUUM");
  EXPECT_EQ(refused("VACUUM (ANALYZE) t"), "VACUUM");
  EXPECT_EQ(refused("VACUUM ANALYZE"), "VACUUM");
  EXPECT_EQ(refused("CLUSTER"), "CLUSTER");
  EXPECT_EQ(refused("ALTER SYSTEM SET work_mem = '8MB'"), "ALTER SYSTEM");
  EXPECT_EQ(refused("CREATE DATABASE d"), "CREATE DATABASE");
  EXPECT_EQ(refused("DROP DATABASE IF EXISTS d"), "DROP DATABASE");
  EXPECT_EQ(refused("ALTER DATABASE d SET TABLESPACE x"), "ALTER DATABASE SET TABLESPACE");
  EXPECT_EQ(refused("CREATE TABLESPACE x LOCATION '/x'"), "CREATE TABLESPACE");
  EXPECT_EQ(refused("DROP TABLESPACE x"), "DROP TABLESPACE");
  EXPECT_EQ(refused("DISCARD ALL"), "DISCARD ALL");
  EXPECT_EQ(refused("CREATE SUBSCRIPTION s CONNECTION 'dbname=x' PUBLICATION p"),
            "CREATE SUBSCRIPTION ... WITH (create_slot = true)");
  EXPECT_EQ(refused("DROP SUBSCRIPTION s"), "DROP SUBSCRIPTION");
  EXPECT_EQ(refused("ALTER SUBSCRIPTION s REFRESH PUBLICATION"), "ALTER SUBSCRIPTION ... REFRESH");
  EXPECT_EQ(refused("ALTER TABLE t DETACH PARTITION p CONCURRENTLY"), "ALTER TABLE ... DETACH PARTITION CONCURRENTLY");
  // What PostgreSQL 15 runs in a transaction block.
  for (const char* fine :
       {"CREATE INDEX i ON t (a)", "DROP INDEX i", "REINDEX INDEX i", "REINDEX TABLE t", "ANALYZE t", "ANALYZE",
        "CLUSTER t USING i", "ALTER TYPE mood ADD VALUE 'meh'", "DISCARD PLANS", "ALTER DATABASE d SET work_mem = 1",
        "CREATE SUBSCRIPTION s CONNECTION 'dbname=x' PUBLICATION p WITH (create_slot = false)",
        "CREATE SUBSCRIPTION s CONNECTION 'dbname=x' PUBLICATION p WITH (connect = off)",
        "ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)", "ALTER TABLE t DETACH PARTITION p",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY v", "SELECT 'CREATE INDEX CONCURRENTLY i ON t (a)'",
        "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'VACUUM'"}) {
    EXPECT_EQ(refused(fine), "") << fine;
  }
}

TEST(SplitPostgresScript, NamesTheIndexACreateIndexConcurrentlyBuilds) {
  std::vector<migrator::Statement> statements = migrator::split_postgres_script(
      "CREATE INDEX CONCURRENTLY users_email ON app.users (email);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
      "up.sql");
  ASSERT_EQ(statements.size(), 2u);
  EXPECT_EQ(statements[0].concurrent_index_schema, "app");
  EXPECT_EQ(statements[0].concurrent_index, "users_email");
  EXPECT_EQ(statements[1].concurrent_index_schema, "");
  EXPECT_EQ(statements[1].concurrent_index, "t_a");
}

std::string plan_error(const std::string& script, bool no_transaction) {
  try {
    migrator::plan_postgres_script(script, "m/0002_x/up.sql", no_transaction);
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    return e.what();
  }
  return "";
}

TEST(ParsePostgresScript, ParsesEachTextOncePerProcessAndKeepsEachStatementsTree) {
  // A text no other test parses, so the first call here is the one that parses it.
  std::string script = "CREATE TABLE parsed_once (id int);\nDROP TABLE parsed_once_old;";
  const migrator::ParsedScript& first = migrator::parse_postgres_script(script, "a/up.sql");
  const migrator::ParsedScript& again = migrator::parse_postgres_script(std::string(script), "b/up.sql");
  EXPECT_EQ(&first, &again);  // the cached entry, whatever the path
  ASSERT_EQ(first.statements.size(), 2u);
  ASSERT_EQ(first.stmts->size(), 2u);
  ASSERT_NE(first.statements[1].tree, nullptr);
  EXPECT_EQ(first.statements[1].tree, &(*first.stmts)[1]["stmt"]);
  EXPECT_EQ(first.statements[1].tree->at("DropStmt").value("removeType", ""), "OBJECT_TABLE");
  // The copies split_postgres_script gives point at the same trees.
  std::vector<migrator::Statement> copies = migrator::split_postgres_script(script, "c/up.sql");
  EXPECT_EQ(copies[0].tree, first.statements[0].tree);
  EXPECT_EQ(copies[0].node, "CreateStmt");
  // A different text is a different entry.
  EXPECT_NE(&migrator::parse_postgres_script(script + "\n", "a/up.sql"), &first);
}

TEST(ParsePostgresScript, DoesNotCacheASyntaxErrorSoEachCallNamesItsOwnPath) {
  std::string script = "SELECT 1;\nSELEC 2;";
  for (const char* path : {"first/up.sql", "second/up.sql"}) {
    try {
      migrator::parse_postgres_script(script, path);
      FAIL() << "expected a syntax error";
    } catch (const migrator::Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(std::string(path) + ":2: syntax error"));
    }
  }
}

TEST(PlanPostgresScript, OneTransactionUnlessEveryStatementIsRefusedInOne) {
  EXPECT_FALSE(migrator::plan_postgres_script("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\n", "up.sql", false)
                   .outside_transaction);
  migrator::ScriptPlan plan = migrator::plan_postgres_script(
      "-- two index builds\nCREATE INDEX CONCURRENTLY i ON t (a);\nCREATE INDEX CONCURRENTLY j ON t (b);\n", "up.sql",
      false);
  EXPECT_TRUE(plan.outside_transaction);
  EXPECT_FALSE(plan.declared);
  EXPECT_EQ(plan.statements.size(), 2u);
  EXPECT_FALSE(migrator::plan_postgres_script("", "up.sql", false).outside_transaction);
}

TEST(PlanPostgresScript, MixingWithoutTheHeaderNamesTheFirstRefusedStatementAndTheFix) {
  EXPECT_EQ(plan_error("CREATE TABLE t (a int);\n\nCREATE INDEX CONCURRENTLY i ON t (a);\nVACUUM t;\n", false),
            "m/0002_x/up.sql:3: 'CREATE INDEX CONCURRENTLY i ON t (a)' cannot run inside a transaction block "
            "(CREATE INDEX CONCURRENTLY), but the other statements of this migration run in one; move it to a "
            "migration of its own, or declare '-- migrator: no-transaction' in up.sql's header to run every "
            "statement on its own, outside a transaction");
  EXPECT_THAT(plan_error("CREATE TABLE t (a int);\nBEGIN;\n", false),
              ::testing::StartsWith("m/0002_x/up.sql:2: 'BEGIN' controls the transaction"));
}

TEST(PlanPostgresScript, TheHeaderRunsEverythingOutsideAndHonoursTheScriptsOwnTransactions) {
  migrator::ScriptPlan plan = migrator::plan_postgres_script(
      "CREATE TABLE t (a int);\nBEGIN;\nINSERT INTO t VALUES (1);\nSAVEPOINT s;\nCOMMIT;\n"
      "CREATE INDEX CONCURRENTLY i ON t (a);\nSTART TRANSACTION;\nCOMMIT AND CHAIN;\nROLLBACK;\n",
      "up.sql", true);
  EXPECT_TRUE(plan.outside_transaction);
  EXPECT_TRUE(plan.declared);
  EXPECT_EQ(plan.statements.size(), 9u);

  EXPECT_EQ(plan_error("BEGIN;\nCREATE TABLE t (a int);\n", true),
            "m/0002_x/up.sql:1: 'BEGIN' begins a transaction that the script never ends; add COMMIT (or ROLLBACK) "
            "after its last statement");
  EXPECT_EQ(plan_error("BEGIN;\nBEGIN;\nCOMMIT;\n", true),
            "m/0002_x/up.sql:2: 'BEGIN' begins a transaction inside the one begun at line 1; end that one first "
            "(COMMIT)");
  EXPECT_EQ(plan_error("SELECT 1;\nCOMMIT;\n", true),
            "m/0002_x/up.sql:2: 'COMMIT' ends a transaction, but none was begun (BEGIN) before it");
  EXPECT_EQ(plan_error("BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;\n", true),
            "m/0002_x/up.sql:2: 'CREATE INDEX CONCURRENTLY i ON t (a)' cannot run inside a transaction block "
            "(CREATE INDEX CONCURRENTLY), but the script's BEGIN at line 1 is still open; COMMIT before it");
  EXPECT_THAT(plan_error("BEGIN;\nPREPARE TRANSACTION 'x';\n", true),
              ::testing::HasSubstr("up.sql:2: 'PREPARE TRANSACTION 'x'' is a two-phase commit command"));
}

}  // namespace
}  // namespace migrator_test
