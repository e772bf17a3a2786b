// Declarative migrations without a database: migration.yaml parsing and its file:line errors, the
// loader, and the statements each operation plans for expand, complete and abort.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "migrator/error.h"
#include "migrator/expand/declarative.h"
#include "migrator/expand/operations/operations.h"
#include "migrator/expand/plan.h"
#include "migrator/source/source.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using migrator::expand::Catalog;
using migrator::expand::Declarative;
using migrator::expand::Plan;
using migrator::expand::PlannedStatement;
using ::testing::HasSubstr;

// The message of the Error(kInvalidMigrations) that parsing `yaml` throws; fails the test otherwise.
std::string parse_error(const std::string& yaml) {
  try {
    migrator::expand::parse_declarative(yaml, "m/migration.yaml");
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    return e.what();
  }
  ADD_FAILURE() << "parse_declarative succeeded on:\n" << yaml;
  return "";
}

// public.orders (id bigint primary key, descr text, price text not null default '0'), public.customers (id).
Catalog orders_catalog() {
  Catalog catalog;
  migrator::expand::CatalogTable orders;
  orders.name = {"public", "orders"};
  orders.columns = {{"id", "bigint", true, "", true},
                    {"descr", "text", false, "", false},
                    {"price", "text", true, "'0'::text", false}};
  catalog.tables["public.orders"] = orders;
  migrator::expand::CatalogTable customers;
  customers.name = {"public", "customers"};
  customers.columns = {{"id", "bigint", true, "", true}};
  catalog.tables["public.customers"] = customers;
  catalog.relations["public.orders_pkey"] = "an index";
  catalog.relations["public.order_totals"] = "a view";
  catalog.relations["public.old_idx"] = "an index";
  catalog.relations["public.customers_name_key"] = "the index of constraint customers_name_key";
  return catalog;
}

Plan plan(const std::string& yaml, const Catalog& catalog = orders_catalog()) {
  Declarative declarative = migrator::expand::parse_declarative(yaml, "m/migration.yaml");
  return migrator::expand::plan_migration(declarative, catalog, "0007");
}

std::string plan_error(const std::string& yaml) {
  try {
    plan(yaml);
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    return e.what();
  }
  ADD_FAILURE() << "plan succeeded on:\n" << yaml;
  return "";
}

std::vector<std::string> sql(const std::vector<PlannedStatement>& statements) {
  std::vector<std::string> texts;
  for (const PlannedStatement& s : statements) texts.push_back(s.sql);
  return texts;
}

TEST(DeclarativeParse, ReadsTheContractExample) {
  Declarative d = migrator::expand::parse_declarative(
      "requires_flag: {flag: new_checkout, environment: staging, percentage: 50}\n"
      "operations:\n"
      "  - rename_column: {table: orders, from: descr, to: description}\n"
      "  - alter_column:\n"
      "      table: orders\n"
      "      column: price\n"
      "      type: integer\n"
      "      up: \"price::integer\"\n"
      "      down: \"price::text\"\n",
      "m/migration.yaml");
  ASSERT_TRUE(d.requires_flag.has_value());
  EXPECT_EQ(d.requires_flag->flag, "new_checkout");
  EXPECT_EQ(d.requires_flag->environment, "staging");
  EXPECT_EQ(d.requires_flag->percentage, 50);
  ASSERT_EQ(d.operations.size(), 2u);
  EXPECT_EQ(d.operations[0]->kind(), "rename_column");
  EXPECT_EQ(d.operations[0]->line(), 3);
  EXPECT_EQ(d.operations[1]->kind(), "alter_column");
  EXPECT_EQ(d.operations[1]->line(), 4);
}

TEST(DeclarativeParse, NamesFileAndLineOfEachMistake) {
  EXPECT_THAT(parse_error("operations:\n  - rename_colum: {table: t, from: a, to: b}\n"),
              HasSubstr("m/migration.yaml:2: unknown operation 'rename_colum'; known operations: add_column"));
  EXPECT_THAT(parse_error("operations:\n  - rename_column:\n      table: t\n      form: a\n      to: b\n"),
              HasSubstr("m/migration.yaml:4: unknown key 'form' in rename_column; known keys: table, from, to"));
  EXPECT_THAT(parse_error("operations:\n  - rename_column: {table: t, to: b}\n"),
              HasSubstr("m/migration.yaml:2: rename_column needs 'from'"));
  EXPECT_THAT(parse_error("operations:\n  - sql: {up: 'select 1'\n"), HasSubstr("m/migration.yaml:"));
  EXPECT_THAT(parse_error("operations:\n  - sql: {up: 'select 1'\n"), HasSubstr("invalid YAML"));
  EXPECT_THAT(parse_error("operation: []\n"), HasSubstr("m/migration.yaml:1: unknown key 'operation'"));
  EXPECT_THAT(parse_error("operations: []\n"), HasSubstr("m/migration.yaml:1: operations expects a non-empty list"));
  EXPECT_THAT(parse_error("operations:\n  - add_column:\n      table: t\n      column: {name: c, type: int, "
                          "not_null: yes}\n"),
              HasSubstr("m/migration.yaml:4: add_column.column.not_null expects true or false, got 'yes'"));
  EXPECT_THAT(parse_error("operations:\n  - add_column:\n      table: t\n      column: {name: c, type: int, "
                          "not_null: true}\n"),
              HasSubstr("m/migration.yaml:4: add_column: a NOT NULL column needs a default or an `up` expression"));
  EXPECT_THAT(parse_error("operations:\n  - alter_column:\n      table: t\n      column: c\n      type: int\n"),
              HasSubstr("m/migration.yaml:5: alter_column: a type change needs `up`"));
  EXPECT_THAT(parse_error("operations:\n  - alter_column: {table: t, column: c}\n"),
              HasSubstr("m/migration.yaml:2: alter_column changes nothing"));
  EXPECT_THAT(parse_error("operations:\n  - alter_column:\n      table: t\n      column: c\n      default: \"1\"\n"),
              HasSubstr("m/migration.yaml:5: alter_column: a new default alone needs no new column"));
  EXPECT_THAT(parse_error("operations:\n  - drop_table: {table: a.b.c}\n"),
              HasSubstr("m/migration.yaml:2: drop_table.table expects table or schema.table, got 'a.b.c'"));
  EXPECT_THAT(parse_error("requires_flag: {flag: f, percentage: 101}\noperations:\n  - drop_table: {table: t}\n"),
              HasSubstr("m/migration.yaml:1: requires_flag.percentage expects a number from 0 to 100, got '101'"));
}

TEST(DeclarativeParse, RefusesTwoOperationsOnOneColumnOrOnADroppedTable) {
  EXPECT_THAT(parse_error("operations:\n"
                          "  - alter_column: {table: t, column: c, not_null: true}\n"
                          "  - drop_column: {table: t, column: c}\n"),
              HasSubstr("m/migration.yaml:3: drop_column changes public.t.c, which the operation at line 2 already "
                        "changes"));
  EXPECT_THAT(parse_error("operations:\n"
                          "  - drop_table: {table: t}\n"
                          "  - drop_column: {table: t, column: c}\n"),
              HasSubstr("m/migration.yaml:3: drop_column on public.t conflicts with the operation at line 2"));
}

TEST(DeclarativePlan, ChecksNamesAgainstTheCatalogWithTheLine) {
  EXPECT_THAT(plan_error("operations:\n  - rename_column: {table: order, from: descr, to: d}\n"),
              HasSubstr("m/migration.yaml:2: rename_column names table public.order, which does not exist"));
  EXPECT_THAT(plan_error("operations:\n  - sql: {up: 'select 1', down: 'select 2'}\n"
                         "  - drop_column: {table: orders, column: nope}\n"),
              HasSubstr("m/migration.yaml:3: drop_column names column nope of public.orders, which does not exist"));
  EXPECT_THAT(plan_error("operations:\n  - alter_column: {table: orders, column: id, not_null: true}\n"),
              HasSubstr("m/migration.yaml:2: alter_column cannot change public.orders.id: it is in the primary key"));
  Catalog no_default = orders_catalog();
  no_default.tables["public.orders"].columns[2].default_expr.clear();
  try {
    plan("operations:\n  - drop_column: {table: orders, column: price}\n", no_default);
    ADD_FAILURE() << "dropped a NOT NULL column without a default and without down";
  } catch (const migrator::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("m/migration.yaml:2: drop_column: public.orders.price is NOT NULL without a "
                                    "default"));
  }
  EXPECT_NO_THROW(plan("operations:\n  - drop_column: {table: orders, column: price, down: \"'0'\"}\n", no_default));
}

// Relations of a schema share one namespace: a name an index, view or table has (or an operation
// before gives) is refused before anything runs, so no failed build's cleanup drops what has it.
TEST(DeclarativePlan, RefusesANameAnotherRelationHasWithTheLine) {
  EXPECT_THAT(plan_error("operations:\n  - create_index: {name: orders_pkey, table: orders, columns: [price]}\n"),
              HasSubstr("m/migration.yaml:2: create_index: public.orders_pkey already exists (an index); choose "
                        "another name"));
  EXPECT_THAT(plan_error("operations:\n  - create_index: {name: customers, table: orders, columns: [price]}\n"),
              HasSubstr("m/migration.yaml:2: create_index: public.customers already exists (a table)"));
  EXPECT_THAT(plan_error("operations:\n  - create_index: {name: i, table: orders, columns: [price]}\n"
                         "  - create_index: {name: i, table: customers, columns: [id]}\n"),
              HasSubstr("m/migration.yaml:3: create_index: public.i already exists (an index)"));
  EXPECT_THAT(plan_error("operations:\n  - create_table: {table: order_totals, columns: [{name: id, type: int}]}\n"),
              HasSubstr("m/migration.yaml:2: create_table: public.order_totals already exists (a view)"));
  EXPECT_THAT(plan_error("operations:\n  - rename_table: {from: customers, to: orders_pkey}\n"),
              HasSubstr("m/migration.yaml:2: rename_table: public.orders_pkey already exists (an index)"));
  // Another schema's relation of that name is no clash.
  Catalog other = orders_catalog();
  other.relations["audit.i"] = "an index";
  EXPECT_NO_THROW(plan("operations:\n  - create_index: {name: i, table: orders, columns: [price]}\n", other));
}

TEST(DeclarativePlan, DropIndexRefusesWhatIsNoIndexItCanDropWithTheLine) {
  EXPECT_THAT(plan_error("operations:\n  - drop_index: {name: nope}\n"),
              HasSubstr("m/migration.yaml:2: drop_index names index public.nope, which does not exist"));
  EXPECT_THAT(plan_error("operations:\n  - drop_index: {name: customers}\n"),
              HasSubstr("m/migration.yaml:2: drop_index names public.customers, which is a table, not an index"));
  EXPECT_THAT(plan_error("operations:\n  - drop_index: {name: order_totals}\n"),
              HasSubstr("which is a view, not an index"));
  EXPECT_THAT(plan_error("operations:\n  - drop_index: {name: customers_name_key}\n"),
              HasSubstr("m/migration.yaml:2: drop_index cannot drop public.customers_name_key: it is the index of "
                        "constraint customers_name_key; drop the constraint instead"));
  Plan p = plan("operations:\n  - drop_index: {name: old_idx}\n");
  EXPECT_THAT(sql(p.phases.complete), ::testing::Contains("DROP INDEX CONCURRENTLY \"public\".\"old_idx\""));
}

TEST(DeclarativePlan, NoUniqueColumnIndexOrIndexDropOnAPartitionedTable) {
  Catalog catalog = orders_catalog();
  catalog.tables["public.orders"].partitioned = true;
  catalog.relations["public.orders_at_idx"] = "a partitioned index";
  auto error = [&](const std::string& operation) {
    try {
      plan("operations:\n  - " + operation + "\n", catalog);
    } catch (const migrator::Error& e) {
      EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
      return std::string(e.what());
    }
    return std::string("(planned)");
  };
  EXPECT_THAT(error("add_column: {table: orders, column: {name: code, type: text, unique: true}}"),
              HasSubstr("add_column cannot build a unique index on public.orders: it is a partitioned table"));
  EXPECT_THAT(error("alter_column: {table: orders, column: descr, unique: {name: u}}"),
              HasSubstr("alter_column cannot build a unique index on public.orders"));
  EXPECT_THAT(error("drop_index: {name: orders_at_idx}"),
              HasSubstr("drop_index cannot drop public.orders_at_idx: it is a partitioned index"));
  // create_index is built as PostgreSQL's manual says: ON ONLY the table, then each partition's.
  catalog.partitions["public.orders"] = {{{"public", "orders_1"}, false}, {{"public", "orders_2"}, false}};
  EXPECT_EQ(error("create_index: {name: i, table: orders, columns: [price]}"), "(planned)");
  Plan index = plan("operations:\n  - create_index: {name: i, table: orders, columns: [price]}\n", catalog);
  std::vector<std::string> steps = sql(index.phases.expand);
  EXPECT_THAT(
      steps, ::testing::IsSupersetOf({"CREATE INDEX \"i\" ON ONLY \"public\".\"orders\" (\"price\")",
                                      "CREATE INDEX CONCURRENTLY \"orders_1_i\" ON \"public\".\"orders_1\" (\"price\")",
                                      "ALTER INDEX \"public\".\"i\" ATTACH PARTITION \"public\".\"orders_1_i\"",
                                      "CREATE INDEX CONCURRENTLY \"orders_2_i\" ON \"public\".\"orders_2\" (\"price\")",
                                      "ALTER INDEX \"public\".\"i\" ATTACH PARTITION \"public\".\"orders_2_i\""}));
  EXPECT_EQ(sql(index.phases.abort).front(), "DROP INDEX IF EXISTS \"public\".\"i\"");
  // What builds no index plans as on any table.
  EXPECT_EQ(error("alter_column: {table: orders, column: price, type: integer, up: \"price::integer\", down: "
                  "\"price::text\"}"),
            "(planned)");
}

TEST(DeclarativePlan, AVolatileDefaultIsSetAfterTheColumnAndBackfilled) {
  using migrator::expand::default_may_rewrite;
  for (const char* constant : {"'new'", "0", "'{}'::jsonb", "1 + 2", "CURRENT_TIMESTAMP", "ARRAY[1, 2]", "-1.5"}) {
    EXPECT_FALSE(default_may_rewrite(constant)) << constant;
  }
  for (const char* call : {"gen_random_uuid()", "clock_timestamp()", "nextval('s')", "(SELECT 1)", "now()"}) {
    EXPECT_TRUE(default_may_rewrite(call)) << call;
  }
  Plan p = plan(
      "operations:\n  - add_column: {table: orders, column: {name: token, type: uuid, default: "
      "\"gen_random_uuid()\"}}\n");
  EXPECT_THAT(sql(p.phases.expand),
              ::testing::IsSupersetOf({"ALTER TABLE \"public\".\"orders\" ADD COLUMN \"_migrator_new_token\" uuid",
                                       "ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"_migrator_new_token\" SET "
                                       "DEFAULT gen_random_uuid()"}));
  ASSERT_EQ(p.phases.backfill.size(), 1u);
  EXPECT_EQ(p.phases.backfill[0].assignments, "\"_migrator_new_token\" = (gen_random_uuid())");
  // A constant stays a fast default: no rewrite, no backfill.
  Plan constant =
      plan("operations:\n  - add_column: {table: orders, column: {name: tier, type: text, default: \"'free'\"}}\n");
  EXPECT_THAT(
      sql(constant.phases.expand),
      ::testing::Contains("ALTER TABLE \"public\".\"orders\" ADD COLUMN \"_migrator_new_tier\" text DEFAULT 'free'"));
  EXPECT_TRUE(constant.phases.backfill.empty());
}

TEST(DeclarativePlan, RenameColumnOnlyReshapesTheNewVersionUntilComplete) {
  Plan p = plan("operations:\n  - rename_column: {table: orders, from: descr, to: description}\n");
  EXPECT_EQ(p.tables, std::vector<std::string>{"public.orders"});
  EXPECT_EQ(p.version_schemas, std::vector<std::string>{"public_v0007"});
  EXPECT_EQ(sql(p.phases.expand),
            (std::vector<std::string>{
                "CREATE SCHEMA \"public_v0007\"",
                "CREATE VIEW \"public_v0007\".\"customers\" AS SELECT \"id\" AS \"id\" FROM \"public\".\"customers\"",
                "CREATE VIEW \"public_v0007\".\"orders\" AS SELECT \"id\" AS \"id\", \"descr\" AS \"description\", "
                "\"price\" AS \"price\" FROM \"public\".\"orders\""}));
  EXPECT_EQ(sql(p.phases.complete),
            std::vector<std::string>{"ALTER TABLE \"public\".\"orders\" RENAME COLUMN \"descr\" TO \"description\""});
  EXPECT_EQ(sql(p.phases.abort), std::vector<std::string>{"DROP SCHEMA IF EXISTS \"public_v0007\" CASCADE"});
  EXPECT_TRUE(p.phases.backfill.empty());
}

TEST(DeclarativePlan, AlterColumnTypeAddsANewColumnTriggerAndBackfill) {
  Plan p = plan(
      "operations:\n  - alter_column: {table: orders, column: price, type: integer, "
      "up: 'price::integer', down: 'price::text'}\n");
  std::vector<std::string> expand = sql(p.phases.expand);
  ASSERT_EQ(expand.size(), 12u);
  // What takes no table lock comes first, so the transaction holds the table's lock (which every
  // client of the table queues behind) only from its first ALTER TABLE to its COMMIT.
  EXPECT_EQ(expand[0], "CREATE SCHEMA IF NOT EXISTS migrator");
  EXPECT_THAT(expand[1], HasSubstr("CREATE FUNCTION migrator.\"sync_0007_public_orders\"()"));
  EXPECT_THAT(expand[1], HasSubstr("IF current_setting('migrator.backfill', true) = 'on' THEN RETURN NEW; END IF;"));
  EXPECT_THAT(expand[1], HasSubstr("NEW.\"price\" := (SELECT (price::text) FROM (SELECT NEW.\"_migrator_new_price\" "
                                   "AS \"price\") AS _migrator_row);"));
  EXPECT_THAT(expand[1], HasSubstr("NEW.\"_migrator_new_price\" := (SELECT (price::integer) FROM (SELECT NEW.*) AS "
                                   "_migrator_row);"));
  EXPECT_EQ(expand[2], "CREATE SCHEMA \"public_v0007\"");
  // price stays NOT NULL and the sync trigger would fill it from the old column: the view takes its
  // inserts through a trigger that refuses NULL there (the type changes, so no default is kept).
  EXPECT_THAT(expand[3], HasSubstr("CREATE FUNCTION migrator.\"insert_0007_public_orders\"()"));
  EXPECT_THAT(expand[3], HasSubstr("IF NEW.\"price\" IS NULL THEN RAISE EXCEPTION USING ERRCODE = "
                                   "'not_null_violation', MESSAGE = 'null value in column \"price\" of relation "
                                   "\"orders\" violates not-null constraint'"));
  EXPECT_THAT(expand[3], HasSubstr("INSERT INTO \"public\".\"orders\" (\"id\", \"descr\", \"_migrator_new_price\") "
                                   "VALUES (NEW.\"id\", NEW.\"descr\", NEW.\"price\")\n    RETURNING \"id\" AS \"id\", "
                                   "\"descr\" AS \"descr\", \"_migrator_new_price\" AS \"price\" INTO NEW;"));
  EXPECT_EQ(expand[4], "ALTER TABLE \"public\".\"orders\" ADD COLUMN \"_migrator_new_price\" integer");
  // price was NOT NULL: the new column keeps it, as a NOT VALID check during the window.
  EXPECT_EQ(expand[5],
            "ALTER TABLE \"public\".\"orders\" ADD CONSTRAINT \"_migrator_nn_price\" CHECK "
            "(\"_migrator_new_price\" IS NOT NULL) NOT VALID");
  EXPECT_EQ(expand[6],
            "CREATE TRIGGER \"_migrator_sync_0007\" BEFORE INSERT OR UPDATE ON \"public\".\"orders\" FOR "
            "EACH ROW WHEN (current_setting('migrator.backfill', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION "
            "migrator.\"sync_0007_public_orders\"()");
  EXPECT_EQ(expand[8],
            "CREATE VIEW \"public_v0007\".\"orders\" AS SELECT \"id\" AS \"id\", \"descr\" AS \"descr\", "
            "\"_migrator_new_price\" AS \"price\" FROM \"public\".\"orders\"");
  EXPECT_EQ(expand[9],
            "CREATE TRIGGER \"_migrator_insert_0007\" INSTEAD OF INSERT ON \"public_v0007\".\"orders\" FOR EACH ROW "
            "EXECUTE FUNCTION migrator.\"insert_0007_public_orders\"()");
  // Last, the trigger's two conversions planned (not run) as it runs them, each naming its operation.
  EXPECT_EQ(expand[10],
            "EXPLAIN (COSTS OFF) UPDATE \"public\".\"orders\" SET \"_migrator_new_price\" = (SELECT (price::integer) "
            "FROM (SELECT \"public\".\"orders\".*) AS _migrator_row) WHERE false");
  EXPECT_EQ(p.phases.expand[10].source, "`up` of the operation at m/migration.yaml:2");
  EXPECT_EQ(expand[11],
            "EXPLAIN (COSTS OFF) UPDATE \"public\".\"orders\" SET \"price\" = (SELECT (price::text) FROM (SELECT "
            "\"public\".\"orders\".\"_migrator_new_price\" AS \"price\") AS _migrator_row) WHERE false");
  EXPECT_EQ(p.phases.expand[11].source, "`down` of the operation at m/migration.yaml:2");
  ASSERT_EQ(p.phases.backfill.size(), 1u);
  EXPECT_EQ(p.phases.backfill[0].table.key(), "public.orders");
  EXPECT_EQ(p.phases.backfill[0].assignments, "\"_migrator_new_price\" = (price::integer)");
  EXPECT_EQ(p.phases.backfill[0].pending, "\"_migrator_new_price\" IS NULL");
  std::vector<std::string> complete = sql(p.phases.complete);
  EXPECT_EQ(complete, (std::vector<std::string>{
                          "LOCK TABLE \"public_v0007\".\"orders\" IN ACCESS EXCLUSIVE MODE",
                          "DROP TRIGGER IF EXISTS \"_migrator_sync_0007\" ON \"public\".\"orders\"",
                          "DROP FUNCTION IF EXISTS migrator.\"sync_0007_public_orders\"()",
                          "DROP TRIGGER IF EXISTS \"_migrator_insert_0007\" ON \"public_v0007\".\"orders\"",
                          "DROP FUNCTION IF EXISTS migrator.\"insert_0007_public_orders\"()",
                          "ALTER TABLE \"public\".\"orders\" DROP COLUMN \"price\"",
                          "ALTER TABLE \"public\".\"orders\" RENAME COLUMN \"_migrator_new_price\" TO \"price\"",
                          "ALTER TABLE \"public\".\"orders\" VALIDATE CONSTRAINT \"_migrator_nn_price\"",
                          "ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"price\" SET NOT NULL",
                          "ALTER TABLE \"public\".\"orders\" DROP CONSTRAINT \"_migrator_nn_price\""}));
  EXPECT_EQ(
      sql(p.phases.abort),
      (std::vector<std::string>{"DROP SCHEMA IF EXISTS \"public_v0007\" CASCADE",
                                "DROP FUNCTION IF EXISTS migrator.\"insert_0007_public_orders\"()",
                                "DROP TRIGGER IF EXISTS \"_migrator_sync_0007\" ON \"public\".\"orders\"",
                                "DROP FUNCTION IF EXISTS migrator.\"sync_0007_public_orders\"()",
                                "ALTER TABLE \"public\".\"orders\" DROP COLUMN IF EXISTS \"_migrator_new_price\""}));
}

// Only a view whose new shape has a NOT NULL column the sync trigger fills takes its inserts
// through a trigger; it gives the view the table's defaults, and the refusal's text is the column's
// name as it is (RAISE ... USING MESSAGE has no % placeholders).
TEST(DeclarativePlan, OnlyViewsWithAFilledNotNullColumnTakeInsertsThroughATrigger) {
  auto triggers = [](const Plan& p) {
    std::vector<std::string> found;
    for (const std::string& s : sql(p.phases.expand)) {
      if (s.rfind("CREATE TRIGGER \"_migrator_insert_", 0) == 0 || s.rfind("ALTER VIEW", 0) == 0) found.push_back(s);
    }
    return found;
  };
  EXPECT_THAT(triggers(plan("operations:\n  - rename_column: {table: orders, from: descr, to: d}\n")),
              ::testing::IsEmpty());
  EXPECT_THAT(triggers(plan("operations:\n  - add_column: {table: orders, column: {name: note, type: text}}\n")),
              ::testing::IsEmpty());
  Plan p = plan(
      "operations:\n  - add_column: {table: orders, column: {name: \"a%b\", type: text, not_null: true, default: "
      "\"'x'\"}, up: \"'y'\"}\n");
  EXPECT_EQ(triggers(p),
            (std::vector<std::string>{
                "ALTER VIEW \"public_v0007\".\"orders\" ALTER COLUMN \"price\" SET DEFAULT '0'::text",
                "ALTER VIEW \"public_v0007\".\"orders\" ALTER COLUMN \"a%b\" SET DEFAULT 'x'",
                "CREATE TRIGGER \"_migrator_insert_0007\" INSTEAD OF INSERT ON \"public_v0007\".\"orders\" FOR EACH "
                "ROW EXECUTE FUNCTION migrator.\"insert_0007_public_orders\"()"}));
  bool refuses = false;
  for (const std::string& s : sql(p.phases.expand)) {
    refuses = refuses || s.find(
                             "MESSAGE = 'null value in column \"a%b\" of relation \"orders\" violates not-null "
                             "constraint', COLUMN = 'a%b', TABLE = 'orders'") != std::string::npos;
  }
  EXPECT_TRUE(refuses);
}

// A complete list stored by a release that did not lock the views first (the deadlock with a client
// writing through a view) runs with the lock this release plans, before everything else; a list
// planned now, and one that changes no view, run as they are.
TEST(DeclarativePlan, AStoredContractWithoutTheViewLocksTakesThemFirst) {
  Plan p = plan(
      "operations:\n"
      "  - add_column: {table: orders, column: {name: a, type: text, not_null: true, default: \"'x'\"}, up: \"'y'\"}\n"
      "  - add_column: {table: customers, column: {name: b, type: text, not_null: true}, up: \"'y'\"}\n");
  const std::vector<PlannedStatement>& planned = p.phases.complete;
  ASSERT_EQ(planned.front().sql,
            "LOCK TABLE \"public_v0007\".\"customers\", \"public_v0007\".\"orders\" IN ACCESS EXCLUSIVE MODE");
  std::vector<PlannedStatement> earlier(planned.begin() + 1, planned.end());
  EXPECT_EQ(sql(migrator::expand::lock_views_first(earlier, "0007")), sql(planned));
  EXPECT_EQ(sql(migrator::expand::lock_views_first(planned, "0007")), sql(planned));
  EXPECT_EQ(sql(migrator::expand::lock_views_first(earlier, "0008")), sql(earlier));  // another version's triggers
  Plan renamed = plan("operations:\n  - rename_column: {table: orders, from: descr, to: d}\n");
  EXPECT_EQ(sql(migrator::expand::lock_views_first(renamed.phases.complete, "0007")), sql(renamed.phases.complete));
}

// create_index after an alter_column of the same column indexes the new physical column (which
// complete renames into place, the index with it), in its columns and its WHERE; before it, it is
// refused, since complete would drop the old column and the index with it.
TEST(DeclarativePlan, CreateIndexAfterAnAlterColumnIndexesTheNewColumn) {
  Plan p = plan(
      "operations:\n"
      "  - alter_column: {table: orders, column: price, type: integer, up: 'price::integer', down: 'price::text'}\n"
      "  - create_index: {name: orders_price_idx, table: orders, columns: [price, descr], where: \"price > 0 AND "
      "'price' <> descr\"}\n");
  EXPECT_THAT(sql(p.phases.expand),
              ::testing::Contains("CREATE INDEX CONCURRENTLY \"orders_price_idx\" ON \"public\".\"orders\" "
                                  "(\"_migrator_new_price\", \"descr\") WHERE \"_migrator_new_price\" > 0 AND 'price' "
                                  "<> descr"));
  EXPECT_THAT(parse_error("operations:\n"
                          "  - create_index: {name: orders_price_idx, table: orders, columns: [price]}\n"
                          "  - alter_column: {table: orders, column: price, type: integer, up: 'price::integer', "
                          "down: 'price::text'}\n"),
              HasSubstr("m/migration.yaml:3: alter_column changes public.orders.price, which the create_index at "
                        "line 2 indexes; put create_index after it"));
  // Its WHERE counts too; a string that spells the name does not.
  EXPECT_THAT(parse_error("operations:\n"
                          "  - create_index: {name: orders_descr_idx, table: orders, columns: [descr], where: "
                          "\"price <> '0'\"}\n"
                          "  - alter_column: {table: orders, column: price, type: integer, up: 'price::integer', "
                          "down: 'price::text'}\n"),
              HasSubstr("m/migration.yaml:3: alter_column changes public.orders.price, which the create_index at "
                        "line 2 indexes"));
  Plan spelled = plan(
      "operations:\n"
      "  - create_index: {name: orders_descr_idx, table: orders, columns: [descr], where: \"descr <> 'price'\"}\n"
      "  - alter_column: {table: orders, column: price, type: integer, up: 'price::integer', down: 'price::text'}\n");
  EXPECT_FALSE(spelled.phases.expand.empty());
}

TEST(DeclarativePlan, AlterColumnConstraintsMoveToTheNewColumn) {
  Plan p = plan(
      "operations:\n  - alter_column:\n      table: orders\n      column: descr\n"
      "      check: {constraint: \"length(descr) > 2 AND descr <> 'descr'\"}\n"
      "      unique: {}\n"
      "      references: {table: customers, column: id}\n");
  std::vector<std::string> expand = sql(p.phases.expand);
  EXPECT_THAT(expand, ::testing::Contains("ALTER TABLE \"public\".\"orders\" ADD CONSTRAINT \"orders_descr_check\" "
                                          "CHECK (length(\"_migrator_new_descr\") > 2 AND \"_migrator_new_descr\" <> "
                                          "'descr') NOT VALID"));
  EXPECT_THAT(expand, ::testing::Contains("ALTER TABLE \"public\".\"orders\" ADD CONSTRAINT \"orders_descr_fkey\" "
                                          "FOREIGN KEY (\"_migrator_new_descr\") REFERENCES \"public\".\"customers\" "
                                          "(\"id\") NOT VALID"));
  bool unique_index = false;
  for (const PlannedStatement& s : p.phases.expand) {
    if (s.sql ==
        "CREATE UNIQUE INDEX CONCURRENTLY \"orders_descr_key\" ON \"public\".\"orders\" "
        "(\"_migrator_new_descr\")") {
      unique_index = true;
      EXPECT_TRUE(s.concurrent);
      EXPECT_EQ(s.cleanup, "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"orders_descr_key\"");
    }
  }
  EXPECT_TRUE(unique_index);
  std::vector<std::string> complete = sql(p.phases.complete);
  EXPECT_THAT(complete, ::testing::Contains("ALTER TABLE \"public\".\"orders\" VALIDATE CONSTRAINT "
                                            "\"orders_descr_check\""));
  EXPECT_THAT(complete, ::testing::Contains("ALTER TABLE \"public\".\"orders\" ADD CONSTRAINT \"orders_descr_key\" "
                                            "UNIQUE USING INDEX \"orders_descr_key\""));
  // The index is dropped concurrently first on abort.
  ASSERT_FALSE(p.phases.abort.empty());
  EXPECT_TRUE(p.phases.abort[0].concurrent);
}

TEST(DeclarativePlan, ABackfillWritesEveryNewColumnOfATableTogether) {
  Plan p = plan(
      "operations:\n"
      "  - add_column: {table: orders, column: {name: status, type: text}, up: \"'new'\"}\n"
      "  - alter_column: {table: orders, column: descr, not_null: true, up: \"coalesce(descr, '')\"}\n");
  ASSERT_EQ(p.phases.backfill.size(), 1u);
  EXPECT_EQ(p.phases.backfill[0].assignments,
            "\"_migrator_new_status\" = ('new'), \"_migrator_new_descr\" = (coalesce(descr, ''))");
  EXPECT_EQ(p.phases.backfill[0].pending, "(\"_migrator_new_status\" IS NULL) OR (\"_migrator_new_descr\" IS NULL)");
}

TEST(DeclarativePlan, RenameIdentifierLeavesStringsQuotedNamesAndOtherTablesAlone) {
  EXPECT_EQ(migrator::expand::rename_identifier("c > 0 AND t.c = 'c' AND \"c\" <> cc AND C", "c", "n"),
            "\"n\" > 0 AND t.c = 'c' AND \"n\" <> cc AND C");
}

TEST(DeclarativePlan, EveryOperationPlansItsPhases) {
  Plan p = plan(
      "operations:\n"
      "  - add_column: {table: orders, column: {name: status, type: text, not_null: true}, up: \"'new'\"}\n"
      "  - drop_column: {table: orders, column: descr}\n"
      "  - create_index: {name: orders_price_idx, table: orders, columns: [price]}\n"
      "  - drop_index: {name: old_idx}\n"
      "  - create_table: {table: items, columns: [{name: id, type: bigint, primary_key: true}, "
      "{name: sku, type: text, not_null: true}]}\n"
      "  - create_index: {name: items_sku_idx, table: items, columns: [sku], unique: true}\n"
      "  - rename_table: {from: customers, to: clients}\n"
      "  - sql: {up: 'CREATE SEQUENCE s', down: 'DROP SEQUENCE s'}\n");
  std::vector<std::string> expand = sql(p.phases.expand);
  EXPECT_THAT(expand, ::testing::Contains("ALTER TABLE \"public\".\"orders\" ADD COLUMN \"_migrator_new_status\" text"));
  // Each operation's statements name it and its line, for the error of one that fails.
  int named = 0;
  for (const auto* list : {&p.phases.expand, &p.phases.complete, &p.phases.abort}) {
    for (const PlannedStatement& s : *list) {
      if (s.sql.find("_migrator_new_status") != std::string::npos && s.sql.rfind("ALTER TABLE", 0) == 0) {
        EXPECT_EQ(s.source, "add_column at m/migration.yaml:2") << s.sql;
        ++named;
      }
      if (s.sql == "CREATE SEQUENCE s" || s.sql == "DROP SEQUENCE s") {
        EXPECT_EQ(s.source, "sql at m/migration.yaml:9") << s.sql;
        ++named;
      }
    }
  }
  EXPECT_GE(named, 5);  // add, its check, rename at complete, drop at abort; the sequence's up and down
  // Schemas and functions (no table lock) before everything else.
  auto lockless = [](const std::string& s) { return s.rfind("CREATE SCHEMA", 0) == 0 || s.rfind("CREATE FUNCTION", 0) == 0; };
  auto first_locking = std::find_if_not(expand.begin(), expand.end(), lockless);
  EXPECT_GE(first_locking - expand.begin(), 3);
  EXPECT_TRUE(std::none_of(first_locking, expand.end(), lockless)) << ::testing::PrintToString(expand);
  EXPECT_THAT(expand, ::testing::Contains("CREATE INDEX CONCURRENTLY \"orders_price_idx\" ON \"public\".\"orders\" "
                                          "(\"price\")"));
  EXPECT_THAT(expand, ::testing::Contains("CREATE TABLE \"public\".\"items\" (\"id\" bigint PRIMARY KEY, \"sku\" text "
                                          "NOT NULL)"));
  EXPECT_THAT(expand, ::testing::Contains("CREATE SEQUENCE s"));
  EXPECT_THAT(expand, ::testing::Contains("CREATE VIEW \"public_v0007\".\"clients\" AS SELECT \"id\" AS \"id\" FROM "
                                          "\"public\".\"customers\""));
  EXPECT_THAT(expand, ::testing::Contains("CREATE VIEW \"public_v0007\".\"items\" AS SELECT \"id\" AS \"id\", \"sku\" "
                                          "AS \"sku\" FROM \"public\".\"items\""));
  EXPECT_THAT(expand, ::testing::Contains("CREATE VIEW \"public_v0007\".\"orders\" AS SELECT \"id\" AS \"id\", "
                                          "\"price\" AS \"price\", \"_migrator_new_status\" AS \"status\" FROM "
                                          "\"public\".\"orders\""));
  // One backfill job per table, writing every new column of a row at once.
  ASSERT_EQ(p.phases.backfill.size(), 1u);
  EXPECT_EQ(p.phases.backfill[0].assignments, "\"_migrator_new_status\" = ('new')");
  std::vector<std::string> complete = sql(p.phases.complete);
  EXPECT_THAT(complete, ::testing::Contains("ALTER TABLE \"public\".\"orders\" DROP COLUMN \"descr\""));
  EXPECT_THAT(complete, ::testing::Contains("ALTER TABLE \"public\".\"orders\" RENAME COLUMN "
                                            "\"_migrator_new_status\" TO \"status\""));
  EXPECT_THAT(complete, ::testing::Contains("DROP INDEX CONCURRENTLY \"public\".\"old_idx\""));
  EXPECT_THAT(complete, ::testing::Contains("ALTER TABLE \"public\".\"customers\" RENAME TO \"clients\""));
  std::vector<std::string> abort = sql(p.phases.abort);
  EXPECT_THAT(abort, ::testing::Contains("DROP TABLE IF EXISTS \"public\".\"items\""));
  EXPECT_THAT(abort, ::testing::Contains("DROP SEQUENCE s"));
  EXPECT_THAT(abort, ::testing::Contains("DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"orders_price_idx\""));
  EXPECT_THAT(abort, ::testing::Contains("ALTER TABLE \"public\".\"orders\" DROP COLUMN IF EXISTS "
                                         "\"_migrator_new_status\""));
  // Reverse order: the raw SQL (last) is undone before the table created earlier.
  auto position = [&](const std::string& s) { return std::find(abort.begin(), abort.end(), s) - abort.begin(); };
  EXPECT_LT(position("DROP SEQUENCE s"), position("DROP TABLE IF EXISTS \"public\".\"items\""));
  // drop_table hides a table from the new version.
  Plan dropped = plan("operations:\n  - drop_table: {table: customers}\n");
  for (const std::string& s : sql(dropped.phases.expand)) EXPECT_THAT(s, ::testing::Not(HasSubstr("customers")));
  EXPECT_EQ(sql(dropped.phases.complete), std::vector<std::string>{"DROP TABLE \"public\".\"customers\""});
}

TEST(LoadMigrations, ReadsMigrationYamlWithItsChecksum) {
  MigrationsDir dir;
  dir.add("0001_create", "CREATE TABLE t (id int);", "DROP TABLE t;");
  std::string yaml = "operations:\n  - rename_column: {table: t, from: a, to: b}\n";
  write_file(dir.path() / "0002_rename" / "migration.yaml", yaml);
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir.path());
  ASSERT_EQ(migrations.size(), 2u);
  EXPECT_FALSE(migrations[0].declarative());
  EXPECT_TRUE(migrations[1].declarative());
  EXPECT_EQ(migrations[1].declarative_yaml, yaml);
  EXPECT_EQ(migrations[1].checksum, migrator::checksum(yaml, ""));
  EXPECT_TRUE(migrations[1].up_sql.empty());
  EXPECT_TRUE(migrations[1].options.irreversible);
}

TEST(LoadMigrations, RefusesMigrationYamlBesideUpSqlAndInvalidYaml) {
  MigrationsDir both;
  both.add("0001_both", "SELECT 1;", "SELECT 1;");
  write_file(both.path() / "0001_both" / "migration.yaml", "operations:\n  - drop_table: {table: t}\n");
  try {
    migrator::load_migrations(both.path());
    ADD_FAILURE() << "loaded a migration with both migration.yaml and up.sql";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    EXPECT_THAT(e.what(), HasSubstr("up.sql: a migration is either declarative (migration.yaml) or SQL"));
  }
  MigrationsDir bad;
  write_file(bad.path() / "0001_bad" / "migration.yaml", "operations:\n  - drop_tabel: {table: t}\n");
  try {
    migrator::load_migrations(bad.path());
    ADD_FAILURE() << "loaded an invalid migration.yaml";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    EXPECT_THAT(e.what(), HasSubstr((bad.path() / "0001_bad" / "migration.yaml").string() +
                                    ":2: unknown operation 'drop_tabel'"));
  }
}

TEST(DeclarativeCli, SqliteRefusesADeclarativeMigrationRunningNothing) {
  MigrationsDir dir;
  dir.add("0001_create", "CREATE TABLE t (a text);", "DROP TABLE t;");
  write_file(dir.path() / "0002_rename" / "migration.yaml",
             "operations:\n  - rename_column: {table: t, from: a, to: b}\n");
  TempDir db;
  std::string url = "sqlite:" + (db.path() / "app.db").string();
  CommandResult result = run_command(MIGRATOR_BIN, {"--database-url", url, "--dir", dir.path().string(), "up"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_THAT(result.err, HasSubstr((dir.path() / "0002_rename" / "migration.yaml").string() +
                                    ": declarative (expand–contract) migrations need PostgreSQL"));
  EXPECT_FALSE(std::filesystem::exists(db.path() / "app.db"));  // not even 0001 ran
}

}  // namespace
}  // namespace migrator_test
