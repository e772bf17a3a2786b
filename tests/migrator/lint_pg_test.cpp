// `migrator lint` and `up` against PostgreSQL: the catalog decides what is new, small, validated or
// volatile, and `up` refuses a pending migration with a finding before applying anything.
// Needs DATABASE_URL with a role that may CREATE DATABASE (fails, never skips, without it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <cstdlib>

#include "migrator/lint/lint_run.h"
#include "migrator/lint/postgres_catalog.h"
#include "migrator/source/source.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CommandResult migrator_cli(const std::vector<std::string>& args) { return run_command(MIGRATOR_BIN, args); }

// A database of its own for one test, dropped afterwards; url() names it (DATABASE_URL with another dbname).
class ScratchDatabase {
 public:
  ScratchDatabase() {
    const char* maintenance = std::getenv("DATABASE_URL");
    if (maintenance == nullptr || *maintenance == '\0') {
      throw std::runtime_error(
          "DATABASE_URL is not set: the pg tests need a server and a role that may CREATE DATABASE");
    }
    maintenance_ = maintenance;
    name_ = unique_test_name("lint");
    pqxx::connection connection(maintenance_);
    pqxx::nontransaction tx(connection);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
    // A key=value string: a later dbname= overrides the one in it; a URI gets its path replaced.
    if (maintenance_.rfind("postgres", 0) == 0) {
      size_t query = maintenance_.find('?');
      std::string base = maintenance_.substr(0, query);
      size_t slash = base.find('/', base.find("//") + 2);
      url_ = (slash == std::string::npos ? base : base.substr(0, slash)) + "/" + name_ +
             (query == std::string::npos ? "" : maintenance_.substr(query));
    } else {
      url_ = maintenance_ + " dbname=" + name_;
    }
  }
  ~ScratchDatabase() {
    try {
      pqxx::connection connection(maintenance_);
      pqxx::nontransaction tx(connection);
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop " << name_ << ": " << e.what();
    }
  }
  const std::string& url() const { return url_; }
  void exec(const std::string& sql) {
    pqxx::connection connection(url_);
    pqxx::nontransaction tx(connection);
    tx.exec(sql);
  }
  bool exists(const std::string& relation) {
    pqxx::connection connection(url_);
    pqxx::nontransaction tx(connection);
    return !tx.exec_params1("SELECT to_regclass($1) IS NULL", relation)[0].as<bool>();
  }

 private:
  std::string maintenance_;
  std::string name_;
  std::string url_;
};

// 0001 makes `big` (2,000 rows, analyzed) and is applied; later ones are added by each test.
class LintPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    migrations_.add("0001_big",
                    "CREATE TABLE big (id bigint PRIMARY KEY, name varchar(20), a int);\n"
                    "INSERT INTO big SELECT g, 'n' || g, g FROM generate_series(1, 2000) g;\n"
                    "ALTER TABLE big ADD CONSTRAINT big_name_not_null CHECK (name IS NOT NULL);\n"
                    "CREATE FUNCTION next_code() RETURNS text VOLATILE LANGUAGE sql AS $$ SELECT 'x' $$;\n"
                    "CREATE FUNCTION fixed_code() RETURNS text STABLE LANGUAGE sql AS $$ SELECT 'y' $$;\n"
                    "ANALYZE big;\n",
                    "DROP TABLE big;\n");
    CommandResult applied = cli({"up"});
    ASSERT_EQ(applied.exit_code, 0) << applied.err;
  }
  CommandResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database-url", db_.url(), "--dir", migrations_.path().string()});
    return migrator_cli(args);
  }
  ScratchDatabase db_;
  MigrationsDir migrations_;
};

TEST_F(LintPostgres, UpRefusesAPendingFindingAndAppliesNothing) {
  migrations_.add("0002_table", "CREATE TABLE other (id bigint);\n", "DROP TABLE other;\n");
  migrations_.add("0003_index", "CREATE INDEX big_a ON big (a);\n", "DROP INDEX big_a;\n");
  CommandResult refused = cli({"--lint-row-threshold", "100", "up"});
  EXPECT_EQ(refused.exit_code, 6) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("refusing to apply, nothing was applied: lint found 1 problem(s)"));
  EXPECT_THAT(refused.err, HasSubstr("0003_index/up.sql:1: create-index-non-concurrently"));
  EXPECT_THAT(refused.err, HasSubstr("hint: CREATE INDEX CONCURRENTLY"));
  EXPECT_FALSE(db_.exists("other"));  // 0002 is clean but was not applied either
  EXPECT_FALSE(db_.exists("big_a"));
  EXPECT_THAT(cli({"status"}).out, HasSubstr("0003  index  pending"));

  CommandResult allowed = cli({"--lint-row-threshold", "100", "--lint-allow", "create-index-non-concurrently", "up"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_TRUE(db_.exists("big_a"));
}

TEST_F(LintPostgres, TablesBelowTheThresholdNeedNoConcurrently) {
  migrations_.add("0002_index", "CREATE INDEX big_a ON big (a);\n", "DROP INDEX big_a;\n");
  CommandResult lint = cli({"lint", "--verbose"});  // default threshold 10,000 > 2,000 rows
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_THAT(lint.out, HasSubstr("0002_index/up.sql:1: create-index-non-concurrently: not needed: big has about "
                                  "2000 rows, below --lint-row-threshold 10000"));
  EXPECT_THAT(lint.out, HasSubstr("linted 1 file(s)"));  // only the pending one
  CommandResult up = cli({"up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_TRUE(db_.exists("big_a"));
}

TEST_F(LintPostgres, TableOfAnEarlierPendingMigrationIsNew) {
  migrations_.add("0002_table", "CREATE TABLE notes (id bigint, body text);\n", "DROP TABLE notes;\n");
  migrations_.add("0003_index", "CREATE INDEX notes_body ON notes (body);\n", "DROP INDEX notes_body;\n");
  EXPECT_EQ(cli({"--lint-row-threshold", "0", "lint"}).exit_code, 0);
  // Without the database the table may exist already.
  CommandResult offline = migrator_cli({"--dir", migrations_.path().string(), "lint"});
  EXPECT_EQ(offline.exit_code, 6);
  EXPECT_THAT(offline.out, HasSubstr("0003_index/up.sql:1: create-index-non-concurrently"));
}

TEST_F(LintPostgres, TypesChecksAndVolatilityComeFromTheCatalog) {
  migrations_.add("0002_changes",
                  "ALTER TABLE big ALTER COLUMN name TYPE varchar(40);\n"
                  "ALTER TABLE big ALTER COLUMN name SET NOT NULL;\n"
                  "ALTER TABLE big ADD COLUMN c1 text DEFAULT fixed_code();\n"
                  "ALTER TABLE big ADD COLUMN c2 text DEFAULT next_code();\n"
                  "ALTER TABLE big ALTER COLUMN a TYPE bigint;\n",
                  "SELECT 1;\n");
  std::string path = (migrations_.path() / "0002_changes" / "up.sql").string();
  CommandResult online = cli({"--lint-row-threshold", "100", "lint", path});
  EXPECT_EQ(online.exit_code, 6);
  EXPECT_THAT(online.out, HasSubstr(path + ":4: add-column-volatile-default: adding big.c2 with the volatile "
                                           "default next_code()"));
  EXPECT_THAT(online.out, HasSubstr(path + ":5: rewriting-type-change: changing big.a from int4 to int8"));
  EXPECT_THAT(online.out, HasSubstr("2 problem(s)"));
  // The file alone, without the catalog: the types, the check and next_code() are unknown.
  CommandResult offline = migrator_cli({"lint", path});
  EXPECT_THAT(offline.out, HasSubstr(path + ":1: rewriting-type-change"));
  EXPECT_THAT(offline.out, HasSubstr(path + ":2: set-not-null"));
  EXPECT_THAT(offline.out, Not(HasSubstr("next_code")));
}

TEST_F(LintPostgres, CatalogAnswers) {
  migrator::PostgresCatalog catalog(db_.url());
  std::optional<double> rows = catalog.estimated_rows("", "big");
  ASSERT_TRUE(rows.has_value());
  EXPECT_NEAR(*rows, 2000, 1);
  EXPECT_EQ(catalog.estimated_rows("public", "nope"), std::nullopt);
  EXPECT_EQ(catalog.estimated_rows("no schema", "big"), std::nullopt);
  std::optional<migrator::CatalogType> name = catalog.column_type("", "big", "name");
  ASSERT_TRUE(name.has_value());
  EXPECT_EQ(name->name, "varchar");
  EXPECT_EQ(name->typmod, 24);
  EXPECT_EQ(catalog.function_volatility("random"), 'v');
  EXPECT_EQ(catalog.function_volatility("now"), 's');
  EXPECT_EQ(catalog.function_volatility("no_such_function"), std::nullopt);
  EXPECT_THAT(catalog.validated_checks("", "big"), ::testing::ElementsAre("CHECK ((name IS NOT NULL))"));
  auto table = catalog.index_table("", "big_pkey");
  ASSERT_TRUE(table.has_value());
  EXPECT_EQ(table->first, "public");
  EXPECT_EQ(table->second, "big");
  db_.exec("CREATE TABLE never_analyzed (a int); INSERT INTO never_analyzed SELECT generate_series(1, 10)");
  EXPECT_GT(*catalog.estimated_rows("", "never_analyzed"), 1e9);  // unknown: assumed large
  db_.exec("CREATE TABLE empty_one (a int)");
  EXPECT_EQ(catalog.estimated_rows("", "empty_one"), 0.0);
}

TEST_F(LintPostgres, PrefetchedRowsAnswerAsSingleQueriesDoInOneQuery) {
  db_.exec("CREATE SCHEMA \"odd schema\"; CREATE TABLE \"odd schema\".\"Odd\" (a int)");
  std::vector<std::pair<std::string, std::string>> tables = {
      {"", "big"}, {"public", "big"}, {"public", "nope"}, {"no schema", "big"}, {"odd schema", "Odd"}};
  migrator::PostgresCatalog single(db_.url());
  migrator::PostgresCatalog batched(db_.url());
  batched.prefetch_rows(tables);
  EXPECT_EQ(batched.queries(), 1u);
  for (const auto& [schema, table] : tables) {
    EXPECT_EQ(batched.estimated_rows(schema, table), single.estimated_rows(schema, table)) << schema << "." << table;
  }
  EXPECT_EQ(batched.queries(), 1u);  // every answer came from the prefetch
  EXPECT_NEAR(*batched.estimated_rows("", "big"), 2000, 1);
  EXPECT_EQ(batched.estimated_rows("odd schema", "Odd"), 0.0);
  EXPECT_EQ(batched.estimated_rows("public", "nope"), std::nullopt);
  // A table it was not told about is asked for on its own.
  EXPECT_EQ(batched.estimated_rows("", "never_named"), std::nullopt);
  EXPECT_EQ(batched.queries(), 2u);
}

// `up` lints its pending migrations with one catalog query for the tables they name, however many.
TEST_F(LintPostgres, LintBeforeUpReadsTheRowsOfEveryNamedTableInOneQuery) {
  // Each indexes the table the one before created: new only if that one is pending, which the
  // catalog tells (one question per index without the prefetch).
  for (int i = 2; i <= 9; ++i) {
    std::string table = "t" + std::to_string(i);
    std::string index = i == 2 ? "" : "CREATE INDEX ON t" + std::to_string(i - 1) + " (id);\n";
    migrations_.add("000" + std::to_string(i) + "_" + table, "CREATE TABLE " + table + " (id int);\n" + index,
                    "DROP TABLE " + table + ";\n");
  }
  std::vector<migrator::Migration> migrations = migrator::load_migrations(migrations_.path());
  std::vector<const migrator::Migration*> pending;
  for (const migrator::Migration& migration : migrations) {
    if (migration.version >= 2) pending.push_back(&migration);
  }
  migrator::PostgresCatalog catalog(db_.url());
  migrator::LintOptions options;
  options.catalog = &catalog;
  EXPECT_TRUE(migrator::lint_before_up(pending, options).empty());
  EXPECT_EQ(catalog.queries(), 1u);
}

}  // namespace
}  // namespace migrator_test
