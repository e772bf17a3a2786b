// Statement splitting and line numbers.
#include "migrator/source/sql_script.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
