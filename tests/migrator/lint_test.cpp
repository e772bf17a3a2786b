// The linter, rule by rule: each rule fires on the dangerous form and stays silent on the safe ones.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "migrator/error.h"
#include "migrator/lint/lint.h"
#include "migrator/lint/lint_run.h"
#include "migrator/source/source.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// "rule@line" for every finding (allowed ones end in "+allowed"), linting `scripts` in order.
std::vector<std::string> lint_all(const std::vector<std::string>& scripts, migrator::LintOptions options = {},
                                  bool transactional = true) {
  migrator::Linter linter(std::move(options));
  std::vector<std::string> found;
  for (size_t i = 0; i < scripts.size(); ++i) {
    migrator::LintScript script;
    script.path = std::to_string(i + 1) + "/up.sql";
    script.sql = scripts[i];
    script.transactional = transactional;
    for (const migrator::Finding& finding : linter.lint(script)) {
      found.push_back(finding.rule + "@" + std::to_string(finding.line) + (finding.allowed ? "+allowed" : ""));
    }
  }
  return found;
}

// The findings of the last script, the earlier ones building the schema.
std::vector<std::string> lint_last(const std::string& schema, const std::string& script,
                                   migrator::LintOptions options = {}) {
  migrator::Linter linter(std::move(options));
  linter.lint({"0/up.sql", schema, true, {}});
  std::vector<std::string> found;
  for (const migrator::Finding& finding : linter.lint({"up.sql", script, true, {}})) {
    found.push_back(finding.rule + "@" + std::to_string(finding.line) + (finding.allowed ? "+allowed" : ""));
  }
  return found;
}

const char* kSchema =
    "CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100), plan text, balance numeric(10,2),\n"
    "  code char(4), seen timestamp(3), score int);\n"
    "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint, total numeric);\n"
    "CREATE TYPE mood AS ENUM ('ok');\n";

std::vector<std::string> lint_one(const std::string& script) { return lint_last(kSchema, script); }

TEST(LintCreateIndex, FlagsExistingTableNotNewOrConcurrent) {
  EXPECT_THAT(lint_one("CREATE INDEX accounts_email ON accounts (email);"),
              ElementsAre("create-index-non-concurrently@1"));
  EXPECT_THAT(lint_one("CREATE UNIQUE INDEX ON public.accounts (email);"),
              ElementsAre("create-index-non-concurrently@1"));
  EXPECT_THAT(lint_one("CREATE INDEX CONCURRENTLY accounts_email ON accounts (email);"), IsEmpty());
  EXPECT_THAT(lint_one("CREATE TABLE notes (id bigint, body text);\nCREATE INDEX notes_body ON notes (body);"),
              IsEmpty());
}

TEST(LintCreateIndex, TableOfAnEarlierScriptIsExistingWithoutACatalog) {
  EXPECT_THAT(lint_all({"CREATE TABLE notes (id bigint);", "CREATE INDEX ON notes (id);"}),
              ElementsAre("create-index-non-concurrently@1"));
}

TEST(LintAddColumn, VolatileDefaultIsFlaggedStableAndConstantAreNot) {
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN token uuid DEFAULT gen_random_uuid();"),
              ElementsAre("add-column-volatile-default@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN r int DEFAULT (random() * 10)::int;"),
              ElementsAre("add-column-volatile-default@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN t timestamptz DEFAULT clock_timestamp();"),
              ElementsAre("add-column-volatile-default@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN created timestamptz DEFAULT now();"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN created2 timestamptz DEFAULT current_timestamp;"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN tier text NOT NULL DEFAULT 'free';"), IsEmpty());
  EXPECT_THAT(lint_one("CREATE TABLE t (id uuid DEFAULT gen_random_uuid());"), IsEmpty());
}

TEST(LintAddColumn, SerialIdentityAndStoredGeneratedAreFlagged) {
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN n bigserial;"), ElementsAre("add-serial-column@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;"),
              ElementsAre("add-serial-column@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN d int GENERATED ALWAYS AS (score * 2) STORED;"),
              ElementsAre("add-stored-generated-column@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD COLUMN nickname text;"), IsEmpty());
}

TEST(LintAddColumn, InlineConstraintsOnANewColumn) {
  EXPECT_THAT(lint_one("ALTER TABLE orders ADD COLUMN owner bigint REFERENCES accounts (id);"),
              ElementsAre("constraint-without-not-valid@1"));
  EXPECT_THAT(lint_one("ALTER TABLE orders ADD COLUMN ref text UNIQUE;"), ElementsAre("add-unique-without-index@1"));
}

TEST(LintSetNotNull, NeedsAValidatedCheck) {
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;"), ElementsAre("set-not-null@1"));
  // Validated by an earlier script: SET NOT NULL uses the check.
  EXPECT_THAT(lint_all({kSchema, "ALTER TABLE accounts ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;",
                        "ALTER TABLE accounts VALIDATE CONSTRAINT email_nn;",
                        "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;"}),
              IsEmpty());
  // NOT VALID only: not enough.
  EXPECT_THAT(lint_all({kSchema, "ALTER TABLE accounts ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;",
                        "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;"}),
              ElementsAre("set-not-null@1"));
  // A check on another column does not help.
  EXPECT_THAT(lint_all({kSchema, "ALTER TABLE accounts ADD CONSTRAINT plan_nn CHECK (plan IS NOT NULL) NOT VALID;",
                        "ALTER TABLE accounts VALIDATE CONSTRAINT plan_nn;",
                        "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;"}),
              ElementsAre("set-not-null@1"));
}

TEST(LintConstraints, ForeignKeyAndCheckNeedNotValid) {
  EXPECT_THAT(lint_one("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (account_id) REFERENCES accounts (id);"),
              ElementsAre("constraint-without-not-valid@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD CONSTRAINT positive CHECK (balance >= 0);"),
              ElementsAre("constraint-without-not-valid@1"));
  EXPECT_THAT(
      lint_one("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;"),
      IsEmpty());
  EXPECT_THAT(lint_one("CREATE TABLE items (id bigint, order_id bigint);\n"
                       "ALTER TABLE items ADD CONSTRAINT fk FOREIGN KEY (order_id) REFERENCES orders (id);"),
              IsEmpty());
}

TEST(LintConstraints, ValidateInTheSameTransactionIsFlaggedInALaterOneIsNot) {
  EXPECT_THAT(lint_one("ALTER TABLE accounts ADD CONSTRAINT positive CHECK (balance >= 0) NOT VALID;\n"
                       "ALTER TABLE accounts VALIDATE CONSTRAINT positive;"),
              ElementsAre("validate-in-same-transaction@2"));
  EXPECT_THAT(lint_all({kSchema, "ALTER TABLE accounts ADD CONSTRAINT positive CHECK (balance >= 0) NOT VALID;",
                        "ALTER TABLE accounts VALIDATE CONSTRAINT positive;"}),
              IsEmpty());
  // Statement by statement (no transaction), each commits before the next.
  EXPECT_THAT(lint_all({kSchema,
                        "ALTER TABLE accounts ADD CONSTRAINT positive CHECK (balance >= 0) NOT VALID;\n"
                        "ALTER TABLE accounts VALIDATE CONSTRAINT positive;"},
                       {}, /*transactional=*/false),
              IsEmpty());
}

TEST(LintConstraints, PrimaryKeyAndUniqueNeedAnExistingIndex) {
  EXPECT_THAT(lint_one("ALTER TABLE orders ADD CONSTRAINT orders_account UNIQUE (account_id);"),
              ElementsAre("add-unique-without-index@1"));
  EXPECT_THAT(lint_one("ALTER TABLE orders ADD CONSTRAINT orders_account UNIQUE USING INDEX orders_account_idx;"),
              IsEmpty());
  EXPECT_THAT(lint_one("CREATE TABLE t (a int);\nALTER TABLE t ADD PRIMARY KEY (a);"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE t2 ADD PRIMARY KEY (a);"), ElementsAre("add-primary-key-without-index@1"));
  EXPECT_THAT(lint_one("ALTER TABLE t2 ADD CONSTRAINT t2_pkey PRIMARY KEY USING INDEX t2_a;"), IsEmpty());
}

TEST(LintConstraints, ExclusionConstraintOnAnExistingTable) {
  EXPECT_THAT(lint_one("ALTER TABLE orders ADD CONSTRAINT no_overlap EXCLUDE USING gist (account_id WITH =);"),
              ElementsAre("exclusion-constraint@1"));
  EXPECT_THAT(lint_one("CREATE TABLE slots (r tstzrange, EXCLUDE USING gist (r WITH &&));"), IsEmpty());
}

TEST(LintTypeChange, WideningKeepsTheTableOthersRewrite) {
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN email TYPE varchar(200);"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN email TYPE text;"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN email TYPE character varying;"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(12,2);"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN balance TYPE numeric;"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN seen TYPE timestamp(6);"), IsEmpty());
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN plan TYPE varchar;"), IsEmpty());

  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN email TYPE varchar(50);"),
              ElementsAre("rewriting-type-change@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(12,4);"),
              ElementsAre("rewriting-type-change@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN score TYPE bigint;"), ElementsAre("rewriting-type-change@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN plan TYPE varchar(20);"),
              ElementsAre("rewriting-type-change@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN code TYPE char(8);"), ElementsAre("rewriting-type-change@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN email TYPE text USING lower(email);"),
              ElementsAre("rewriting-type-change@1"));
  // Unknown current type: assumed to rewrite.
  EXPECT_THAT(lint_one("ALTER TABLE elsewhere ALTER COLUMN c TYPE text;"), ElementsAre("rewriting-type-change@1"));
  // Follows earlier changes: after widening to 200, 150 shrinks.
  EXPECT_THAT(lint_one("ALTER TABLE accounts ALTER COLUMN email TYPE varchar(200);\n"
                       "ALTER TABLE accounts ALTER COLUMN email TYPE varchar(150);"),
              ElementsAre("rewriting-type-change@2"));
}

TEST(LintRenameAndDrop, ExistingTablesAreFlaggedNewOnesAreNot) {
  EXPECT_THAT(lint_one("ALTER TABLE accounts RENAME COLUMN plan TO tier;"), ElementsAre("rename-column@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts RENAME TO customers;"), ElementsAre("rename-table@1"));
  EXPECT_THAT(lint_one("ALTER TABLE accounts DROP COLUMN plan;"), ElementsAre("drop-column@1"));
  EXPECT_THAT(lint_one("DROP TABLE orders;"), ElementsAre("drop-table@1"));
  EXPECT_THAT(lint_one("DROP TABLE IF EXISTS orders, accounts;"), ElementsAre("drop-table@1", "drop-table@1"));
  EXPECT_THAT(lint_one("CREATE TABLE scratch (a int);\nALTER TABLE scratch RENAME COLUMN a TO b;\n"
                       "ALTER TABLE scratch DROP COLUMN b;\nDROP TABLE scratch;"),
              IsEmpty());
  // Renaming an index or a constraint is harmless.
  EXPECT_THAT(lint_one("ALTER INDEX accounts_pkey RENAME TO accounts_pk;"), IsEmpty());
}

TEST(LintStatements, TruncateVacuumFullClusterLockTable) {
  EXPECT_THAT(lint_one("TRUNCATE orders;"), ElementsAre("truncate@1"));
  EXPECT_THAT(lint_one("VACUUM FULL orders;"), ElementsAre("vacuum-full@1"));
  EXPECT_THAT(lint_one("VACUUM (ANALYZE) orders;"), IsEmpty());
  EXPECT_THAT(lint_one("CLUSTER orders USING orders_pkey;"), ElementsAre("cluster@1"));
  EXPECT_THAT(lint_one("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;"), ElementsAre("lock-table@1"));
  EXPECT_THAT(lint_one("CREATE TABLE scratch (a int);\nTRUNCATE scratch;"), IsEmpty());
}

TEST(LintIndexes, DropIndexAndReindexNeedConcurrently) {
  EXPECT_THAT(lint_one("DROP INDEX accounts_email;"), ElementsAre("drop-index-non-concurrently@1"));
  EXPECT_THAT(lint_one("DROP INDEX CONCURRENTLY accounts_email;"), IsEmpty());
  EXPECT_THAT(lint_one("REINDEX TABLE orders;"), ElementsAre("reindex-non-concurrently@1"));
  EXPECT_THAT(lint_one("REINDEX INDEX CONCURRENTLY orders_pkey;"), IsEmpty());
  // An index on a table created in the same script.
  EXPECT_THAT(lint_one("CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\nDROP INDEX t_a;"), IsEmpty());
}

TEST(LintPersistence, SetLoggedAndUnlogged) {
  EXPECT_THAT(lint_one("ALTER TABLE orders SET UNLOGGED;"), ElementsAre("set-logged-unlogged@1"));
  EXPECT_THAT(lint_one("ALTER TABLE orders SET LOGGED;"), ElementsAre("set-logged-unlogged@1"));
}

TEST(LintEnum, NewValueUsedInTheSameTransaction) {
  EXPECT_THAT(lint_one("ALTER TYPE mood ADD VALUE 'happy';\nUPDATE accounts SET plan = 'happy' WHERE id = 1;"),
              ElementsAre("enum-value-used-in-transaction@2"));
  EXPECT_THAT(lint_one("ALTER TYPE mood ADD VALUE 'happy';"), IsEmpty());
  EXPECT_THAT(lint_all({kSchema, "ALTER TYPE mood ADD VALUE 'happy';", "UPDATE accounts SET plan = 'happy';"}),
              IsEmpty());
}

TEST(LintPrecision, WordsInCommentsStringsAndFunctionBodiesAreNotStatements) {
  EXPECT_THAT(lint_one("-- DROP TABLE accounts; CREATE INDEX ON accounts (email);\n"
                       "/* TRUNCATE orders; */\n"
                       "INSERT INTO orders (id, total) VALUES (1, 0);\n"
                       "COMMENT ON TABLE orders IS 'DROP TABLE orders; VACUUM FULL orders';\n"
                       "CREATE FUNCTION purge() RETURNS void LANGUAGE plpgsql AS $$\n"
                       "BEGIN\n  TRUNCATE orders;\n  DROP TABLE accounts;\nEND $$;\n"
                       "DO $$ BEGIN EXECUTE 'LOCK TABLE orders'; END $$;"),
              IsEmpty());
}

TEST(LintAllow, StatementCommentsFileHeaderAndGlobal) {
  EXPECT_THAT(lint_one("-- migrator:lint-allow drop-column\nALTER TABLE accounts DROP COLUMN plan;\n"
                       "ALTER TABLE accounts DROP COLUMN email;"),
              ElementsAre("drop-column@2+allowed", "drop-column@3"));
  // On the statement's own line, after it; several rules in one comment.
  EXPECT_THAT(lint_one("ALTER TABLE accounts DROP COLUMN plan; -- migrator:lint-allow drop-column, truncate\n"
                       "TRUNCATE orders;"),
              ElementsAre("drop-column@1+allowed", "truncate@2"));
  EXPECT_THAT(lint_one("/* migrator:lint-allow truncate */ TRUNCATE orders;"), ElementsAre("truncate@1+allowed"));

  migrator::Linter linter({});
  linter.lint({"0/up.sql", kSchema, true, {}});
  std::vector<migrator::Finding> header =
      linter.lint({"up.sql", "TRUNCATE orders;\nDROP TABLE orders;", true, {"truncate"}});
  ASSERT_EQ(header.size(), 2u);
  EXPECT_TRUE(header[0].allowed);
  EXPECT_EQ(header[0].allowed_by, "the file header");
  EXPECT_FALSE(header[1].allowed);

  migrator::LintOptions global;
  global.allow = {"drop-table"};
  EXPECT_THAT(lint_last(kSchema, "DROP TABLE orders;", global), ElementsAre("drop-table@1+allowed"));
}

TEST(LintAllow, UnknownRuleInACommentNamesFileAndLine) {
  migrator::Linter linter({});
  try {
    linter.lint({"x/up.sql", "SELECT 1;\n-- migrator:lint-allow drop-everything\nDROP TABLE t;", true, {}});
    ADD_FAILURE() << "accepted an unknown rule";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    EXPECT_THAT(e.what(), HasSubstr("x/up.sql:2: unknown lint rule 'drop-everything'"));
  }
}

TEST(LintHeader, FileHeaderAllowsRulesStatementCommentsAreLeftToTheLinter) {
  migrator::MigrationOptions options = migrator::parse_header_options(
      "-- migrator: lint-allow=drop-table, lint-allow=truncate\n-- migrator:lint-allow drop-column\nDROP TABLE t;\n",
      "x/up.sql");
  EXPECT_THAT(options.lint_allow, ElementsAre("drop-table", "truncate"));
  try {
    migrator::parse_header_options("-- migrator: irreversible\n-- migrator: lint-allow=drop-tables\n", "x/up.sql");
    ADD_FAILURE() << "accepted an unknown rule";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    EXPECT_THAT(e.what(), HasSubstr("x/up.sql:2: lint-allow expects a lint rule"));
    EXPECT_THAT(e.what(), HasSubstr("got 'drop-tables'"));
  }
}

TEST(LintFindings, NameFileLineRuleMessageAndHint) {
  migrator::Linter linter({});
  std::vector<migrator::Finding> findings =
      linter.lint({"m/0002_x/up.sql", "\n\n  -- why\n  CREATE INDEX i\n  ON big (a);", true, {}});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].line, 4);
  EXPECT_THAT(findings[0].format(),
              ::testing::StartsWith("m/0002_x/up.sql:4: create-index-non-concurrently: CREATE INDEX on existing table "
                                    "big"));
  EXPECT_THAT(findings[0].format(), HasSubstr("\n  hint: CREATE INDEX CONCURRENTLY"));
  EXPECT_EQ(findings[0].to_json()["rule"], "create-index-non-concurrently");
  EXPECT_EQ(findings[0].to_json()["line"], 4);
}

TEST(LintBeforeUp, RefusesListingEveryProblemWithItsHintOrReturnsTheAllowedOnes) {
  migrator::Migration first;
  first.directory = "m/0001_a";
  first.up_sql = "TRUNCATE a;\nDROP TABLE b;\n";
  migrator::Migration second;
  second.directory = "m/0002_b";
  second.up_sql = "VACUUM FULL c;\n";
  second.options.lint_allow = {"vacuum-full"};
  try {
    migrator::lint_before_up({&first, &second}, {});
    ADD_FAILURE() << "did not refuse";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kLintRefused);
    std::string message = e.what();
    EXPECT_THAT(message, ::testing::StartsWith("refusing to apply, nothing was applied: lint found 2 problem(s) in "
                                               "pending migrations:\n  m/0001_a/up.sql:1: truncate: TRUNCATE a"));
    EXPECT_THAT(message, HasSubstr("\n    hint: delete in batches"));
    EXPECT_THAT(message, HasSubstr("\n  m/0001_a/up.sql:2: drop-table: "));
    EXPECT_THAT(message, ::testing::Not(HasSubstr("vacuum-full: ")));
    EXPECT_THAT(message, HasSubstr("or --lint-allow RULE"));
  }
  migrator::LintOptions options;
  options.allow = {"truncate", "drop-table"};
  std::vector<migrator::Finding> allowed = migrator::lint_before_up({&first, &second}, options);
  EXPECT_EQ(allowed.size(), 3u);
}

TEST(LintFindings, SyntaxErrorNamesFileAndLine) {
  migrator::Linter linter({});
  try {
    linter.lint({"x/up.sql", "SELECT 1;\nCREATE TABLE (;\n", true, {}});
    ADD_FAILURE() << "accepted a syntax error";
  } catch (const migrator::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("x/up.sql:2: syntax error"));
  }
}

// A catalog answering from maps, as PostgresCatalog answers from pg_class, pg_attribute and pg_proc.
class FakeCatalog : public migrator::Catalog {
 public:
  std::map<std::string, double> rows;
  std::map<std::string, char> volatility;
  std::map<std::string, migrator::CatalogType> columns;  // "table.column"
  std::map<std::string, std::vector<std::string>> checks;
  std::optional<double> estimated_rows(const std::string&, const std::string& table) override {
    auto found = rows.find(table);
    return found == rows.end() ? std::nullopt : std::optional<double>(found->second);
  }
  std::optional<char> function_volatility(const std::string& name) override {
    auto found = volatility.find(name);
    return found == volatility.end() ? std::nullopt : std::optional<char>(found->second);
  }
  std::optional<migrator::CatalogType> column_type(const std::string&, const std::string& table,
                                                   const std::string& column) override {
    auto found = columns.find(table + "." + column);
    return found == columns.end() ? std::nullopt : std::optional<migrator::CatalogType>(found->second);
  }
  std::vector<std::string> validated_checks(const std::string&, const std::string& table) override {
    return checks[table];
  }
  std::optional<std::pair<std::string, std::string>> index_table(const std::string&, const std::string&) override {
    return std::nullopt;
  }
};

TEST(LintCatalog, SmallTablesDoNotNeedConcurrentlyOrNotValid) {
  FakeCatalog catalog;
  catalog.rows = {{"small", 50}, {"big", 5e6}};
  std::ostringstream verbose;
  migrator::LintOptions options;
  options.catalog = &catalog;
  options.verbose = &verbose;
  EXPECT_THAT(lint_all({"CREATE INDEX ON small (a);\nALTER TABLE small ADD CONSTRAINT c CHECK (a > 0);\n"
                        "CREATE INDEX ON big (a);\nALTER TABLE small DROP COLUMN a;"},
                       options),
              ElementsAre("create-index-non-concurrently@3", "drop-column@4"));
  EXPECT_THAT(verbose.str(), HasSubstr("1/up.sql:1: create-index-non-concurrently: not needed: small has about 50 "
                                       "rows, below --lint-row-threshold 10000"));
  options.row_threshold = 10;
  EXPECT_THAT(lint_all({"CREATE INDEX ON small (a);"}, options), ElementsAre("create-index-non-concurrently@1"));
}

TEST(LintCatalog, TableCreatedByAnEarlierPendingScriptIsNew) {
  FakeCatalog catalog;  // the table is not in the database yet
  migrator::LintOptions options;
  options.catalog = &catalog;
  EXPECT_THAT(lint_all({"CREATE TABLE notes (id bigint);", "CREATE INDEX ON notes (id);"}, options), IsEmpty());
  catalog.rows = {{"notes", 1e6}};  // already applied: it exists
  EXPECT_THAT(lint_all({"CREATE TABLE notes (id bigint);", "CREATE INDEX ON notes (id);"}, options),
              ElementsAre("create-index-non-concurrently@1"));
}

TEST(LintCatalog, ColumnTypesChecksAndVolatilityComeFromTheDatabase) {
  FakeCatalog catalog;
  catalog.rows = {{"people", 1e6}};
  catalog.columns = {{"people.name", {"varchar", 104}}, {"people.price", {"numeric", (10 << 16 | 2) + 4}}};
  catalog.checks = {{"people", {"CHECK ((name IS NOT NULL))"}}};
  catalog.volatility = {{"next_code", 'v'}, {"random", 'v'}, {"today_code", 's'}};
  migrator::LintOptions options;
  options.catalog = &catalog;
  EXPECT_THAT(lint_all({"ALTER TABLE people ALTER COLUMN name TYPE varchar(200);\n"
                        "ALTER TABLE people ALTER COLUMN price TYPE numeric(12,2);\n"
                        "ALTER TABLE people ALTER COLUMN price TYPE numeric(12,3);\n"
                        "ALTER TABLE people ALTER COLUMN name SET NOT NULL;\n"
                        "ALTER TABLE people ADD COLUMN code text DEFAULT next_code();\n"
                        "ALTER TABLE people ADD COLUMN code2 text DEFAULT today_code();"},
                       options),
              ElementsAre("rewriting-type-change@3", "add-column-volatile-default@5"));
}

}  // namespace
