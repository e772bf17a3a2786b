// Declarative (expand–contract) migrations on PostgreSQL, through the executable: expand with its
// backfill, writes through the old schema (base tables) and the new one (public_v<version> views)
// seen in the other during the window, complete, abort back to the exact previous catalog, and the
// refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <sstream>
#include <thread>

#include "migrator/error.h"
#include "migrator/expand/phases.h"
#include "migrator/pg_test_database.h"
#include "migrator/source/source.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;

class ExpandPg : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string problem;
    database_ = TestDatabase::create(&problem);
    ASSERT_NE(database_, nullptr) << problem;
    database_->exec(
        "CREATE TABLE orders (id bigserial PRIMARY KEY, descr text, price text NOT NULL DEFAULT '0');\n"
        "CREATE TABLE customers (id bigint PRIMARY KEY, name text);\n"
        "INSERT INTO orders (descr, price) VALUES ('a', '10'), (NULL, '20');\n"
        "INSERT INTO customers VALUES (1, 'ann');\n");
  }

  void add(const std::string& dirname, const std::string& yaml) {
    write_file(dir_.path() / dirname / "migration.yaml", yaml);
  }

  CommandResult migrator(std::vector<std::string> args) {
    std::vector<std::string> all = {"--database-url", database_->url(),         "--dir",    dir_.path().string(),
                                    "--backup-dir",   backups_.path().string(), "--pg-bin", pg_bindir()};
    all.insert(all.end(), args.begin(), args.end());
    return run_command(MIGRATOR_BIN, all);
  }

  std::string value(const std::string& query) { return database_->query_value(query); }

  // The schema as pg_dump prints it, without the migrator's own schema.
  std::string schema_dump() {
    CommandResult dump = run_command(pg_bindir() + "/pg_dump", {"--schema-only", "--exclude-schema=migrator",
                                                                "--restrict-key=expandtest", "-d", database_->url()});
    EXPECT_EQ(dump.exit_code, 0) << dump.err;
    return dump.out;
  }

  // "SQLSTATE <code>: <message>" of a statement the database refuses; fails the test if it succeeds.
  std::string refused(const std::string& sql) {
    try {
      database_->exec(sql);
    } catch (const pqxx::sql_error& e) {
      return "SQLSTATE " + e.sqlstate() + ": " + e.what();
    } catch (const std::exception& e) {
      return e.what();
    }
    ADD_FAILURE() << "the database accepted: " << sql;
    return "";
  }

  // The first row `sql` returns (a write with RETURNING, committed), its fields joined by '|'.
  std::string returned(const std::string& sql) {
    pqxx::connection connection(database_->url());
    pqxx::work tx(connection);
    pqxx::row row = tx.exec1(sql);
    tx.commit();
    std::string joined;
    for (const pqxx::field& field : row) joined += (joined.empty() ? "" : "|") + std::string(field.c_str());
    return joined;
  }

  // The history of `version`: "action outcome" per row, oldest first.
  std::string history(int version) {
    return value(
        "SELECT string_agg(action || ' ' || outcome, ', ' ORDER BY id) FROM migrator.history WHERE "
        "version = " +
        std::to_string(version));
  }

  // The columns of `table` as the catalog has them: "name type[ not null]", in order.
  std::string columns_of(const std::string& table) {
    return value(
        "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || (CASE WHEN attnotnull THEN ' not "
        "null' ELSE '' END), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '" +
        table + "'::regclass AND attnum > 0 AND NOT attisdropped");
  }

  // `expression` over each row of `relation`, by id, joined by ','.
  std::string rows(const std::string& relation, const std::string& expression) {
    return value("SELECT string_agg(" + expression + ", ',' ORDER BY id) FROM " + relation);
  }

  // Every row of orders and customers, as text.
  std::string fixture_rows() {
    return value(
        "SELECT (SELECT string_agg(o::text, ';' ORDER BY id) FROM public.orders o) || ' # ' || (SELECT "
        "string_agg(c::text, ';' ORDER BY id) FROM public.customers c)");
  }

  // Migration 7 (kRenameAndRetype) expanded: a client holds its view public_v0007.orders in an open
  // transaction (an ALTER VIEW), `complete 7` starts and must wait for the view, then the client
  // writes through the view and commits; neither may fail. The client checks for deadlocks after
  // 10 ms, so a contract that took the table before the view makes its UPDATE fail with 40P01.
  void complete_while_a_client_holds_the_view() {
    pqxx::connection client(database_->url());
    pqxx::work hold(client);
    hold.exec("SET LOCAL deadlock_timeout = '10ms'");
    hold.exec("ALTER VIEW public_v0007.orders SET (security_barrier = false)");  // holds the view only
    CommandResult done;
    std::thread completing([&] { done = migrator({"--lock-timeout", "30s", "complete", "7", "--no-backup"}); });
    struct Joined {  // also when an assertion or exception leaves early: the client lets go first
      std::thread& thread;
      pqxx::work& hold;
      ~Joined() {
        try {
          hold.abort();
        } catch (const std::exception&) {  // committed, or its connection is gone
        }
        if (thread.joinable()) thread.join();
      }
    } joined{completing, hold};
    std::string waiting = "0";
    for (int i = 0; i < 300 && waiting == "0"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      waiting = value("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'public_v0007.orders'::regclass");
    }
    EXPECT_EQ(waiting, "1");
    std::string client_error;
    try {
      hold.exec("UPDATE public_v0007.orders SET price = 12 WHERE id = 1");
      hold.commit();
    } catch (const pqxx::sql_error& e) {
      client_error = "SQLSTATE " + e.sqlstate() + ": " + e.what();
    } catch (const std::exception& e) {
      client_error = e.what();
    }
    completing.join();
    EXPECT_EQ(client_error, "");
    ASSERT_EQ(done.exit_code, 0) << done.err;
    EXPECT_THAT(done.out, HasSubstr("completed 0007_retype"));
    EXPECT_EQ(rows("public.orders", "id || '=' || price"), "1=12,2=20");
    EXPECT_EQ(columns_of("public.orders"), "id bigint not null, description text, price integer not null");
  }

  // Runs `up` on `yaml` as migration `dirname` (version `version`), then `abort`: the schema dump
  // and the fixture's rows are exactly what they were, and the migration is pending again.
  void expect_expand_then_abort_changes_nothing(const std::string& dirname, int version, const std::string& yaml) {
    add(dirname, yaml);
    std::string schema = schema_dump();
    std::string data = fixture_rows();
    CommandResult up = migrator({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.err;
    ASSERT_THAT(up.out, HasSubstr("expanded " + dirname));
    CommandResult abort = migrator({"abort", std::to_string(version)});
    ASSERT_EQ(abort.exit_code, 0) << abort.err;
    EXPECT_THAT(abort.out, HasSubstr("aborted " + dirname));
    EXPECT_EQ(schema_dump(), schema);
    EXPECT_EQ(fixture_rows(), data);
    EXPECT_THAT(migrator({"status"}).out, HasSubstr("aborted (pending again"));
  }

  // Expands the migration in the directory again (after an abort) and expects it expanded.
  void expand_again(const std::string& dirname) {
    CommandResult up = migrator({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.err;
    ASSERT_THAT(up.out, HasSubstr("expanded " + dirname));
  }

  void complete(int version) {
    CommandResult done = migrator({"complete", std::to_string(version), "--no-backup"});
    ASSERT_EQ(done.exit_code, 0) << done.err;
    ASSERT_THAT(done.out, HasSubstr("completed"));
  }

  std::unique_ptr<TestDatabase> database_;
  TempDir dir_;
  TempDir backups_;
};

// The migrator's state as the release before expand-contract history made it (state script and
// marker of migrator/drivers/postgres_driver.cpp; expand_phases as migrator/expand/phases.cpp
// created it at the first expand).
constexpr const char* kPreviousState = R"sql(
CREATE SCHEMA IF NOT EXISTS migrator;
CREATE TABLE IF NOT EXISTS migrator.schema_migrations (
  version bigint PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT session_user,
  execution_ms bigint NOT NULL
);
-- Upgrades in place a state table created by an earlier migrator.
ALTER TABLE migrator.schema_migrations ADD COLUMN IF NOT EXISTS directory text;
-- A migration run outside a transaction is 'running' from before its first statement until it is
-- recorded (a run that died leaves it so), and 'failed' if a statement failed; `action` is the
-- direction of that run, `ran` the lines of the statements that ran, `error` why it stopped.
ALTER TABLE migrator.schema_migrations
  ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'running', 'failed')),
  ADD COLUMN IF NOT EXISTS action text NOT NULL DEFAULT 'up' CHECK (action IN ('up', 'down')),
  ADD COLUMN IF NOT EXISTS ran text NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS error text NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS migrator.history (
  id bigserial PRIMARY KEY,
  version bigint NOT NULL,
  name text NOT NULL,
  action text NOT NULL CHECK (action IN ('up', 'down', 'baseline', 'resolve', 'backup', 'restore')),
  outcome text NOT NULL CHECK (outcome IN ('applied', 'reverted', 'failed', 'interrupted', 'completed')),
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  by text NOT NULL DEFAULT session_user,
  duration_ms bigint NOT NULL,
  migrator_version text NOT NULL,
  detail text NOT NULL DEFAULT ''
);
-- Upgrades in place a history created before `baseline` or `resolve` was an action.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'migrator.history'::regclass
                 AND conname = 'history_action_check' AND pg_get_constraintdef(oid) LIKE '%resolve%') THEN
    ALTER TABLE migrator.history DROP CONSTRAINT IF EXISTS history_action_check;
    ALTER TABLE migrator.history ADD CONSTRAINT history_action_check
      CHECK (action IN ('up', 'down', 'baseline', 'resolve', 'backup', 'restore'));
  END IF;
END $$;
CREATE OR REPLACE FUNCTION migrator.history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'migrator.history is append-only' USING ERRCODE = '55000',
    HINT = 'The history records every migration attempt; add rows, never change them.';
END $$;
CREATE OR REPLACE TRIGGER history_is_append_only BEFORE UPDATE OR DELETE ON migrator.history
  FOR EACH ROW EXECUTE FUNCTION migrator.history_is_append_only())sql";
constexpr const char* kPreviousPhases = R"sql(
CREATE SCHEMA IF NOT EXISTS migrator;
CREATE TABLE IF NOT EXISTS migrator.expand_phases (
  version bigint PRIMARY KEY,
  name text NOT NULL,
  directory text NOT NULL,
  checksum text NOT NULL,
  phase text NOT NULL CHECK (phase IN ('expanding', 'backfilling', 'expanded', 'complete', 'aborted')),
  tables text[] NOT NULL DEFAULT '{}',
  version_schemas text[] NOT NULL DEFAULT '{}',
  plan jsonb NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text NOT NULL DEFAULT session_user,
  error text NOT NULL DEFAULT ''
))sql";

constexpr int64_t fnv1a64(const char* text) {
  uint64_t hash = 14695981039346656037ull;
  for (; *text != '\0'; ++text) {
    hash ^= static_cast<unsigned char>(*text);
    hash *= 1099511628211ull;
  }
  return static_cast<int64_t>(hash);
}

constexpr const char* kRenameAndRetype =
    "operations:\n"
    "  - rename_column: {table: orders, from: descr, to: description}\n"
    "  - alter_column:\n"
    "      table: orders\n"
    "      column: price\n"
    "      type: integer\n"
    "      up: \"price::integer\"\n"
    "      down: \"price::text\"\n";

TEST_F(ExpandPg, RenameAndTextToIntegerAreSeenBothWaysThenComplete) {
  add("0007_retype", kRenameAndRetype);
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("expanded 0007_retype"));
  EXPECT_THAT(up.out, HasSubstr("backfilled 0007_retype: 2 rows"));
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("expanded (old and new versions both work"));
  // The backfill converted the rows that existed; the new version reads them as integers.
  EXPECT_EQ(value("SELECT string_agg(price::text || ':' || pg_typeof(price), ',' ORDER BY id) FROM "
                  "public_v0007.orders"),
            "10:integer,20:integer");
  EXPECT_EQ(value("SELECT string_agg(coalesce(description, '-'), ',' ORDER BY id) FROM public_v0007.orders"), "a,-");

  // Old schema -> new, and new -> old, for inserts and updates.
  database_->exec("INSERT INTO public.orders (id, descr, price) VALUES (3, 'old', '30')");
  database_->exec("INSERT INTO public_v0007.orders (id, description, price) VALUES (4, 'new', 40)");
  database_->exec("UPDATE public_v0007.orders SET price = 11 WHERE id = 1");
  database_->exec("UPDATE public.orders SET price = '21' WHERE id = 2");
  EXPECT_EQ(value("SELECT string_agg(id || '=' || description || '/' || price, ',' ORDER BY id) FROM "
                  "public_v0007.orders WHERE id >= 3"),
            "3=old/30,4=new/40");
  EXPECT_EQ(value("SELECT string_agg(id || '=' || descr || '/' || price, ',' ORDER BY id) FROM public.orders "
                  "WHERE id >= 3"),
            "3=old/30,4=new/40");
  EXPECT_EQ(value("SELECT string_agg(price, ',' ORDER BY id) FROM public.orders"), "11,21,30,40");
  EXPECT_EQ(value("SELECT string_agg(price::text, ',' ORDER BY id) FROM public_v0007.orders"), "11,21,30,40");
  // price stays NOT NULL: a NULL through the new schema is refused, not converted from the old
  // column's default.
  EXPECT_THAT(refused("INSERT INTO public_v0007.orders (id, description, price) VALUES (9, 'x', NULL)"),
              HasSubstr("SQLSTATE 23502: ERROR:  null value in column \"price\" of relation \"orders\""));
  EXPECT_THAT(refused("UPDATE public_v0007.orders SET price = NULL WHERE id = 4"), HasSubstr("SQLSTATE 23502"));
  EXPECT_EQ(value("SELECT count(*) FROM public.orders WHERE id = 9"), "0");
  // A later migration waits for complete.
  add("0008_later", "operations:\n  - add_column: {table: customers, column: {name: tier, type: text}}\n");
  CommandResult waiting = migrator({"up"});
  EXPECT_EQ(waiting.exit_code, 0) << waiting.err;
  EXPECT_THAT(waiting.out, HasSubstr("0007_retype is expanded: later migrations wait for `migrator complete 7`"));
  EXPECT_EQ(value("SELECT count(*) FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname LIKE "
                  "'%tier'"),
            "0");

  CommandResult complete = migrator({"complete", "7"});
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_THAT(complete.out, HasSubstr("backed up to"));
  EXPECT_THAT(complete.out, HasSubstr("completed 0007_retype"));
  EXPECT_EQ(value("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || (CASE WHEN attnotnull "
                  "THEN ' not null' ELSE '' END), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = "
                  "'public.orders'::regclass AND attnum > 0 AND NOT attisdropped"),
            "id bigint not null, description text, price integer not null");
  EXPECT_EQ(value("SELECT string_agg(id || '=' || coalesce(description, '-') || '/' || price, ',' ORDER BY id) FROM "
                  "public.orders"),
            "1=a/11,2=-/21,3=old/30,4=new/40");
  EXPECT_EQ(value("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass"), "0");
  EXPECT_EQ(value("SELECT count(*) FROM migrator.schema_migrations WHERE version = 7"), "1");
  // The new version's views keep working after complete.
  database_->exec("INSERT INTO public_v0007.orders (id, description, price) VALUES (5, 'after', 50)");
  EXPECT_EQ(value("SELECT price FROM public.orders WHERE id = 5"), "50");
  CommandResult status = migrator({"status"});
  EXPECT_THAT(status.out, HasSubstr("complete (expand-contract; applied"));
  EXPECT_EQ(history(7), "expand applied, backfill completed, complete applied");
  EXPECT_EQ(value("SELECT detail FROM migrator.history WHERE version = 7 AND action = 'backfill'"),
            "2 rows in 1 batches");
  // Now 0008 expands.
  EXPECT_THAT(migrator({"up"}).out, HasSubstr("expanded 0008_later"));
}

// A client that holds the new version's view and then needs its table (every statement through the
// view takes the two in that order) while complete runs: complete locks the view before the table,
// so the client goes first instead of deadlocking.
TEST_F(ExpandPg, CompleteLocksTheViewsBeforeTheirTablesSoAClientThroughThemCannotDeadlock) {
  add("0007_retype", kRenameAndRetype);
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(complete_while_a_client_holds_the_view());
}

// The same, for a migration expanded by a release whose stored contract did not lock the views:
// complete adds the lock before it runs that contract.
TEST_F(ExpandPg, CompleteOfAContractStoredWithoutTheViewLocksTakesThemFirst) {
  add("0007_retype", kRenameAndRetype);
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  database_->exec(
      "UPDATE migrator.expand_phases SET plan = jsonb_set(plan, '{complete}', (plan->'complete') - 0) "
      "WHERE version = 7 AND plan->'complete'->0->>'sql' LIKE 'LOCK TABLE %'");
  EXPECT_EQ(value("SELECT plan->'complete'->0->>'sql' FROM migrator.expand_phases WHERE version = 7"),
            "DROP TRIGGER IF EXISTS \"_migrator_sync_0007\" ON \"public\".\"orders\"");
  ASSERT_NO_FATAL_FAILURE(complete_while_a_client_holds_the_view());
}

// complete validates each NOT VALID constraint in a transaction of its own, before the contract
// transaction and holding no ACCESS EXCLUSIVE lock (so no client waits behind the scan): an event
// trigger records, for every DDL command, its transaction and the ACCESS EXCLUSIVE locks held.
TEST_F(ExpandPg, CompleteValidatesEachConstraintAloneBeforeTheContractWithoutAccessExclusive) {
  add("0005_constrained",
      "operations:\n"
      "  - add_column: {table: orders, column: {name: status, type: text, not_null: true, check: \"length(status) > "
      "1\"}, up: \"'s' || id\"}\n"
      "  - alter_column: {table: orders, column: price, type: integer, up: \"price::integer\", down: "
      "\"price::text\"}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  database_->exec(
      "CREATE SCHEMA audit;\n"
      "CREATE TABLE audit.ddl (id serial, xid bigint, query text, exclusive text);\n"
      "CREATE FUNCTION audit.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$\n"
      "BEGIN\n"
      "  INSERT INTO audit.ddl (xid, query, exclusive) SELECT txid_current(), current_query(),\n"
      "    coalesce((SELECT string_agg(l.relation::regclass::text, ',' ORDER BY 1) FROM pg_locks l\n"
      "              WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted\n"
      "              AND l.mode = 'AccessExclusiveLock'), '');\n"
      "END $$;\n"
      "CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION audit.log_ddl();\n");
  CommandResult complete = migrator({"complete", "5", "--no-backup"});
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  // Three validations (status NOT NULL, its check, price NOT NULL), each its own transaction with no
  // ACCESS EXCLUSIVE lock, all before the contract's one transaction, which holds it on orders.
  EXPECT_EQ(value("SELECT string_agg(substring(query from 'VALIDATE CONSTRAINT \"([a-z_]+)\"') || ' ' || "
                  "CASE WHEN exclusive = '' THEN 'no lock' ELSE exclusive END, ', ' ORDER BY id) "
                  "FROM audit.ddl WHERE query LIKE '%VALIDATE CONSTRAINT%'"),
            "_migrator_nn_status no lock, orders_status_check no lock, _migrator_nn_price no lock");
  EXPECT_EQ(value("SELECT count(DISTINCT xid) FROM audit.ddl WHERE query LIKE '%VALIDATE CONSTRAINT%'"), "3");
  EXPECT_EQ(value("SELECT count(DISTINCT xid) FROM audit.ddl WHERE query NOT LIKE '%VALIDATE CONSTRAINT%'"), "1");
  EXPECT_EQ(value("SELECT bool_and(v.xid < c.xid AND v.id < c.id) FROM audit.ddl v, audit.ddl c "
                  "WHERE v.query LIKE '%VALIDATE CONSTRAINT%' AND c.query NOT LIKE '%VALIDATE CONSTRAINT%'"),
            "t");
  EXPECT_EQ(value("SELECT bool_and(exclusive LIKE '%orders%') FROM audit.ddl WHERE query LIKE '%RENAME COLUMN%'"), "t");
  EXPECT_EQ(value("SELECT string_agg(status || '/' || price, ',' ORDER BY id) FROM public.orders"), "s1/10,s2/20");
}

TEST_F(ExpandPg, NotNullWithAnUpExpressionFillsOldWritesAndRefusesNewNulls) {
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing(
      "0002_descr_required", 2,
      "operations:\n"
      "  - alter_column: {table: orders, column: descr, not_null: true, up: \"coalesce(descr, 'none')\"}\n"));
  ASSERT_NO_FATAL_FAILURE(expand_again("0002_descr_required"));
  EXPECT_EQ(value("SELECT string_agg(descr, ',' ORDER BY id) FROM public_v0002.orders"), "a,none");
  // Through the old schema a NULL (or a descr left out) is filled by `up`.
  database_->exec("INSERT INTO public.orders (descr) VALUES (NULL)");  // id 3
  EXPECT_EQ(value("SELECT descr FROM public_v0002.orders WHERE id = 3"), "none");
  // Through the new one NULL is refused as by a NOT NULL column, and nothing is written.
  const char* not_null =
      "SQLSTATE 23502: ERROR:  null value in column \"descr\" of relation \"orders\" violates "
      "not-null constraint";
  EXPECT_THAT(refused("INSERT INTO public_v0002.orders (id, descr) VALUES (10, NULL)"), HasSubstr(not_null));
  EXPECT_THAT(refused("INSERT INTO public_v0002.orders (id, price) VALUES (10, '40')"), HasSubstr(not_null));
  EXPECT_THAT(refused("UPDATE public_v0002.orders SET descr = NULL WHERE id = 1"), HasSubstr(not_null));
  EXPECT_EQ(value("SELECT count(*) FROM public_v0002.orders WHERE id = 10 OR descr IS NULL"), "0");
  // Writes that respect the new shape go through, the table's defaults apply, RETURNING works, and
  // the old schema sees them.
  EXPECT_EQ(returned("INSERT INTO public_v0002.orders (descr) VALUES ('new') RETURNING id, descr, price"), "4|new|0");
  EXPECT_EQ(value("SELECT descr || '/' || price FROM public.orders WHERE id = 4"), "new/0");
  EXPECT_EQ(returned("INSERT INTO public_v0002.orders (id, descr, price) VALUES (5, 'five', '50') RETURNING *"),
            "5|five|50");
  EXPECT_EQ(returned("UPDATE public_v0002.orders SET descr = 'upd' WHERE id = 1 RETURNING id, descr"), "1|upd");
  EXPECT_EQ(value("SELECT string_agg(id || '=' || descr, ',' ORDER BY id) FROM public_v0002.orders"),
            "1=upd,2=none,3=none,4=new,5=five");
  EXPECT_EQ(value("SELECT string_agg(id || '=' || coalesce(descr, '-'), ',' ORDER BY id) FROM public.orders"),
            "1=upd,2=-,3=-,4=new,5=five");
  CommandResult complete = migrator({"complete", "2"});
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_EQ(value("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.orders'::regclass AND attname = "
                  "'descr'"),
            "t");
  EXPECT_EQ(value("SELECT string_agg(descr, ',' ORDER BY id) FROM public.orders"), "upd,none,none,new,five");
  // complete drops the insert trigger and its function: the view is auto-updatable again, over a
  // column that is NOT NULL itself.
  EXPECT_EQ(value("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public_v0002.orders'::regclass"), "0");
  EXPECT_EQ(value("SELECT count(*) FROM pg_proc WHERE pronamespace = 'migrator'::regnamespace AND proname LIKE "
                  "'insert_%'"),
            "0");
  EXPECT_THAT(refused("INSERT INTO public_v0002.orders (id, descr) VALUES (6, NULL)"),
              HasSubstr("SQLSTATE 23502: ERROR:  null value in column \"descr\" of relation \"orders\""));
  EXPECT_EQ(returned("INSERT INTO public_v0002.orders (id, descr) VALUES (6, 'six') "
                     "ON CONFLICT (id) DO NOTHING RETURNING descr, price"),
            "six|0");
}

// Through the insert trigger an identity column (even GENERATED ALWAYS) draws from its sequence and a
// stored generated column is computed, as through the table.
TEST_F(ExpandPg, TheInsertTriggerKeepsIdentityAndGeneratedColumns) {
  database_->exec(
      "CREATE TABLE tickets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL,\n"
      "  price text NOT NULL DEFAULT '0', chars integer GENERATED ALWAYS AS (length(title)) STORED);\n"
      "INSERT INTO tickets (title, price) VALUES ('first', '10');\n");
  add("0011_ticket_price",
      "operations:\n  - alter_column: {table: tickets, column: price, type: integer, up: "
      "\"price::integer\", down: \"price::text\"}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(value("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public_v0011.tickets'::regclass"), "1");
  EXPECT_EQ(returned("INSERT INTO public_v0011.tickets (title, price) VALUES ('second', 20) RETURNING *"),
            "2|second|20|6");
  database_->exec("INSERT INTO public.tickets (title, price) VALUES ('third', '30')");
  EXPECT_THAT(refused("INSERT INTO public_v0011.tickets (title, price, chars) VALUES ('x', 1, 9)"),
              HasSubstr("SQLSTATE 428C9: ERROR:  cannot insert a non-DEFAULT value into column \"chars\""));
  EXPECT_THAT(refused("INSERT INTO public_v0011.tickets (title) VALUES ('x')"),
              HasSubstr("SQLSTATE 23502: ERROR:  null value in column \"price\" of relation \"tickets\""));
  EXPECT_EQ(value("SELECT string_agg(id || ':' || title || '/' || price || '/' || chars, ',' ORDER BY id) FROM "
                  "public_v0011.tickets"),
            "1:first/10/5,2:second/20/6,3:third/30/5");
  CommandResult complete = migrator({"complete", "11", "--no-backup"});
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_EQ(returned("INSERT INTO public_v0011.tickets (title, price) VALUES ('fourth', 40) RETURNING id, chars"),
            "6|6");  // the two refused inserts drew 4 and 5, as refused inserts into the table do
}

constexpr const char* kEveryOperation =
    "operations:\n"
    "  - add_column: {table: orders, column: {name: status, type: text, not_null: true, unique: true}, "
    "up: \"'s' || id\"}\n"
    "  - alter_column: {table: orders, column: price, type: integer, up: \"price::integer\", down: \"price::text\"}\n"
    "  - drop_column: {table: customers, column: name}\n"
    "  - create_index: {name: orders_descr_idx, table: orders, columns: [descr]}\n"
    "  - create_table: {table: items, columns: [{name: id, type: bigint, primary_key: true}, "
    "{name: order_id, type: bigint, references: orders(id)}]}\n"
    "  - sql: {up: 'CREATE SEQUENCE item_numbers', down: 'DROP SEQUENCE item_numbers'}\n";

TEST_F(ExpandPg, AbortRestoresTheExactCatalog) {
  database_->exec("CREATE INDEX orders_price_idx ON orders (price)");
  add("0003_everything", kEveryOperation);
  std::string before = schema_dump();
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(schema_dump(), before);
  EXPECT_EQ(value("SELECT string_agg(status, ',' ORDER BY id) FROM public_v0003.orders"), "s1,s2");
  database_->exec("INSERT INTO public.orders (id, descr, price) VALUES (3, 'x', '30')");
  EXPECT_EQ(value("SELECT status FROM public_v0003.orders WHERE id = 3"), "s3");
  EXPECT_EQ(value("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public_v0003.orders'::regclass"), "1");
  CommandResult abort = migrator({"abort", "3"});
  ASSERT_EQ(abort.exit_code, 0) << abort.err;
  EXPECT_THAT(abort.out, HasSubstr("aborted 0003_everything"));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT count(*) FROM pg_proc WHERE pronamespace = 'migrator'::regnamespace AND proname ~ "
                  "'^(sync|insert)_0003_'"),
            "0");
  EXPECT_EQ(value("SELECT string_agg(id || ':' || price, ',' ORDER BY id) FROM public.orders"), "1:10,2:20,3:30");
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("aborted (pending again"));
  EXPECT_EQ(history(3), "expand applied, backfill completed, abort reverted");
  EXPECT_THAT(migrator({"complete", "3"}).err, HasSubstr("its phase is aborted; `migrator up` expands it anew"));
  // Expanded again after the abort (backfilled anew, rows 1 to 3), then completed.
  CommandResult again = migrator({"up"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("backfilled 0003_everything: 3 rows"));
  CommandResult complete = migrator({"complete", "3"});
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_EQ(value("SELECT string_agg(status, ',' ORDER BY id) FROM public.orders"), "s1,s2,s3");
  EXPECT_EQ(history(3),
            "expand applied, backfill completed, abort reverted, expand applied, backfill completed, complete applied");
  EXPECT_EQ(value("SELECT count(*) FROM pg_constraint WHERE conname = 'orders_status_key'"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'name' "
                  "AND NOT attisdropped"),
            "0");
}

// A backfill that stops part way (a row the `up` expression cannot convert) leaves the migration
// backfilling: status shows how far it got, and `migrator backfill` finishes it once the row is fixed.
TEST_F(ExpandPg, StatusShowsTheBackfillsProgressUntilBackfillFinishesIt) {
  database_->exec(
      "INSERT INTO orders (id, descr, price) SELECT g, 'n', g::text FROM generate_series(3, 3000) g;"
      "UPDATE orders SET price = 'bad' WHERE id = 2500;");
  add("0007_retype", kRenameAndRetype);
  // Batches of 1,000 then 2,000 rows (the target is far away): the second one meets id 2500.
  CommandResult up = migrator({"--backfill-batch-rows", "1000", "--backfill-target", "1min", "up"});
  ASSERT_EQ(up.exit_code, 1) << up.out << up.err;
  EXPECT_THAT(up.err,
              HasSubstr("failed at the row (id)=(2500): ERROR:  invalid input syntax for type integer: \"bad\""));
  EXPECT_THAT(migrator({"status"}).out,
              HasSubstr("backfilling (1,000 of 3,000 rows, 33%; `migrator backfill 7` finishes it)"));
  // `up` again goes no further, and says what does.
  CommandResult again = migrator({"up"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("0007_retype is backfilling (1,000 of 3,000 rows, 33%; `migrator backfill 7` "
                                   "finishes it): later migrations wait for `migrator complete 7`"));
  CommandResult json = migrator({"--json", "status"});
  EXPECT_THAT(json.out, HasSubstr("\"backfill\":{\"rows_done\":1000,\"rows_total\":3000}"));
  EXPECT_THAT(json.out, HasSubstr("\"phase\":\"backfilling\""));

  database_->exec("UPDATE orders SET price = '2500' WHERE id = 2500");
  CommandResult backfill = migrator({"backfill", "0007"});
  ASSERT_EQ(backfill.exit_code, 0) << backfill.err;
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("expanded (old and new versions both work"));
  EXPECT_THAT(migrator({"--json", "status"}).out, HasSubstr("\"backfill\":{\"rows_done\":3000,\"rows_total\":3000}"));
  EXPECT_EQ(value("SELECT count(*) FROM public_v0007.orders WHERE price IS DISTINCT FROM id"), "2");  // ids 1, 2
  // Once it is done, `backfill` again says so and records nothing.
  std::string recorded = history(7);
  CommandResult again_done = migrator({"backfill", "7"});
  EXPECT_EQ(again_done.exit_code, 0) << again_done.err;
  EXPECT_THAT(again_done.out, HasSubstr("0007_retype: its backfill is done; nothing was changed"));
  EXPECT_THAT(again_done.out, ::testing::Not(HasSubstr("backfilled")));
  EXPECT_EQ(history(7), recorded);
}

// The sync trigger's PL/pgSQL resolves its conversions only when a write fires it: expand plans
// each `up` and `down` before it commits, so one that cannot run is refused with nothing changed,
// instead of passing expand and then failing every write of the application.
TEST_F(ExpandPg, AConversionThatCannotRunIsRefusedAtExpandNamingItsOperation) {
  std::string before = schema_dump();
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"operations:\n  - rename_column: {table: orders, from: descr, to: d}\n"
       "  - alter_column: {table: orders, column: price, type: integer, up: \"price::intege\", down: "
       "\"price::text\"}\n",
       "(the `up` of the operation at "},
      {"operations:\n  - rename_column: {table: orders, from: descr, to: d}\n"
       "  - alter_column: {table: orders, column: price, type: integer, up: \"price::integer\", down: "
       "\"pric::text\"}\n",
       "(the `down` of the operation at "},
      {"operations:\n  - rename_column: {table: orders, from: descr, to: d}\n"
       "  - add_column: {table: orders, column: {name: n, type: integer}, up: \"descr || 'x'\"}\n",
       "(the `up` of the operation at "},
  };
  for (const Case& c : cases) {
    add("0007_typo", c.yaml);
    CommandResult up = migrator({"up"});
    EXPECT_EQ(up.exit_code, 1) << c.yaml;
    EXPECT_THAT(up.err, HasSubstr(std::string(c.error) + (dir_.path() / "0007_typo" / "migration.yaml").string() +
                                  ":3): ERROR: "))
        << c.yaml;
    EXPECT_THAT(up.err, HasSubstr("rolled back, nothing of it remains"));
    EXPECT_EQ(schema_dump(), before) << c.yaml;
    EXPECT_THAT(migrator({"status"}).out, HasSubstr("0007  typo  pending"));
    // Writes through the old version go on as before.
    database_->exec("UPDATE orders SET price = '11' WHERE id = 1");
  }
  EXPECT_EQ(fixture_rows(), "(1,a,11);(2,,20) # (1,ann)");
}

// down and redo revert the newest applied migrations; a declarative migration in flight is newer
// still and its triggers and views stand on them, so both refuse, before any backup, until it is
// aborted or completed.
TEST_F(ExpandPg, DownAndRedoRefuseWhileADeclarativeMigrationIsInFlight) {
  write_file(dir_.path() / "0001_notes" / "up.sql", "CREATE TABLE notes (id int PRIMARY KEY, body text);\n");
  write_file(dir_.path() / "0001_notes" / "down.sql", "DROP TABLE notes;\n");  // destructive: a backup first
  add("0007_retype", kRenameAndRetype);
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  ASSERT_THAT(up.out, HasSubstr("expanded 0007_retype"));
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"down"}, {"down", "--no-backup"}, {"down", "--to", "0"}, {"redo"}}) {
    CommandResult refused = migrator(command);
    EXPECT_EQ(refused.exit_code, 3) << command[0] << refused.out;
    EXPECT_THAT(refused.err, HasSubstr("refusing to " + command[0] +
                                       ", nothing was changed: 0007_retype is expanded (in flight, newer than what " +
                                       command[0] + " would revert); `migrator abort 7` undoes its expand"));
    EXPECT_THAT(refused.out, ::testing::Not(HasSubstr("backed up")));
  }
  EXPECT_TRUE(std::filesystem::is_empty(backups_.path()));
  EXPECT_EQ(value("SELECT to_regclass('public.notes') IS NOT NULL"), "t");
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("0001  notes"));
  // Once it is aborted, down reverts 0001 (after its backup).
  ASSERT_EQ(migrator({"abort", "7"}).exit_code, 0);
  CommandResult down = migrator({"down"});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, HasSubstr("backed up to"));
  EXPECT_THAT(down.out, HasSubstr("reverted 0001_notes"));
}

// A completed declarative migration is refused by down, redo and their dry runs alike, before
// any backup, with the reason (not the up.sql of an irreversible plain migration: it has none).
TEST_F(ExpandPg, DownAndRedoRefuseACompletedDeclarativeMigrationAndSayWhy) {
  add("0007_retype", kRenameAndRetype);
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  complete(7);
  std::string before = schema_dump();
  for (const std::vector<std::string>& command : {std::vector<std::string>{"down"},
                                                  {"down", "--no-backup"},
                                                  {"down", "--dry-run"},
                                                  {"down", "--to", "0"},
                                                  {"redo"},
                                                  {"redo", "--dry-run"}}) {
    CommandResult refused = migrator(command);
    EXPECT_EQ(refused.exit_code, 3) << command[0] << refused.out;
    EXPECT_THAT(refused.err, HasSubstr("refusing to revert 0007_retype: it is a declarative migration, and its "
                                       "contract dropped what the old version used; `migrator abort` undoes one "
                                       "only before `complete`"));
    EXPECT_THAT(refused.err, ::testing::Not(HasSubstr("up.sql")));
    EXPECT_THAT(refused.out, ::testing::Not(HasSubstr("backed up")));
  }
  EXPECT_TRUE(std::filesystem::is_empty(backups_.path()));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("complete"));
}

// An index name that another relation has is refused before expand: the failed build's cleanup
// (DROP INDEX CONCURRENTLY IF EXISTS) would otherwise have dropped the index that had it.
TEST_F(ExpandPg, ACreateIndexNamedLikeAnExistingIndexIsRefusedAndTheIndexStays) {
  database_->exec("CREATE INDEX orders_descr_idx ON orders (descr)");
  std::string before = schema_dump();
  add("0007_index", "operations:\n  - create_index: {name: orders_descr_idx, table: orders, columns: [price]}\n");
  CommandResult up = migrator({"up"});
  EXPECT_EQ(up.exit_code, 3) << up.out;
  EXPECT_THAT(up.err, HasSubstr("0007_index/migration.yaml:2: create_index: public.orders_descr_idx already exists "
                                "(an index); choose another name"));
  EXPECT_EQ(value("SELECT pg_get_indexdef('orders_descr_idx'::regclass)"),
            "CREATE INDEX orders_descr_idx ON public.orders USING btree (descr)");
  EXPECT_EQ(schema_dump(), before);
}

// The unique indexes that add_column and alter_column build concurrently: a name taken is refused
// (alter_column names it) or passed over as PostgreSQL does (add_column's <table>_<column>_key),
// and abort never drops an index that was there before.
TEST_F(ExpandPg, AUniqueIndexNeverTakesTheNameOfAnIndexThatIsThere) {
  database_->exec("CREATE INDEX orders_descr_key ON orders (price)");
  database_->exec("CREATE INDEX orders_note_key ON orders (price)");
  std::string before = schema_dump();
  add("0007_unique",
      "operations:\n  - alter_column: {table: orders, column: descr, unique: {name: orders_descr_key}}\n");
  CommandResult taken = migrator({"up"});
  EXPECT_EQ(taken.exit_code, 3) << taken.out;
  EXPECT_THAT(taken.err, HasSubstr("0007_unique/migration.yaml:2: alter_column: public.orders_descr_key already "
                                   "exists (an index); choose another name"));
  EXPECT_EQ(schema_dump(), before);

  add("0007_unique",
      "operations:\n"
      "  - add_column: {table: orders, column: {name: note, type: text, unique: true}}\n"
      "  - alter_column: {table: orders, column: descr, unique: {name: orders_descr_uq}}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(value("SELECT pg_get_indexdef('orders_note_key1'::regclass)"),
            "CREATE UNIQUE INDEX orders_note_key1 ON public.orders USING btree (_migrator_new_note)");
  CommandResult aborted = migrator({"abort", "7"});
  ASSERT_EQ(aborted.exit_code, 0) << aborted.err;
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT pg_get_indexdef('orders_note_key'::regclass)"),
            "CREATE INDEX orders_note_key ON public.orders USING btree (price)");
}

// A `sql` operation may make a relation under a name that a concurrent index step gives: checked
// at the end of the expand transaction, which rolls back, instead of a build failing on it after
// the commit and abort then dropping the sql operation's index as its own.
TEST_F(ExpandPg, AnIndexNameASqlOperationTakesIsRefusedWithNothingChanged) {
  std::string before = schema_dump();
  add("0007_both",
      "operations:\n"
      "  - sql: {up: \"CREATE INDEX orders_x ON orders (descr)\", down: \"DROP INDEX orders_x\"}\n"
      "  - create_index: {name: orders_x, table: orders, columns: [price]}\n");
  CommandResult dry = migrator({"up", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 1) << dry.out;
  EXPECT_THAT(dry.out + dry.err, HasSubstr("public.orders_x already exists once the operations before it have run"));
  CommandResult up = migrator({"up"});
  EXPECT_EQ(up.exit_code, 1) << up.out;
  EXPECT_THAT(up.err, HasSubstr("(the create_index at "));
  EXPECT_THAT(up.err, HasSubstr("0007_both/migration.yaml:3): ERROR: public.orders_x already exists once the "
                                "operations before it have run"));
  EXPECT_THAT(up.err, HasSubstr("(SQLSTATE 42P07); rolled back, nothing of it remains"));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT count(*) FROM migrator.expand_phases WHERE version = 7"), "0");
}

// An index of the name a step gives that another session made after expand found the name free
// (here, once the step's unique build failed on a duplicate) is never taken for the migration's:
// `up` resuming stops on it, and abort leaves it alone; the migration's own it drops.
TEST_F(ExpandPg, AnIndexExpandDidNotBuildIsNeverTakenForTheMigrations) {
  database_->exec("INSERT INTO customers VALUES (101, 'twin'), (102, 'twin')");
  std::string before = schema_dump();
  add("0007_unique",
      "operations:\n  - create_index: {name: customers_name_key, table: customers, columns: [name], unique: true}\n");
  CommandResult failed = migrator({"up"});
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_THAT(failed.err, HasSubstr("could not create unique index \"customers_name_key\""));
  EXPECT_EQ(value("SELECT phase FROM migrator.expand_phases WHERE version = 7"), "expanding");

  const std::string theirs = "CREATE INDEX customers_name_key ON public.customers USING btree (id, name)";
  database_->exec("DELETE FROM customers WHERE id = 102; " + theirs);
  CommandResult resumed = migrator({"up"});
  EXPECT_EQ(resumed.exit_code, 1) << resumed.out;
  EXPECT_THAT(resumed.err, HasSubstr("(the create_index at "));
  EXPECT_THAT(resumed.err, HasSubstr("0007_unique/migration.yaml:2): an index public.customers_name_key is there that "
                                     "expand did not build"));
  EXPECT_EQ(value("SELECT pg_get_indexdef('customers_name_key'::regclass)"), theirs);
  EXPECT_EQ(value("SELECT phase FROM migrator.expand_phases WHERE version = 7"), "expanding");

  CommandResult dry = migrator({"abort", "7", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, ::testing::Not(HasSubstr("DROP INDEX")));
  EXPECT_THAT(dry.out, HasSubstr("note: abort would leave alone public.customers_name_key, an index of the name "
                                 "0007_unique gives that its expand did not build"));
  CommandResult aborted = migrator({"abort", "7"});
  ASSERT_EQ(aborted.exit_code, 0) << aborted.err;
  EXPECT_THAT(aborted.out, HasSubstr("left alone public.customers_name_key, which expand did not build"));
  EXPECT_EQ(value("SELECT detail FROM migrator.history WHERE version = 7 AND action = 'abort'"),
            "what its expand added is gone; left alone public.customers_name_key, which expand did not build");
  EXPECT_EQ(value("SELECT pg_get_indexdef('customers_name_key'::regclass)"), theirs);
  database_->exec("DROP INDEX customers_name_key");
  EXPECT_EQ(schema_dump(), before);

  // Expanded anew it builds its own, records it, and abort drops it.
  CommandResult anew = migrator({"up"});
  ASSERT_EQ(anew.exit_code, 0) << anew.err;
  const std::string ours = "CREATE UNIQUE INDEX customers_name_key ON public.customers USING btree (name)";
  EXPECT_EQ(value("SELECT pg_get_indexdef('customers_name_key'::regclass)"), ours);
  EXPECT_EQ(value("SELECT built_indexes ->> '\"public\".\"customers_name_key\"' FROM migrator.expand_phases"), ours);
  CommandResult dropped = migrator({"abort", "7"});
  ASSERT_EQ(dropped.exit_code, 0) << dropped.err;
  EXPECT_THAT(dropped.out, ::testing::Not(HasSubstr("left alone")));
  EXPECT_EQ(schema_dump(), before);
}

// An abort whose transaction fails after its concurrent index drops committed leaves the migration
// expanding (not expanded without its indexes, which complete would keep so): `up` builds them
// again, and abort, once the cause is mended, finishes.
TEST_F(ExpandPg, AnAbortThatFailsAfterDroppingItsIndexesLeavesTheMigrationExpanding) {
  std::string before = schema_dump();
  add("0007_gate",
      "operations:\n"
      "  - create_index: {name: orders_price_idx, table: orders, columns: [price]}\n"
      "  - sql: {up: \"SELECT 1\", down: \"DROP TABLE gate\"}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  CommandResult failed = migrator({"abort", "7"});
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_THAT(failed.err, HasSubstr("table \"gate\" does not exist (SQLSTATE 42P01); that transaction rolled back\n"
                                    "0007_gate's abort had dropped 1 of its 1 indexes"));
  EXPECT_EQ(value("SELECT phase FROM migrator.expand_phases WHERE version = 7"), "expanding");
  EXPECT_EQ(value("SELECT to_regclass('orders_price_idx') IS NULL"), "t");
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("expanding (abort of 0007_gate failed at `DROP TABLE gate`"));
  CommandResult refused = migrator({"complete", "7", "--no-backup"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out;

  CommandResult resumed = migrator({"up"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("resumed: 1 of 1 index steps built"));
  EXPECT_EQ(value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_price_idx'::regclass"), "t");

  database_->exec("CREATE TABLE gate ()");  // what the sql operation's down drops
  CommandResult aborted = migrator({"abort", "7"});
  ASSERT_EQ(aborted.exit_code, 0) << aborted.err;
  EXPECT_EQ(schema_dump(), before);
}

// complete's index drops run after its transaction commits, each alone: one that fails leaves the
// migration complete with the error kept and shown, and `complete` runs the drops again.
TEST_F(ExpandPg, ACompleteWhoseIndexDropFailsSaysSoAndCompleteRunsTheDropAgain) {
  database_->exec("CREATE INDEX orders_descr_idx ON orders (descr)");
  add("0007_drop", "operations:\n  - drop_index: {name: orders_descr_idx}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("no table changes shape, so there is no version schema"));
  pqxx::connection holder(database_->url());
  pqxx::work hold(holder);
  hold.exec("LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE");  // what DROP INDEX CONCURRENTLY waits for
  CommandResult failed = migrator({"--lock-timeout", "100ms", "--lock-retries", "0", "complete", "7", "--no-backup"});
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_THAT(failed.err, HasSubstr("0007_drop is complete (its contract transaction committed) but that index drop "
                                    "did not finish: `migrator complete 7` runs the drops again"));
  EXPECT_THAT(migrator({"status"}).out,
              HasSubstr("; an index drop did not finish: complete of 0007_drop failed at `DROP INDEX CONCURRENTLY "
                        "\"public\".\"orders_descr_idx\"` (the drop_index at "));
  EXPECT_THAT(migrator({"status"}).out,
              HasSubstr("0007_drop/migration.yaml:2): ERROR: canceling statement due to lock timeout"));
  EXPECT_EQ(value("SELECT to_regclass('orders_descr_idx') IS NOT NULL"), "t");
  hold.abort();

  // Its dry run lists what is left: the drop alone.
  CommandResult dry = migrator({"complete", "7", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("DROP INDEX CONCURRENTLY \"public\".\"orders_descr_idx\""));
  EXPECT_THAT(dry.out, Not(HasSubstr("DROP SCHEMA")));
  EXPECT_EQ(value("SELECT to_regclass('orders_descr_idx') IS NOT NULL"), "t");

  CommandResult again = migrator({"complete", "7"});  // no backup: only the drops are left
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("completed 0007_drop"));
  EXPECT_THAT(again.out, HasSubstr("its index drops finished"));
  EXPECT_THAT(again.out, Not(HasSubstr("backed up")));
  EXPECT_EQ(value("SELECT to_regclass('orders_descr_idx') IS NULL"), "t");
  EXPECT_THAT(migrator({"status"}).out, Not(HasSubstr("did not finish")));
  CommandResult done = migrator({"complete", "7"});
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_THAT(done.err, HasSubstr("it is already complete"));
}

// A view of the application's over a column that complete drops would make complete fail after
// its backup: expand notes it, and complete refuses (before the backup) naming the view and the
// operation, until the view is gone.
TEST_F(ExpandPg, CompleteRefusesWhileAViewDependsOnAColumnItDrops) {
  database_->exec("CREATE VIEW order_report AS SELECT id, price, descr FROM orders");
  add("0007_shape",
      "operations:\n"
      "  - alter_column: {table: orders, column: price, type: integer, up: \"price::integer\", down: \"price::text\"}\n"
      "  - drop_column: {table: orders, column: descr}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("note: alter_column at "));
  EXPECT_THAT(up.out, HasSubstr("0007_shape/migration.yaml:2: public.orders.price has view public.order_report "
                                "depending on it; `migrator complete 7` refuses until it is dropped or redefined"));
  std::string before = schema_dump();
  CommandResult refused = migrator({"complete", "7"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  EXPECT_THAT(refused.err, HasSubstr("refusing to complete 0007_shape, nothing was changed: what it drops has "
                                     "dependents, which would make it fail: alter_column at "));
  EXPECT_THAT(refused.err, HasSubstr("0007_shape/migration.yaml:3: public.orders.descr has view public.order_report "
                                     "depending on it"));
  EXPECT_THAT(refused.out + refused.err, Not(HasSubstr("backed up")));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT phase FROM migrator.expand_phases WHERE version = 7"), "expanded");

  database_->exec("DROP VIEW order_report");
  complete(7);
  EXPECT_EQ(columns_of("public.orders"), "id bigint not null, price integer not null");
}

// abort drops its version schema, and complete the schemas of the migrations completed before it,
// each with CASCADE: a view of the application's over one of their views would go with it, so
// both refuse, naming it, while there is one.
TEST_F(ExpandPg, NoVersionSchemaIsDroppedWithAViewOfTheApplicationsOverIt) {
  add("0007_rename", "operations:\n  - rename_column: {table: orders, from: descr, to: description}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  database_->exec("CREATE VIEW described AS SELECT id, description FROM public_v0007.orders");
  CommandResult abort = migrator({"abort", "7"});
  EXPECT_EQ(abort.exit_code, 3) << abort.out;
  EXPECT_THAT(abort.err, HasSubstr("refusing to abort 0007_rename, nothing was changed: it drops its version schema, "
                                   "and objects outside it depend on it: view public.described over "
                                   "public_v0007.orders"));
  complete(7);  // its own version schema stays
  add("0008_retype", "operations:\n  - alter_column: {table: orders, column: price, not_null: false}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  CommandResult refused = migrator({"complete", "8", "--no-backup"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  EXPECT_THAT(refused.err, HasSubstr("it drops the version schemas of the migrations completed before it, and objects "
                                     "outside them depend on them: view public.described over public_v0007.orders"));
  EXPECT_EQ(value("SELECT count(*) FROM pg_views WHERE viewname = 'described'"), "1");
  database_->exec("CREATE OR REPLACE VIEW described AS SELECT id, description FROM public.orders");
  complete(8);
  EXPECT_EQ(value("SELECT to_regnamespace('public_v0007') IS NULL"), "t");
  EXPECT_EQ(value("SELECT count(*) FROM described"), value("SELECT count(*) FROM orders"));
}

// drop_index checks its index against the catalog: a primary key's index cannot go by DROP INDEX.
TEST_F(ExpandPg, DropIndexOfAConstraintsIndexOrOfNoIndexIsRefusedWithTheLine) {
  std::string before = schema_dump();
  add("0007_drop", "operations:\n  - drop_index: {name: orders_pkey}\n");
  CommandResult pkey = migrator({"up"});
  EXPECT_EQ(pkey.exit_code, 3) << pkey.out;
  EXPECT_THAT(pkey.err, HasSubstr("0007_drop/migration.yaml:2: drop_index cannot drop public.orders_pkey: it is the "
                                  "index of constraint orders_pkey"));
  add("0007_drop", "operations:\n  - drop_index: {name: orders_missing_idx}\n");
  CommandResult missing = migrator({"up"});
  EXPECT_EQ(missing.exit_code, 3) << missing.out;
  EXPECT_THAT(missing.err, HasSubstr("drop_index names index public.orders_missing_idx, which does not exist"));
  EXPECT_EQ(schema_dump(), before);
}

// A partitioned table: the sync trigger, backfill and views work through the parent (rows of
// every partition, both directions).
TEST_F(ExpandPg, APartitionedTableTakesATypeChange) {
  database_->exec(
      "CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, price text, PRIMARY KEY (id, at)) "
      "PARTITION BY RANGE (at);"
      "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
      "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');"
      "INSERT INTO events SELECT g, date '2026-06-01' + (g % 400), g::text FROM generate_series(1, 1000) g");
  add("0007_index",
      "operations:\n"
      "  - alter_column: {table: events, column: price, type: integer, up: \"price::integer\", down: "
      "\"price::text\"}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  database_->exec("INSERT INTO events (id, at, price) VALUES (5000, '2027-03-01', '77')");
  database_->exec("INSERT INTO public_v0007.events (id, at, price) VALUES (5001, '2026-03-01', 78)");
  EXPECT_EQ(value("SELECT string_agg(id || ':' || price, ' ' ORDER BY id) FROM public_v0007.events WHERE id >= 5000"),
            "5000:77 5001:78");
  EXPECT_EQ(value("SELECT string_agg(id || ':' || price, ' ' ORDER BY id) FROM public.events WHERE id >= 5000"),
            "5000:77 5001:78");
  complete(7);
  EXPECT_EQ(value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'events_2027'::regclass "
                  "AND attname = 'price'"),
            "integer");
  EXPECT_EQ(value("SELECT count(*) FILTER (WHERE price = id) || '/' || count(*) FROM events WHERE id < 5000"),
            "1000/1000");
}

// create_index on a partitioned table (two levels here), which PostgreSQL cannot index
// concurrently: its index ON ONLY the table, each leaf partition's built concurrently and attached
// (a sub-partitioned one's ON ONLY, with its own under it); valid once all are. A leaf's build that
// fails (a duplicate under a unique index) leaves the migration expanding; `up` resumes it once
// the duplicate is gone, keeping what was built, and abort leaves the catalog as it was.
TEST_F(ExpandPg, CreateIndexOnAPartitionedTableBuildsEachPartitionsIndexAndResumes) {
  database_->exec(
      "CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, kind text NOT NULL, price int, "
      "PRIMARY KEY (id, at, kind)) PARTITION BY RANGE (at);"
      "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
      "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01') "
      "PARTITION BY LIST (kind);"
      "CREATE TABLE events_2027_a PARTITION OF events_2027 FOR VALUES IN ('a');"
      "CREATE TABLE events_2027_b PARTITION OF events_2027 FOR VALUES IN ('b');"
      "INSERT INTO events SELECT g, date '2026-06-01' + (g % 400), CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, g "
      "FROM generate_series(1, 2000) g;"
      "INSERT INTO events VALUES (5001, '2027-03-01', 'b', 7), (5002, '2027-03-01', 'b', 7)");
  std::string before = schema_dump();
  add("0007_index",
      "operations:\n  - create_index: {name: events_uq, table: events, columns: [at, kind, price], unique: true}\n");
  CommandResult failed = migrator({"up"});
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_THAT(failed.err, HasSubstr("could not create unique index \"events_2027_b_events_uq\""));
  EXPECT_EQ(value("SELECT phase FROM migrator.expand_phases WHERE version = 7"), "expanding");
  EXPECT_EQ(value("SELECT count(*) FROM pg_index WHERE NOT indisvalid AND indexrelid::regclass::text NOT IN "
                  "('events_uq', 'events_2027_events_uq')"),
            "0");  // the failed leaf build left nothing behind

  database_->exec("DELETE FROM events WHERE id = 5002");
  CommandResult resumed = migrator({"up"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("resumed"));
  EXPECT_EQ(value("SELECT string_agg(c.relname || ':' || i.indisvalid, ' ' ORDER BY c.relname) FROM pg_index i "
                  "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE '%events_uq'"),
            "events_2026_events_uq:true events_2027_a_events_uq:true events_2027_b_events_uq:true "
            "events_2027_events_uq:true events_uq:true");
  EXPECT_EQ(value("SELECT count(*) FROM pg_inherits WHERE inhparent IN ('events_uq'::regclass, "
                  "'events_2027_events_uq'::regclass)"),
            "4");  // two partitions under the table's index, two under the sub-partitioned one's
  EXPECT_THAT(refused("INSERT INTO events VALUES (5003, '2027-03-01', 'b', 7)"), HasSubstr("SQLSTATE 23505"));

  CommandResult aborted = migrator({"abort", "7"});
  ASSERT_EQ(aborted.exit_code, 0) << aborted.err;
  EXPECT_EQ(schema_dump(), before);
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  complete(7);
  EXPECT_EQ(value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_uq'::regclass"), "t");
}

// An index created with a type change of its column is on the new column, and complete keeps it
// (it dropped the old column, and an index on it with it, before).
TEST_F(ExpandPg, AnIndexOnARetypedColumnOutlivesComplete) {
  add("0007_retype",
      "operations:\n"
      "  - alter_column: {table: orders, column: price, type: integer, up: \"price::integer\", down: \"price::text\"}\n"
      "  - create_index: {name: orders_price_idx, table: orders, columns: [price], where: \"price > 0\"}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(value("SELECT pg_get_indexdef('orders_price_idx'::regclass)"),
            "CREATE INDEX orders_price_idx ON public.orders USING btree (_migrator_new_price) WHERE "
            "(_migrator_new_price > 0)");
  complete(7);
  EXPECT_EQ(value("SELECT pg_get_indexdef('orders_price_idx'::regclass)"),
            "CREATE INDEX orders_price_idx ON public.orders USING btree (price) WHERE (price > 0)");
  EXPECT_EQ(columns_of("public.orders"), "id bigint not null, descr text, price integer not null");
}

// Migrations on different tables may be in flight together: a lower version added after a higher
// one was expanded is expanded by the next `up`, and each completes on its own.
TEST_F(ExpandPg, TwoMigrationsOnDifferentTablesAreInFlightTogether) {
  add("0004_orders", "operations:\n  - rename_column: {table: orders, from: descr, to: description}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  add("0003_customers", "operations:\n  - rename_column: {table: customers, from: name, to: full_name}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("expanded 0003_customers"));
  std::string status = migrator({"status"}).out;
  EXPECT_THAT(status, HasSubstr("0003  customers  expanded"));
  EXPECT_THAT(status, HasSubstr("0004  orders     expanded"));
  database_->exec("INSERT INTO public_v0003.customers (id, full_name) VALUES (77, 'new')");
  database_->exec("INSERT INTO public_v0004.orders (description) VALUES ('new order')");
  EXPECT_EQ(value("SELECT name FROM customers WHERE id = 77"), "new");
  EXPECT_EQ(value("SELECT count(*) FROM orders WHERE descr = 'new order'"), "1");
  complete(4);
  complete(3);
  EXPECT_EQ(value("SELECT full_name FROM customers WHERE id = 77"), "new");
  EXPECT_EQ(value("SELECT count(*) FROM orders WHERE description = 'new order'"), "1");
}

// A completed declarative migration whose file changed is refused by up, with or without the
// backup planning before it, naming its migration.yaml (it has no up.sql).
TEST_F(ExpandPg, UpRefusesACompletedMigrationWhoseFileChangedNamingIt) {
  add("0007_rename", "operations:\n  - rename_column: {table: orders, from: descr, to: description}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  complete(7);
  add("0007_rename", "operations:\n  - rename_column: {table: orders, from: descr, to: details}\n");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{{"up"}, {"up", "--no-backup"}}) {
    CommandResult up = migrator(args);
    EXPECT_EQ(up.exit_code, 3) << up.out;
    EXPECT_THAT(up.err, HasSubstr("0007_rename is changed: its migration.yaml differs from when it was applied; "
                                  "restore the applied files"));
    EXPECT_THAT(up.err, Not(HasSubstr("dry-run")));
  }
}

// A type change drops the old default (it may not fit the new type) unless `default` gives one:
// the new version's inserts get it through the view during the window, the table after complete;
// the old version's inserts keep the old default, converted by `up`.
TEST_F(ExpandPg, AlterColumnDefaultIsTheNewVersionsDefaultAndTheTablesAfterComplete) {
  add("0007_retype",
      "operations:\n"
      "  - alter_column: {table: orders, column: price, type: integer, up: \"price::integer\", down: \"price::text\", "
      "default: \"7\"}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(returned("INSERT INTO public_v0007.orders (descr) VALUES ('new') RETURNING price"), "7");
  EXPECT_EQ(value("SELECT price FROM orders WHERE descr = 'new'"), "7");
  database_->exec("INSERT INTO orders (descr) VALUES ('old')");
  EXPECT_EQ(value("SELECT price FROM public_v0007.orders WHERE descr = 'old'"), "0");
  complete(7);
  EXPECT_EQ(value("SELECT column_default FROM information_schema.columns WHERE table_schema = 'public' AND "
                  "table_name = 'orders' AND column_name = 'price'"),
            "7");
  EXPECT_EQ(returned("INSERT INTO orders (descr) VALUES ('after') RETURNING price"), "7");
}

TEST_F(ExpandPg, RefusesASecondInFlightMigrationOnTheSameTableNamingBoth) {
  add("0004_first", "operations:\n  - rename_column: {table: orders, from: descr, to: d}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  add("0005_second", "operations:\n  - alter_column: {table: orders, column: price, not_null: false}\n");
  CommandResult waiting = migrator({"up"});
  EXPECT_THAT(waiting.out, HasSubstr("0004_first is expanded"));
  // `up` never gets there; the phases themselves refuse too, naming both versions.
  std::vector<migrator::Migration> migrations = migrator::load_migrations(dir_.path());
  std::ostringstream out;
  migrator::expand::PhaseRunner runner(database_->url(), migrator::expand::PhaseOptions{}, out);
  try {
    runner.expand(migrations.at(1));
    ADD_FAILURE() << "expanded a second migration on orders";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    EXPECT_THAT(e.what(), HasSubstr("refusing to expand 0005_second, nothing was changed: it changes public.orders, "
                                    "which migration 4_first (expanded) also changes"));
  }
  EXPECT_EQ(value("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname LIKE "
                  "'_migrator_new_%'"),
            "0");
  // complete refuses an unexpanded migration, and a changed file.
  CommandResult not_expanded = migrator({"complete", "5"});
  EXPECT_EQ(not_expanded.exit_code, 3);
  EXPECT_THAT(not_expanded.err, HasSubstr("it is not expanded"));
  add("0004_first", "operations:\n  - rename_column: {table: orders, from: descr, to: dd}\n");
  CommandResult drift = migrator({"complete", "4"});
  EXPECT_EQ(drift.exit_code, 3);
  EXPECT_THAT(drift.err, HasSubstr("changed since it was expanded"));
}

TEST_F(ExpandPg, CompleteWaitsForTheRequiredFlagRollout) {
  add("0006_gated",
      "requires_flag: {flag: new_checkout, environment: production, percentage: 50}\n"
      "operations:\n  - rename_column: {table: orders, from: descr, to: description}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  // Without pg_rollout in the database the gate cannot be read: a clear refusal.
  CommandResult no_extension = migrator({"complete", "6"});
  EXPECT_EQ(no_extension.exit_code, 3);
  EXPECT_THAT(no_extension.err, HasSubstr("refusing to complete 0006_gated, nothing was changed: it requires flag "
                                          "'new_checkout' (requires_flag at "));
  EXPECT_THAT(no_extension.err, HasSubstr("migration.yaml:1), but the pg_rollout extension"));
  database_->exec("CREATE EXTENSION pg_rollout");
  database_->exec("SELECT rollout.create_flag('new_checkout')");
  database_->exec("SELECT rollout.set_rollout('new_checkout', 40, NULL, 'production')");
  database_->exec("SELECT rollout.set_enabled('new_checkout', true, 'production')");
  CommandResult below = migrator({"complete", "6"});
  EXPECT_EQ(below.exit_code, 3);
  EXPECT_THAT(below.err, HasSubstr("flag 'new_checkout' is rolled out to 40% in 'production', below the 50% it "
                                   "requires"));
  EXPECT_THAT(below.out, ::testing::Not(HasSubstr("backed up")));  // refused before the backup
  database_->exec("SELECT rollout.set_rollout('new_checkout', 50, NULL, 'production')");
  database_->exec("SELECT rollout.set_enabled('new_checkout', false, 'production')");
  EXPECT_THAT(migrator({"complete", "6"}).err, HasSubstr("is rolled out to 0% in 'production' (switched off)"));
  database_->exec("SELECT rollout.set_enabled('new_checkout', true, 'production')");
  CommandResult complete = migrator({"complete", "6"});
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_EQ(value("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = "
                  "'description'"),
            "1");
}

// The gate reads the fallthrough in effect now: a started plan stage replaces flag_configs' rollout,
// a future one does not; a rollout limited to tiers, or an archived flag, counts as 0%.
TEST_F(ExpandPg, CompleteReadsTheFlagsRolloutInEffectNow) {
  add("0006_gated",
      "requires_flag: {flag: new_checkout, environment: production, percentage: 50}\n"
      "operations:\n  - rename_column: {table: orders, from: descr, to: description}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  database_->exec("CREATE EXTENSION pg_rollout");
  database_->exec("SELECT rollout.create_flag('new_checkout')");
  database_->exec("SELECT rollout.set_enabled('new_checkout', true, 'production')");
  database_->exec("SELECT rollout.set_rollout('new_checkout', 100, ARRAY['pro', 'enterprise'], 'production')");
  CommandResult tiers = migrator({"complete", "6"});
  EXPECT_EQ(tiers.exit_code, 3);
  EXPECT_THAT(tiers.err, HasSubstr("flag 'new_checkout' is rolled out to 0% in 'production' (100% limited to tiers "
                                   "pro, enterprise), below the 50% it requires"));
  database_->exec("SELECT rollout.set_rollout('new_checkout', 100, NULL, 'production')");
  auto plan = [&](const std::string& stages) {
    database_->exec("SELECT rollout.set_plan('new_checkout', jsonb_build_array(" + stages + "), 'production')");
  };
  plan(
      "jsonb_build_object('starts_at', now() - interval '1 day', 'percentage', 30), "
      "jsonb_build_object('starts_at', now() + interval '1 day', 'percentage', 100)");
  CommandResult started = migrator({"complete", "6"});
  EXPECT_EQ(started.exit_code, 3);
  EXPECT_THAT(started.err, HasSubstr("flag 'new_checkout' is rolled out to 30% in 'production' (plan stage since "));
  EXPECT_THAT(started.err, HasSubstr("), below the 50% it requires"));
  plan(
      "jsonb_build_object('starts_at', now() - interval '2 days', 'percentage', 30), "
      "jsonb_build_object('starts_at', now() - interval '1 day', 'percentage', 60, 'tiers', jsonb_build_array()), "
      "jsonb_build_object('starts_at', now() + interval '1 day', 'percentage', 10)");
  database_->exec("UPDATE rollout.flags SET archived_at = now() WHERE key = 'new_checkout'");
  EXPECT_THAT(migrator({"complete", "6"}).err,
              HasSubstr("is rolled out to 0% in 'production' (archived; plan stage since "));
  database_->exec("UPDATE rollout.flags SET archived_at = NULL WHERE key = 'new_checkout'");
  EXPECT_EQ(history(6), "expand applied");               // the refusals changed nothing and are no attempts
  CommandResult complete = migrator({"complete", "6"});  // the stage started yesterday: 60%
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_EQ(history(6), "expand applied, complete applied");
}

TEST_F(ExpandPg, CompleteRefusesAnUnknownFlagOrEnvironmentByName) {
  add("0006_gated",
      "requires_flag: {flag: new_checkout, environment: staging}\n"
      "operations:\n  - rename_column: {table: orders, from: descr, to: description}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  database_->exec("CREATE EXTENSION pg_rollout");
  CommandResult flag = migrator({"complete", "6"});
  EXPECT_EQ(flag.exit_code, 3);
  EXPECT_THAT(flag.err, HasSubstr("refusing to complete 0006_gated, nothing was changed: flag 'new_checkout' does not "
                                  "exist (requires_flag at "));
  database_->exec("SELECT rollout.create_flag('new_checkout')");
  CommandResult environment = migrator({"complete", "6"});
  EXPECT_EQ(environment.exit_code, 3);
  EXPECT_THAT(environment.err, HasSubstr("environment 'staging' does not exist (requires_flag at "));
  EXPECT_THAT(environment.err, HasSubstr("; rollout.environments has production"));
  EXPECT_EQ(value("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'descr'"), "1");
}

TEST_F(ExpandPg, DryRunListsEveryPhaseWithItsLocksAndChangesNothing) {
  add("0007_retype",
      std::string(kRenameAndRetype) + "  - create_index: {name: orders_descr_idx, table: orders, columns: [descr]}\n");
  std::string before = schema_dump();
  CommandResult dry = migrator({"up", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err << dry.out;
  EXPECT_THAT(dry.out, HasSubstr("0007_retype (expand)"));
  EXPECT_THAT(dry.out, HasSubstr("AccessExclusiveLock on public.orders"));
  EXPECT_THAT(dry.out, HasSubstr("CREATE TRIGGER"));
  EXPECT_THAT(dry.out, HasSubstr("ShareRowExclusiveLock on public.orders"));
  EXPECT_THAT(dry.out, HasSubstr("not executed     CREATE INDEX CONCURRENTLY cannot run inside a transaction"));
  // In the order expand runs them: its transaction (the views last in it), then the index step.
  size_t index_step = dry.out.find("CREATE INDEX CONCURRENTLY cannot run");
  EXPECT_LT(dry.out.find("CREATE VIEW"), index_step);
  EXPECT_LT(index_step, dry.out.find("0007_retype (abort)"));
  EXPECT_THAT(dry.out, HasSubstr("0007_retype (abort)"));
  EXPECT_THAT(dry.out, HasSubstr("0007_retype (backfill)"));
  EXPECT_THAT(dry.out, HasSubstr("0007_retype (complete)"));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT count(*) FROM pg_namespace WHERE nspname IN ('migrator', 'public_v0007')"), "0");
  CommandResult json = migrator({"--json", "up", "--dry-run"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"action\":\"complete\""));
}

// A declarative migration after pending plain ones is planned in the dry run's transaction once
// they ran: it may change a table the migration before it creates.
TEST_F(ExpandPg, DryRunPlansADeclarativeMigrationAfterThePlainOnesBeforeIt) {
  write_file(dir_.path() / "0001_notes" / "up.sql",
             "CREATE TABLE notes (id int PRIMARY KEY, body text);\nINSERT INTO notes VALUES (1, '12'), (2, '30');\n");
  write_file(dir_.path() / "0001_notes" / "down.sql", "DROP TABLE notes;\n");
  add("0002_retype",
      "operations:\n"
      "  - alter_column: {table: notes, column: body, type: integer, up: \"body::integer\", down: \"body::text\"}\n");
  std::string before = schema_dump();
  CommandResult dry = migrator({"up", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err << dry.out;
  EXPECT_THAT(dry.out, HasSubstr("0001_notes (up)"));
  EXPECT_THAT(dry.out, HasSubstr("0002_retype (expand)"));
  EXPECT_THAT(dry.out, HasSubstr("AccessExclusiveLock on public.notes"));
  EXPECT_THAT(dry.out, HasSubstr("0002_retype (backfill)"));
  EXPECT_THAT(dry.out, ::testing::ContainsRegex("UPDATE +2 "));  // both rows of the table 0001 made
  EXPECT_THAT(dry.out, HasSubstr("0002_retype (complete)"));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT count(*) FROM pg_namespace WHERE nspname IN ('migrator', 'public_v0002')"), "0");
  // A table that nothing before it creates is still refused, naming the file and line.
  add("0003_missing", "operations:\n  - drop_column: {table: nowhere, column: x}\n");
  write_file(dir_.path() / "0002_retype" / "migration.yaml",
             "operations:\n  - sql: {up: \"SELECT 1\", down: \"SELECT 1\"}\n");
  ASSERT_EQ(migrator({"up"}).exit_code, 0);  // 0001 applied, 0002 expanded
  ASSERT_EQ(migrator({"complete", "2", "--no-backup"}).exit_code, 0);
  CommandResult missing = migrator({"up", "--dry-run"});
  EXPECT_EQ(missing.exit_code, 3) << missing.out;
  EXPECT_THAT(missing.err,
              HasSubstr("0003_missing/migration.yaml:2: drop_column names table public.nowhere, which does not exist"));
}

// Once expanded, `complete --dry-run` and `abort --dry-run` run what the command would (the plan
// stored at expand) in a rolled-back transaction and report it; they refuse as the command does,
// take no backup and change nothing.
TEST_F(ExpandPg, CompleteAndAbortDryRunsReportTheStoredPlanAndChangeNothing) {
  add("0007_retype",
      std::string(kRenameAndRetype) + "  - create_index: {name: orders_descr_idx, table: orders, columns: [descr]}\n");
  CommandResult early = migrator({"abort", "7", "--dry-run"});
  EXPECT_EQ(early.exit_code, 3);
  EXPECT_THAT(early.err, HasSubstr("refusing to abort 0007_retype, nothing was changed: it is not expanded"));
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  std::string before = schema_dump();
  std::string phases = value("SELECT string_agg(version || phase, ',') FROM migrator.expand_phases");

  CommandResult complete = migrator({"complete", "7", "--dry-run"});
  ASSERT_EQ(complete.exit_code, 0) << complete.err << complete.out;
  EXPECT_THAT(complete.out, HasSubstr("dry run of complete"));
  EXPECT_THAT(complete.out, HasSubstr("0007_retype (complete)"));
  EXPECT_THAT(complete.out, HasSubstr("LOCK TABLE"));
  EXPECT_THAT(complete.out,
              HasSubstr("AccessExclusiveLock on public.orders, AccessExclusiveLock on public_v0007.orders"));
  EXPECT_THAT(complete.out, ::testing::Not(HasSubstr("backed up")));
  CommandResult abort = migrator({"--json", "abort", "7", "--dry-run"});
  ASSERT_EQ(abort.exit_code, 0) << abort.err;
  nlohmann::json report = nlohmann::json::parse(abort.out)["dry_run"];
  EXPECT_EQ(report["command"], "abort");
  ASSERT_EQ(report["migrations"].size(), 1u);
  const nlohmann::json& statements = report["migrations"][0]["statements"];
  ASSERT_FALSE(statements.empty());
  EXPECT_EQ(statements[0]["executed"], false);  // DROP INDEX CONCURRENTLY, first as abort runs it
  EXPECT_THAT(statements[1]["statement"].get<std::string>(), HasSubstr("DROP SCHEMA IF EXISTS \"public_v0007\""));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT string_agg(version || phase, ',') FROM migrator.expand_phases"), phases);
  EXPECT_TRUE(std::filesystem::is_empty(backups_.path()));

  // A complete the flag gate or the backfill would refuse is refused by its dry run too.
  database_->exec("UPDATE migrator.backfill_progress SET finished_at = NULL");
  CommandResult refused = migrator({"complete", "7", "--dry-run"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  EXPECT_THAT(refused.err, HasSubstr("refusing to complete 0007_retype"));
}

TEST_F(ExpandPg, ALockedTableTimesOutRetriesWithBackoffAndChangesNothing) {
  add("0008_add", "operations:\n  - add_column: {table: orders, column: {name: note, type: text}}\n");
  std::string before = schema_dump();
  pqxx::connection holder(database_->url());
  pqxx::work hold(holder);
  hold.exec("LOCK TABLE orders IN ACCESS SHARE MODE");  // a long reader: ALTER TABLE must not queue behind it
  CommandResult up = migrator({"--lock-timeout", "100ms", "--lock-retries", "2", "up"});
  EXPECT_EQ(up.exit_code, 1) << up.err;
  EXPECT_THAT(up.err, HasSubstr("lock_timeout (100 ms)"));
  EXPECT_THAT(up.err, HasSubstr("retry 1 of 2 in 200 ms"));
  EXPECT_THAT(up.err, HasSubstr("retry 2 of 2 in 400 ms"));
  EXPECT_THAT(up.err, HasSubstr("gave up after 3 attempts; rolled back, nothing of it remains"));
  hold.abort();
  EXPECT_EQ(schema_dump(), before);
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("pending"));
  EXPECT_EQ(history(8), "expand failed");
  EXPECT_THAT(value("SELECT detail FROM migrator.history WHERE version = 8"), HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(migrator({"up"}).exit_code, 0);
  EXPECT_EQ(history(8), "expand failed, expand applied");  // add_column without `up`: nothing to backfill
}

// A failed index step leaves no invalid index and the migration expanding; once the cause is
// mended, `up` resumes: the indexes built before stay, one left invalid (a build killed part way)
// is dropped and built again, then the backfill runs.
TEST_F(ExpandPg, AFailedConcurrentIndexBuildLeavesNoInvalidIndexAndUpResumesIt) {
  database_->exec("INSERT INTO orders (descr, price) VALUES ('a', '30')");  // descr 'a' twice
  add("0009_unique",
      "operations:\n"
      "  - add_column: {table: orders, column: {name: note, type: text}, up: \"'n' || id\"}\n"
      "  - create_index: {name: orders_price_idx, table: orders, columns: [price]}\n"
      "  - create_index: {name: orders_descr_key, table: orders, columns: [descr], unique: true}\n");
  CommandResult up = migrator({"up"});
  EXPECT_EQ(up.exit_code, 1);
  // The server's DETAIL says which key is duplicated.
  EXPECT_THAT(up.err, HasSubstr("could not create unique index \"orders_descr_key\" DETAIL: Key (descr)=(a) is "
                                "duplicated. (SQLSTATE 23505)"));
  EXPECT_THAT(up.err, HasSubstr("dropped what it left"));
  EXPECT_THAT(up.err, HasSubstr("0009_unique stays expanding: once the cause is mended `migrator up` resumes its "
                                "index steps; `migrator abort 9` undoes what its expand did"));
  EXPECT_EQ(value("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  // status says why, and what goes on.
  std::string status = migrator({"status"}).out;
  EXPECT_THAT(
      status,
      HasSubstr("0009  unique  expanding (expand of 0009_unique failed at `CREATE UNIQUE INDEX "
                "CONCURRENTLY \"orders_descr_key\" ON \"public\".\"orders\" (\"descr\")` (the create_index at "));
  EXPECT_THAT(status, HasSubstr("0009_unique/migration.yaml:4): ERROR: could not create unique index"));
  EXPECT_THAT(status, HasSubstr("; `migrator up` resumes it, `migrator abort 9` undoes it)"));
  EXPECT_THAT(migrator({"--json", "status"}).out, HasSubstr("\"phase_error\":\"expand of 0009_unique failed at"));
  std::string price_index = value("SELECT 'orders_price_idx'::regclass::oid::text");
  for (const char* command : {"backfill", "complete"}) {
    CommandResult refused_here = migrator({command, "9"});
    EXPECT_EQ(refused_here.exit_code, 3) << command;
    EXPECT_THAT(refused_here.err, HasSubstr(std::string("refusing to ") + command +
                                            " 0009_unique, nothing was changed: its phase is expanding; `migrator up` "
                                            "resumes its expand (an index step), then backfills"));
  }
  // A dry run shows what up would run: the stored index steps (never in a transaction), the backfill.
  std::string expanded_schema = schema_dump();
  CommandResult dry = migrator({"up", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("0009_unique (expand)"));
  EXPECT_THAT(dry.out, ::testing::ContainsRegex("not executed +CREATE INDEX CONCURRENTLY cannot run inside a "
                                                "transaction: CREATE UNIQUE INDEX CONCURRENTLY \"orders_descr_key\""));
  EXPECT_THAT(dry.out, HasSubstr("0009_unique (backfill)"));
  EXPECT_THAT(dry.out, ::testing::ContainsRegex("UPDATE +3 "));
  EXPECT_THAT(dry.out, ::testing::Not(HasSubstr("(complete)")));
  EXPECT_EQ(schema_dump(), expanded_schema);
  // Not mended yet: the step fails again, and nothing is left behind.
  CommandResult again = migrator({"up"});
  EXPECT_EQ(again.exit_code, 1) << again.out;
  EXPECT_THAT(again.err, HasSubstr("Key (descr)=(a) is duplicated"));
  EXPECT_EQ(value("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  // A build killed part way leaves an invalid index of that name (made here by hand).
  try {
    pqxx::connection by_hand(database_->url());
    pqxx::nontransaction tx(by_hand);
    tx.exec("CREATE UNIQUE INDEX CONCURRENTLY orders_descr_key ON orders (descr)");
    ADD_FAILURE() << "built a unique index over a duplicate";
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(e.sqlstate(), "23505");
  }
  EXPECT_EQ(value("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "1");
  database_->exec("UPDATE orders SET descr = 'c' WHERE price = '30'");
  CommandResult resumed = migrator({"up"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("expanded 0009_unique ("));
  EXPECT_THAT(resumed.out,
              HasSubstr("resumed: 1 of 2 index steps built): the new version's views are in public_v0009"));
  EXPECT_THAT(resumed.out, HasSubstr("backfilled 0009_unique: 3 rows"));
  EXPECT_EQ(value("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  EXPECT_EQ(value("SELECT indisunique FROM pg_index WHERE indexrelid = 'orders_descr_key'::regclass"), "t");
  EXPECT_EQ(value("SELECT 'orders_price_idx'::regclass::oid::text"), price_index);  // kept, not built again
  EXPECT_EQ(rows("public_v0009.orders", "note"), "n1,n2,n3");
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("expanded (old and new versions both work"));
  CommandResult nothing = migrator({"up", "--dry-run"});  // up does nothing more for it
  EXPECT_EQ(nothing.exit_code, 0) << nothing.err;
  EXPECT_THAT(nothing.out, ::testing::Not(HasSubstr("0009_unique (")));
  EXPECT_EQ(history(9), "expand failed, expand failed, expand applied, backfill completed");
  // The phase row's arrays hold the names themselves.
  EXPECT_EQ(value("SELECT tables[1] || ' ' || version_schemas[1] FROM migrator.expand_phases WHERE version = 9"),
            "public.orders public_v0009");
  CommandResult abort = migrator({"abort", "9"});
  EXPECT_EQ(abort.exit_code, 0) << abort.err;
  EXPECT_EQ(value("SELECT count(*) FROM pg_class WHERE relname IN ('orders_descr_key', 'orders_price_idx')"), "0");
  EXPECT_EQ(value("SELECT count(*) FROM pg_namespace WHERE nspname = 'public_v0009'"), "0");
}

// Each operation end to end: abort from a fresh expand changes nothing; expanded again, writes
// through the old shape (the tables) and the new one (the version schema's views) are seen in the
// other; complete leaves the final shape with the data.

constexpr const char* kTier = "id || '=' || name || '/' || coalesce(tier, '-')";

TEST_F(ExpandPg, AddColumnNullable) {
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing(
      "0001_tier", 1, "operations:\n  - add_column: {table: customers, column: {name: tier, type: text}}\n"));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_tier"));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text, _migrator_new_tier text");
  EXPECT_EQ(columns_of("public_v0001.customers"), "id bigint, name text, tier text");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  database_->exec("INSERT INTO public_v0001.customers (id, name, tier) VALUES (3, 'cy', 'gold')");
  database_->exec("UPDATE public_v0001.customers SET tier = 'pro' WHERE id = 1");
  database_->exec("UPDATE public.customers SET name = 'cyd' WHERE id = 3");
  EXPECT_EQ(rows("public_v0001.customers", kTier), "1=ann/pro,2=bob/-,3=cyd/gold");
  EXPECT_EQ(rows("public.customers", "id || '=' || name"), "1=ann,2=bob,3=cyd");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text, tier text");
  EXPECT_EQ(rows("public.customers", kTier), "1=ann/pro,2=bob/-,3=cyd/gold");
}

// A nullable column with `up`: old-version inserts are filled, while an explicit NULL the new
// version inserts (or a column it leaves out, having no default) stays NULL.
TEST_F(ExpandPg, AddColumnNullableWithAnUpExpressionKeepsTheNewVersionsNull) {
  const char* yaml =
      "operations:\n  - add_column: {table: customers, column: {name: tier, type: text}, up: \"'t' || id\"}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_tier", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_tier"));
  EXPECT_EQ(rows("public_v0001.customers", kTier), "1=ann/t1");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  database_->exec("INSERT INTO public_v0001.customers (id, name, tier) VALUES (3, 'cy', NULL)");
  database_->exec("INSERT INTO public_v0001.customers (id, name) VALUES (4, 'di')");
  database_->exec("INSERT INTO public_v0001.customers (id, name, tier) VALUES (5, 'ed', 'gold')");
  database_->exec("UPDATE public_v0001.customers SET tier = NULL WHERE id = 2");
  database_->exec("INSERT INTO public_v0001.customers (id, name, tier) VALUES (6, 'fi', NULL)");
  // The mark lasts for the view's own insert: an old-version insert in the same transaction is filled.
  database_->exec(
      "BEGIN; INSERT INTO public_v0001.customers (id, name, tier) VALUES (7, 'gu', NULL); "
      "INSERT INTO public.customers (id, name) VALUES (8, 'ho'); COMMIT;");
  EXPECT_EQ(rows("public_v0001.customers", kTier), "1=ann/t1,2=bob/-,3=cy/-,4=di/-,5=ed/gold,6=fi/-,7=gu/-,8=ho/t8");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text, tier text");
  EXPECT_EQ(rows("public.customers", kTier), "1=ann/t1,2=bob/-,3=cy/-,4=di/-,5=ed/gold,6=fi/-,7=gu/-,8=ho/t8");
}

TEST_F(ExpandPg, AddColumnNotNullWithADefault) {
  const char* yaml =
      "operations:\n  - add_column: {table: customers, column: {name: tier, type: text, not_null: true, default: "
      "\"'free'\"}}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_tier", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_tier"));
  // NOT NULL is a NOT VALID check during the window; the rows that exist have the default.
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text, _migrator_new_tier text");
  EXPECT_EQ(rows("public_v0001.customers", kTier), "1=ann/free");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  database_->exec("INSERT INTO public_v0001.customers (id, name) VALUES (3, 'cy')");
  database_->exec("INSERT INTO public_v0001.customers (id, name, tier) VALUES (4, 'di', 'gold')");
  // Refused as PostgreSQL's own NOT NULL refuses, naming the column as the new version does.
  EXPECT_THAT(refused("INSERT INTO public_v0001.customers (id, name, tier) VALUES (5, 'ed', NULL)"),
              HasSubstr("SQLSTATE 23502: ERROR:  null value in column \"tier\" of relation \"customers\""));
  EXPECT_THAT(refused("UPDATE public_v0001.customers SET tier = NULL WHERE id = 1"),
              HasSubstr("SQLSTATE 23502: ERROR:  null value in column \"tier\" of relation \"customers\""));
  // The view stays auto-updatable (no insert trigger), so ON CONFLICT works through it.
  database_->exec("INSERT INTO public_v0001.customers (id, name) VALUES (3, 'cy') ON CONFLICT (id) DO NOTHING");
  EXPECT_EQ(rows("public_v0001.customers", kTier), "1=ann/free,2=bob/free,3=cy/free,4=di/gold");
  EXPECT_EQ(rows("public.customers", "id || '=' || name"), "1=ann,2=bob,3=cy,4=di");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text, tier text not null");
  EXPECT_EQ(value("SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.customers'::regclass AND contype = 'c'"),
            "0");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (6, 'fi')");
  EXPECT_EQ(rows("public.customers", kTier), "1=ann/free,2=bob/free,3=cy/free,4=di/gold,6=fi/free");
}

// A volatile default given at ADD COLUMN would rewrite the table under its ACCESS EXCLUSIVE lock
// (every row gets its own value): it is set after the column is added, and the rows there are
// filled by the backfill, each with its own value, as the rewrite would have done.
TEST_F(ExpandPg, AddColumnWithAVolatileDefaultRewritesNothingAndFillsEachRow) {
  database_->exec("INSERT INTO orders (descr) SELECT 'o' || g FROM generate_series(1, 500) g");
  std::string file = value("SELECT pg_relation_filenode('orders')");
  add("0007_token",
      "operations:\n  - add_column: {table: orders, column: {name: token, type: uuid, not_null: true, default: "
      "\"gen_random_uuid()\"}}\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(value("SELECT pg_relation_filenode('orders')"), file);  // not rewritten
  EXPECT_EQ(value("SELECT count(DISTINCT token) = count(*) AND count(*) >= 500 FROM public_v0007.orders"), "t");
  database_->exec("INSERT INTO orders (descr) VALUES ('old')");
  database_->exec("INSERT INTO public_v0007.orders (descr) VALUES ('new')");
  EXPECT_EQ(value("SELECT count(*) FROM public_v0007.orders WHERE descr IN ('old', 'new') AND token IS NOT NULL"), "2");
  complete(7);
  EXPECT_EQ(value("SELECT column_default FROM information_schema.columns WHERE table_schema = 'public' AND "
                  "table_name = 'orders' AND column_name = 'token'"),
            "gen_random_uuid()");
  EXPECT_EQ(value("SELECT count(DISTINCT token) = count(*) FROM orders"), "t");
}

// A table the backfill cannot walk in batches is refused before expand changes anything (not after
// it, with the migration left backfilling).
TEST_F(ExpandPg, ATableWithNoKeyToBackfillByIsRefusedBeforeExpand) {
  database_->exec("CREATE TABLE logs (msg text); INSERT INTO logs VALUES ('a'), ('b')");
  std::string before = schema_dump();
  add("0007_token",
      "operations:\n  - add_column: {table: logs, column: {name: token, type: uuid, default: "
      "\"gen_random_uuid()\"}}\n");
  CommandResult up = migrator({"up"});
  EXPECT_EQ(up.exit_code, 3) << up.out;
  EXPECT_THAT(up.err, HasSubstr("refusing to expand 0007_token, nothing was changed: backfill: table "
                                "\"public\".\"logs\" has no primary key and no unique index over NOT NULL columns"));
  EXPECT_EQ(schema_dump(), before);
  EXPECT_EQ(value("SELECT count(*) FROM migrator.expand_phases"), "0");
  // A constant default needs no backfill, so no key either.
  add("0007_token", "operations:\n  - add_column: {table: logs, column: {name: level, type: int, default: \"0\"}}\n");
  EXPECT_EQ(migrator({"up"}).exit_code, 0);
}

TEST_F(ExpandPg, AddColumnNotNullFilledByAnUpExpression) {
  const char* yaml =
      "operations:\n  - add_column: {table: customers, column: {name: tier, type: text, not_null: true}, up: \"'t' "
      "|| id\"}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_tier", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_tier"));
  EXPECT_EQ(rows("public_v0001.customers", kTier), "1=ann/t1");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  database_->exec("INSERT INTO public_v0001.customers (id, name, tier) VALUES (3, 'cy', 'gold')");
  EXPECT_THAT(refused("INSERT INTO public_v0001.customers (id, name) VALUES (5, 'ed')"),
              HasSubstr("SQLSTATE 23502: ERROR:  null value in column \"tier\" of relation \"customers\""));
  // An old-version write that leaves the new column alone keeps the value the new version wrote.
  database_->exec("UPDATE public.customers SET name = 'cyd' WHERE id = 3");
  database_->exec("UPDATE public_v0001.customers SET tier = 'pro' WHERE id = 2");
  EXPECT_EQ(rows("public_v0001.customers", kTier), "1=ann/t1,2=bob/pro,3=cyd/gold");
  EXPECT_EQ(rows("public.customers", "id || '=' || name"), "1=ann,2=bob,3=cyd");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text, tier text not null");
  EXPECT_EQ(rows("public.customers", kTier), "1=ann/t1,2=bob/pro,3=cyd/gold");
}

TEST_F(ExpandPg, DropColumnFilledByDownForNewVersionInserts) {
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing(
      "0001_no_name", 1, "operations:\n  - drop_column: {table: customers, column: name, down: \"'n' || id\"}\n"));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_no_name"));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text");
  EXPECT_EQ(columns_of("public_v0001.customers"), "id bigint");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  database_->exec("INSERT INTO public_v0001.customers (id) VALUES (3)");
  EXPECT_EQ(rows("public_v0001.customers", "id::text"), "1,2,3");
  EXPECT_EQ(rows("public.customers", "id || '=' || name"), "1=ann,2=bob,3=n3");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null");
  EXPECT_EQ(rows("public.customers", "id::text"), "1,2,3");
}

TEST_F(ExpandPg, AlterColumnDropNotNull) {
  const char* yaml =
      "operations:\n  - alter_column: {table: orders, column: price, not_null: false, down: \"coalesce(price, "
      "'0')\"}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_price_optional", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_price_optional"));
  EXPECT_EQ(columns_of("public.orders"),
            "id bigint not null, descr text, price text not null, _migrator_new_price text");
  EXPECT_EQ(rows("public_v0001.orders", "price"), "10,20");
  // The new version may clear it; the old one, whose column stays NOT NULL, reads `down` of it.
  database_->exec("UPDATE public_v0001.orders SET price = NULL WHERE id = 1");
  database_->exec("INSERT INTO public_v0001.orders (id, descr, price) VALUES (3, 'new', '30')");
  database_->exec("INSERT INTO public.orders (id, descr, price) VALUES (4, 'old', '40')");
  database_->exec("UPDATE public.orders SET price = '21' WHERE id = 2");
  // An explicit NULL the new version inserts stays NULL (not `up` of the old column's default),
  // and one it leaves out takes the default.
  database_->exec("INSERT INTO public_v0001.orders (id, descr, price) VALUES (5, 'null', NULL)");
  database_->exec("INSERT INTO public_v0001.orders (id, descr) VALUES (6, 'left out')");
  EXPECT_EQ(rows("public_v0001.orders", "id || '=' || coalesce(price, '-')"), "1=-,2=21,3=30,4=40,5=-,6=0");
  EXPECT_EQ(rows("public.orders", "id || '=' || price"), "1=0,2=21,3=30,4=40,5=0,6=0");
  // The mark the view's trigger sets lasts only for its own insert: an old-version insert in the
  // same transaction is converted as usual.
  database_->exec(
      "BEGIN; INSERT INTO public_v0001.orders (id, price) VALUES (7, NULL); "
      "INSERT INTO public.orders (id, descr, price) VALUES (8, 'old', '80'); COMMIT;");
  EXPECT_EQ(rows("public_v0001.orders", "id || '=' || coalesce(price, '-')"),
            "1=-,2=21,3=30,4=40,5=-,6=0,7=-,8=80");
  EXPECT_THAT(refused("UPDATE public.orders SET price = NULL WHERE id = 2"), HasSubstr("SQLSTATE 23502"));
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.orders"), "id bigint not null, descr text, price text");
  EXPECT_EQ(value("SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'public.orders'::regclass AND "
                  "adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = adrelid AND attname = 'price')"),
            "'0'::text");
  EXPECT_EQ(rows("public.orders", "id || '=' || coalesce(price, '-')"), "1=-,2=21,3=30,4=40,5=-,6=0,7=-,8=80");
}

TEST_F(ExpandPg, AlterColumnAddCheckEnforcedOnTheNewColumnFromTheStart) {
  database_->exec("INSERT INTO orders (id, descr, price) VALUES (3, 'big', '12345')");
  const char* yaml =
      "operations:\n  - alter_column: {table: orders, column: price, check: {constraint: \"length(price) < 4\"}, up: "
      "\"left(price, 3)\", down: \"price\"}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_short_price", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_short_price"));
  EXPECT_EQ(rows("public_v0001.orders", "id || '=' || price"), "1=10,2=20,3=123");
  EXPECT_THAT(refused("INSERT INTO public_v0001.orders (id, price) VALUES (4, '4444')"),
              HasSubstr("SQLSTATE 23514: ERROR:  new row for relation \"orders\" violates check constraint "
                        "\"orders_price_check\""));
  EXPECT_THAT(refused("UPDATE public_v0001.orders SET price = '1111' WHERE id = 1"), HasSubstr("SQLSTATE 23514"));
  // Old-version writes go through `up`.
  database_->exec("INSERT INTO public.orders (id, price) VALUES (5, '55555')");
  database_->exec("INSERT INTO public_v0001.orders (id, price) VALUES (6, '66')");
  EXPECT_EQ(rows("public_v0001.orders", "id || '=' || price"), "1=10,2=20,3=123,5=555,6=66");
  EXPECT_EQ(rows("public.orders", "id || '=' || price"), "1=10,2=20,3=12345,5=55555,6=66");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.orders"), "id bigint not null, descr text, price text not null");
  EXPECT_EQ(value("SELECT pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint WHERE conname = "
                  "'orders_price_check'"),
            "CHECK ((length(price) < 4)) true");
  EXPECT_EQ(rows("public.orders", "id || '=' || price"), "1=10,2=20,3=123,5=555,6=66");
}

TEST_F(ExpandPg, AlterColumnAddUniqueEnforcedOnTheNewColumnFromTheStart) {
  const char* yaml = "operations:\n  - alter_column: {table: orders, column: descr, unique: {}}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_unique_descr", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_unique_descr"));
  EXPECT_EQ(value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.orders_descr_key'::regclass"), "t");
  EXPECT_THAT(refused("INSERT INTO public_v0001.orders (id, descr) VALUES (3, 'a')"),
              HasSubstr("SQLSTATE 23505: ERROR:  duplicate key value violates unique constraint \"orders_descr_key\""));
  database_->exec("INSERT INTO public.orders (id, descr) VALUES (4, 'old')");
  database_->exec("INSERT INTO public_v0001.orders (id, descr) VALUES (5, 'new')");
  EXPECT_THAT(refused("INSERT INTO public.orders (id, descr) VALUES (6, 'new')"), HasSubstr("SQLSTATE 23505"));
  EXPECT_EQ(rows("public_v0001.orders", "id || '=' || coalesce(descr, '-')"), "1=a,2=-,4=old,5=new");
  EXPECT_EQ(rows("public.orders", "id || '=' || coalesce(descr, '-')"), "1=a,2=-,4=old,5=new");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(value("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'orders_descr_key' AND "
                  "conrelid = 'public.orders'::regclass"),
            "UNIQUE (descr)");
  EXPECT_EQ(rows("public.orders", "id || '=' || coalesce(descr, '-')"), "1=a,2=-,4=old,5=new");
}

TEST_F(ExpandPg, AlterColumnAddForeignKeyEnforcedOnTheNewColumnFromTheStart) {
  database_->exec("ALTER TABLE orders ADD COLUMN customer_id bigint; UPDATE orders SET customer_id = 1 WHERE id = 1");
  const char* yaml =
      "operations:\n  - alter_column: {table: orders, column: customer_id, references: {table: customers, column: "
      "id}}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_order_customer", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_order_customer"));
  EXPECT_THAT(refused("INSERT INTO public_v0001.orders (id, customer_id) VALUES (3, 99)"),
              HasSubstr("SQLSTATE 23503: ERROR:  insert or update on table \"orders\" violates foreign key constraint "
                        "\"orders_customer_id_fkey\""));
  database_->exec("INSERT INTO customers VALUES (2, 'bob')");
  database_->exec("INSERT INTO public.orders (id, customer_id) VALUES (4, 2)");
  database_->exec("INSERT INTO public_v0001.orders (id, customer_id) VALUES (5, 1)");
  database_->exec("UPDATE public_v0001.orders SET customer_id = 2 WHERE id = 2");
  EXPECT_THAT(refused("DELETE FROM customers WHERE id = 2"), HasSubstr("SQLSTATE 23503"));
  const char* expected = "1=1,2=2,4=2,5=1";
  EXPECT_EQ(rows("public_v0001.orders", "id || '=' || customer_id"), expected);
  EXPECT_EQ(rows("public.orders", "id || '=' || customer_id"), expected);
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(value("SELECT pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint WHERE conname = "
                  "'orders_customer_id_fkey'"),
            "FOREIGN KEY (customer_id) REFERENCES customers(id) true");
  EXPECT_EQ(rows("public.orders", "id || '=' || customer_id"), expected);
}

TEST_F(ExpandPg, RenameColumn) {
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing(
      "0001_full_name", 1, "operations:\n  - rename_column: {table: customers, from: name, to: full_name}\n"));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_full_name"));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, name text");
  EXPECT_EQ(columns_of("public_v0001.customers"), "id bigint, full_name text");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  database_->exec("INSERT INTO public_v0001.customers (id, full_name) VALUES (3, 'cy')");
  database_->exec("UPDATE public_v0001.customers SET full_name = 'bo' WHERE id = 2");
  EXPECT_EQ(rows("public_v0001.customers", "id || '=' || full_name"), "1=ann,2=bo,3=cy");
  EXPECT_EQ(rows("public.customers", "id || '=' || name"), "1=ann,2=bo,3=cy");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(columns_of("public.customers"), "id bigint not null, full_name text");
  EXPECT_EQ(rows("public.customers", "id || '=' || full_name"), "1=ann,2=bo,3=cy");
}

TEST_F(ExpandPg, RenameTable) {
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing(
      "0001_clients", 1, "operations:\n  - rename_table: {from: customers, to: clients}\n"));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_clients"));
  EXPECT_EQ(value("SELECT to_regclass('public.clients') IS NULL AND to_regclass('public_v0001.customers') IS NULL"),
            "t");
  EXPECT_EQ(columns_of("public_v0001.clients"), "id bigint, name text");
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  database_->exec("INSERT INTO public_v0001.clients (id, name) VALUES (3, 'cy')");
  database_->exec("UPDATE public_v0001.clients SET name = 'an' WHERE id = 1");
  const char* expected = "1=an,2=bob,3=cy";
  EXPECT_EQ(rows("public_v0001.clients", "id || '=' || name"), expected);
  EXPECT_EQ(rows("public.customers", "id || '=' || name"), expected);
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(value("SELECT to_regclass('public.customers') IS NULL"), "t");
  EXPECT_EQ(columns_of("public.clients"), "id bigint not null, name text");
  EXPECT_EQ(rows("public.clients", "id || '=' || name"), expected);
  database_->exec("INSERT INTO public_v0001.clients (id, name) VALUES (4, 'di')");
  EXPECT_EQ(value("SELECT name FROM public.clients WHERE id = 4"), "di");
}

TEST_F(ExpandPg, CreateTable) {
  const char* yaml =
      "operations:\n  - create_table: {table: items, columns: [{name: id, type: bigint, primary_key: true}, {name: "
      "order_id, type: bigint, not_null: true, references: orders(id)}, {name: qty, type: integer, default: '1', "
      "check: 'qty > 0'}]}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_items", 1, yaml));
  EXPECT_EQ(value("SELECT to_regclass('public.items') IS NULL"), "t");
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_items"));
  EXPECT_EQ(columns_of("public.items"), "id bigint not null, order_id bigint not null, qty integer");
  EXPECT_EQ(columns_of("public_v0001.items"), "id bigint, order_id bigint, qty integer");
  database_->exec("INSERT INTO public.items (id, order_id) VALUES (1, 1)");
  database_->exec("INSERT INTO public_v0001.items (id, order_id, qty) VALUES (2, 2, 5)");
  EXPECT_THAT(refused("INSERT INTO public_v0001.items (id, order_id) VALUES (3, 99)"), HasSubstr("SQLSTATE 23503"));
  EXPECT_THAT(refused("INSERT INTO public_v0001.items (id, order_id, qty) VALUES (3, 1, 0)"),
              HasSubstr("SQLSTATE 23514"));
  EXPECT_EQ(rows("public_v0001.items", "id || ':' || order_id || 'x' || qty"), "1:1x1,2:2x5");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(rows("public.items", "id || ':' || order_id || 'x' || qty"), "1:1x1,2:2x5");
}

TEST_F(ExpandPg, DropTable) {
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing(
      "0001_no_customers", 1, "operations:\n  - drop_table: {table: customers}\n"));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_no_customers"));
  EXPECT_EQ(value("SELECT to_regclass('public_v0001.customers') IS NULL AND to_regclass('public_v0001.orders') IS NOT "
                  "NULL"),
            "t");
  // The old version keeps using it until complete.
  database_->exec("INSERT INTO public.customers (id, name) VALUES (2, 'bob')");
  EXPECT_EQ(rows("public.customers", "name"), "ann,bob");
  database_->exec("INSERT INTO public_v0001.orders (id, descr) VALUES (3, 'new')");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(value("SELECT to_regclass('public.customers') IS NULL"), "t");
  EXPECT_EQ(rows("public.orders", "id || '=' || coalesce(descr, '-')"), "1=a,2=-,3=new");
}

TEST_F(ExpandPg, CreateIndex) {
  const char* yaml =
      "operations:\n  - create_index: {name: orders_descr_key, table: orders, columns: [descr], unique: true, where: "
      "\"descr <> ''\"}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_descr_index", 1, yaml));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_descr_index"));
  EXPECT_EQ(value("SELECT pg_get_indexdef(indexrelid) || ' ' || indisvalid FROM pg_index WHERE indexrelid = "
                  "'public.orders_descr_key'::regclass"),
            "CREATE UNIQUE INDEX orders_descr_key ON public.orders USING btree (descr) WHERE (descr <> ''::text) true");
  database_->exec("INSERT INTO public.orders (id, descr) VALUES (3, '')");
  database_->exec("INSERT INTO public_v0001.orders (id, descr) VALUES (4, '')");
  EXPECT_THAT(refused("INSERT INTO public_v0001.orders (id, descr) VALUES (5, 'a')"), HasSubstr("SQLSTATE 23505"));
  EXPECT_THAT(refused("INSERT INTO public.orders (id, descr) VALUES (5, 'a')"), HasSubstr("SQLSTATE 23505"));
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.orders_descr_key'::regclass"), "t");
  EXPECT_EQ(rows("public.orders", "id || '=' || coalesce(descr, '-')"), "1=a,2=-,3=,4=");
}

TEST_F(ExpandPg, DropIndex) {
  database_->exec("CREATE INDEX orders_price_idx ON orders (price)");
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing(
      "0001_no_price_index", 1, "operations:\n  - drop_index: {name: orders_price_idx}\n"));
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_no_price_index"));
  // The old version may still use it during the window.
  EXPECT_EQ(value("SELECT to_regclass('public.orders_price_idx') IS NOT NULL"), "t");
  database_->exec("INSERT INTO public.orders (id, price) VALUES (3, '30')");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(value("SELECT to_regclass('public.orders_price_idx') IS NULL"), "t");
  EXPECT_EQ(rows("public.orders", "id || '=' || price"), "1=10,2=20,3=30");
}

TEST_F(ExpandPg, RawSql) {
  const char* yaml =
      "operations:\n  - sql: {up: 'CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, "
      "''first'')', down: 'DROP TABLE notes'}\n";
  ASSERT_NO_FATAL_FAILURE(expect_expand_then_abort_changes_nothing("0001_notes", 1, yaml));
  EXPECT_EQ(value("SELECT to_regclass('public.notes') IS NULL"), "t");
  ASSERT_NO_FATAL_FAILURE(expand_again("0001_notes"));
  EXPECT_EQ(value("SELECT string_agg(body, ',') FROM public.notes"), "first");
  ASSERT_NO_FATAL_FAILURE(complete(1));
  EXPECT_EQ(value("SELECT string_agg(body, ',') FROM public.notes"), "first");
  EXPECT_EQ(value("SELECT count(*) FROM migrator.schema_migrations WHERE version = 1"), "1");
}

// A database whose state the previous release made (its marker, the history's old action check,
// with or without the expand_phases table its first expand created) is upgraded in place by the
// next run: its rows stay, and every expand-contract action is recorded.
class ExpandPgUpgrade : public ExpandPg {
 protected:
  void run(bool with_phases) {
    std::string marker = "migrator state, schema script " + std::to_string(fnv1a64(kPreviousState));
    database_->exec(std::string(kPreviousState) + ";\nCOMMENT ON SCHEMA migrator IS '" + marker + "'");
    if (with_phases) database_->exec(kPreviousPhases);
    database_->exec(
        "INSERT INTO migrator.history (version, name, action, outcome, duration_ms, migrator_version) "
        "VALUES (1, 'older', 'baseline', 'applied', 0, 'previous')");
    EXPECT_THAT(refused("INSERT INTO migrator.history (version, name, action, outcome, duration_ms, "
                        "migrator_version) VALUES (7, 'retype', 'expand', 'applied', 0, 'x')"),
                HasSubstr("SQLSTATE 23514"));
    add("0007_retype", kRenameAndRetype);
    CommandResult up = migrator({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.err;
    CommandResult complete = migrator({"complete", "7"});
    ASSERT_EQ(complete.exit_code, 0) << complete.err;
    EXPECT_EQ(history(1), "baseline applied");
    EXPECT_EQ(history(7), "expand applied, backfill completed, complete applied");
    EXPECT_EQ(value("SELECT phase FROM migrator.expand_phases WHERE version = 7"), "complete");
    EXPECT_THAT(value("SELECT obj_description('migrator'::regnamespace, 'pg_namespace')"),
                ::testing::Not(HasSubstr(std::to_string(fnv1a64(kPreviousState)))));
  }
};

TEST_F(ExpandPgUpgrade, StateFromThePreviousReleaseIsUpgradedInPlace) { run(false); }

TEST_F(ExpandPgUpgrade, StateWithExpandPhasesFromThePreviousReleaseIsUpgradedInPlace) { run(true); }

}  // namespace
}  // namespace migrator_test
