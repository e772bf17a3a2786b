// `migrator lint` run as a user would, without a database: exit codes, output, allow flags, paths.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "migrator/lint/lint.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CommandResult migrator_cli(const std::vector<std::string>& args) { return run_command(MIGRATOR_BIN, args); }

class LintCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    migrations_.add("0001_create", "CREATE TABLE t (id bigint, a text);\nCREATE INDEX t_a ON t (a);\n",
                    "DROP TABLE t;\n");
    migrations_.add("0002_index", "-- a busy table by now\nCREATE INDEX t_id ON t (id);\n", "DROP INDEX t_id;\n");
  }
  std::string dir() const { return migrations_.path().string(); }
  MigrationsDir migrations_;
};

TEST_F(LintCommand, ReportsFileLineRuleAndHintAndExitsSix) {
  CommandResult result = migrator_cli({"--dir", dir(), "lint"});
  EXPECT_EQ(result.exit_code, 6) << result.err;
  EXPECT_THAT(result.out, HasSubstr(dir() + "/0002_index/up.sql:2: create-index-non-concurrently: CREATE INDEX on "
                                            "existing table t"));
  EXPECT_THAT(result.out, HasSubstr("\n  hint: CREATE INDEX CONCURRENTLY"));
  EXPECT_THAT(result.out, Not(HasSubstr("0001_create")));  // its table is new there
  EXPECT_THAT(result.out, HasSubstr("linted 2 file(s): 1 problem(s), 0 allowed"));
}

TEST_F(LintCommand, CleanMigrationsExitZero) {
  migrations_.remove("0002_index");
  CommandResult result = migrator_cli({"--dir", dir(), "lint"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("linted 1 file(s): 0 problem(s), 0 allowed"));
}

TEST_F(LintCommand, AllowedEverywhereWithTheFlagShownWithVerbose) {
  CommandResult allowed = migrator_cli({"--dir", dir(), "--lint-allow", "create-index-non-concurrently", "lint"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.out;
  EXPECT_THAT(allowed.out, Not(HasSubstr("create-index-non-concurrently:")));
  EXPECT_THAT(allowed.out, HasSubstr("0 problem(s), 1 allowed"));
  CommandResult verbose =
      migrator_cli({"--dir", dir(), "--lint-allow", "create-index-non-concurrently", "lint", "--verbose"});
  EXPECT_EQ(verbose.exit_code, 0);
  EXPECT_THAT(verbose.out, HasSubstr("(allowed by --lint-allow)"));
}

TEST_F(LintCommand, UnknownRuleIsAUsageError) {
  CommandResult result = migrator_cli({"--dir", dir(), "--lint-allow", "no-such-rule", "lint"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("migrator: --lint-allow: unknown lint rule 'no-such-rule'"));
}

TEST_F(LintCommand, AllowCommentInTheFileHeaderAndBeforeAStatement) {
  migrations_.add("0003_drops", "-- migrator: lint-allow=drop-table\nDROP TABLE t;\n", "SELECT 1;\n");
  migrations_.add("0004_more",
                  "CREATE TABLE u (a int, b int);\n-- migrator:lint-allow drop-column\n"
                  "ALTER TABLE t DROP COLUMN a;\n",
                  "SELECT 1;\n");
  CommandResult result = migrator_cli({"--dir", dir(), "lint", "--verbose"});
  EXPECT_EQ(result.exit_code, 6);  // 0002 still
  EXPECT_THAT(result.out, HasSubstr("0003_drops/up.sql:2: drop-table: "));
  EXPECT_THAT(result.out, HasSubstr("(allowed by the file header)"));
  EXPECT_THAT(result.out, HasSubstr("0004_more/up.sql:3: drop-column: "));
  EXPECT_THAT(result.out, HasSubstr("(allowed by a lint-allow comment)"));
  EXPECT_THAT(result.out, HasSubstr("1 problem(s), 2 allowed"));
}

TEST_F(LintCommand, PathsNameFilesOrDirectories) {
  // One file: t is unknown there, so the index is on an existing table.
  CommandResult file = migrator_cli({"lint", dir() + "/0001_create/up.sql"});
  EXPECT_EQ(file.exit_code, 0) << file.out;
  CommandResult migration = migrator_cli({"lint", dir() + "/0002_index"});
  EXPECT_EQ(migration.exit_code, 6);
  EXPECT_THAT(migration.out, HasSubstr("0002_index/up.sql:2: create-index-non-concurrently"));
  CommandResult directory = migrator_cli({"lint", dir()});
  EXPECT_EQ(directory.exit_code, 6);
  EXPECT_THAT(directory.out, HasSubstr("linted 2 file(s)"));
  CommandResult missing = migrator_cli({"lint", dir() + "/nowhere"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_THAT(missing.err, HasSubstr("nowhere is neither an SQL file"));
}

TEST_F(LintCommand, JsonIsOneDocument) {
  CommandResult result = migrator_cli({"--dir", dir(), "--json", "lint"});
  EXPECT_EQ(result.exit_code, 6);
  nlohmann::json document = nlohmann::json::parse(result.out);
  EXPECT_EQ(document["command"], "lint");
  EXPECT_EQ(document["files"], 2);
  EXPECT_EQ(document["problems"], 1);
  ASSERT_EQ(document["findings"].size(), 1u);
  EXPECT_EQ(document["findings"][0]["rule"], "create-index-non-concurrently");
  EXPECT_EQ(document["findings"][0]["line"], 2);
  EXPECT_EQ(document["findings"][0]["allowed"], false);
}

TEST_F(LintCommand, SyntaxErrorNamesFileAndLine) {
  migrations_.add("0003_broken", "SELECT 1;\nALTER TABLE t ADD COLUMN;\n", "SELECT 1;\n");
  CommandResult result = migrator_cli({"--dir", dir(), "lint"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("0003_broken/up.sql:2: syntax error"));
}

TEST(LintCommandRules, ListsEveryRule) {
  CommandResult result = migrator_cli({"lint", "--rules"});
  EXPECT_EQ(result.exit_code, 0);
  for (const migrator::LintRule& rule : migrator::lint_rules()) EXPECT_THAT(result.out, HasSubstr(rule.name + " "));
}

TEST_F(LintCommand, SqliteUpDoesNotLint) {
  TempDir db;
  CommandResult result =
      migrator_cli({"--dir", dir(), "--database-url", "sqlite:" + (db.path() / "a.db").string(), "up"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("applied 0002_index"));
}

}  // namespace
}  // namespace migrator_test
