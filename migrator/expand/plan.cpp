#include "migrator/expand/plan.h"

#include <algorithm>
#include <map>
#include <set>

namespace migrator::expand {
namespace {

std::string trigger_name(const std::string& version) { return "_migrator_sync_" + version; }

std::string function_name(const TableName& table, const std::string& version) {
  return "migrator." + quote_ident("sync_" + version + "_" + table.schema + "_" + table.table);
}

// True while a version view's insert trigger writes the row: the new columns hold what the new
// version wrote, NULLs included, so the sync trigger only converts new to old.
constexpr const char* kViewInsert = "current_setting('migrator.view_insert', true) = 'on'";

// True unless the session is the backfill, which writes the new columns itself.
constexpr const char* kNotBackfill = "current_setting('migrator.backfill', true) IS DISTINCT FROM 'on'";

// A conversion names columns as the migration author sees them, so it runs over a one-row subquery
// of `row` (NEW in the sync trigger, the table where expand plans it). `up` reads the whole row: it
// names the old columns.
std::string up_row(const std::string& row) { return "SELECT " + row + ".*"; }

// `down` of a changed column reads the new column under the name the new version gives it; a
// dropped column's `down` reads the whole row.
std::string down_row(const SyncColumn& c, const std::string& row) {
  if (c.new_column.empty()) return up_row(row);
  return "SELECT " + row + "." + quote_ident(c.new_column) + " AS " + quote_ident(c.view_name);
}

std::string converted(const std::string& expression, const std::string& row) {
  return "(SELECT (" + expression + ") FROM (" + row + ") AS _migrator_row)";
}

// PL/pgSQL that sets `target` to `expression` evaluated over `row`.
std::string assign(const std::string& target, const std::string& expression, const std::string& row) {
  return "NEW." + quote_ident(target) + " := " + converted(expression, row) + ";";
}

std::string insert_trigger_name(const std::string& version) { return "_migrator_insert_" + version; }

std::string insert_function_name(const TableName& table, const std::string& version) {
  return "migrator." + quote_ident("insert_" + version + "_" + table.schema + "_" + table.table);
}

// PL/pgSQL that refuses a NULL `value` as PostgreSQL's own NOT NULL does (SQLSTATE 23502, the
// column and relation as the new version names them).
std::string refuse_null(const std::string& value, const std::string& column, const std::string& relation) {
  // RAISE ... USING MESSAGE takes the text as it is (no % placeholders).
  std::string message =
      "null value in column \"" + column + "\" of relation \"" + relation + "\" violates not-null constraint";
  return "IF " + value +
         " IS NULL THEN RAISE EXCEPTION USING ERRCODE = 'not_null_violation', MESSAGE = " + quote_literal(message) +
         ", COLUMN = " + quote_literal(column) + ", TABLE = " + quote_literal(relation) + "; END IF;";
}

// The body of one table's sync trigger. The direction of each write is decided by which column it
// changed (on INSERT: whether it set the new column), never by search_path; the backfill, which
// writes the new columns itself with migrator.backfill on, passes straight through.
std::string trigger_function(const TableName& table, const std::string& version,
                             const std::vector<const SyncColumn*>& columns) {
  std::string body = "CREATE FUNCTION " + function_name(table, version) +
                     "() RETURNS trigger LANGUAGE plpgsql AS $migrator_sync$\nBEGIN\n"
                     "  IF current_setting('migrator.backfill', true) = 'on' THEN RETURN NEW; END IF;\n";
  for (const SyncColumn* c : columns) {
    std::string n = quote_ident(c->new_column);
    std::string o = quote_ident(c->old_column);
    if (c->old_column.empty() && c->up.empty()) {  // added NOT NULL with a default: refuse NULL
      body += "  IF NEW." + n + " IS NULL THEN\n    " + refuse_null("NEW." + n, c->view_name, table.table) +
              "\n  END IF;\n";
    } else if (c->old_column.empty()) {  // added: `up` fills what old-version writes leave NULL
      body += "  IF NEW." + n + " IS NULL AND (TG_OP = 'INSERT' OR OLD." + n + " IS NULL) AND (" + kViewInsert +
              ") IS NOT TRUE THEN\n    " + assign(c->new_column, c->up, up_row("NEW")) + "\n";
      // Only the new version writes the new column: an UPDATE that clears it is refused.
      if (c->not_null) body += "  ELSE\n    " + refuse_null("NEW." + n, c->view_name, table.table) + "\n";
      body += "  END IF;\n";
    } else if (c->new_column.empty()) {  // dropped: `down` fills what new-version writes cannot set
      body += "  IF TG_OP = 'INSERT' AND NEW." + o + " IS NULL THEN\n    " +
              assign(c->old_column, c->down, down_row(*c, "NEW")) + "\n  END IF;\n";
    } else {
      std::string down = assign(c->old_column, c->down, down_row(*c, "NEW"));
      std::string up = assign(c->new_column, c->up, up_row("NEW"));
      body += "  IF TG_OP = 'INSERT' THEN\n    IF NEW." + n + " IS NOT NULL OR " + kViewInsert + " THEN\n      " + down +
              "\n    ELSE\n      " + up + "\n    END IF;\n  ELSIF NEW." + n + " IS DISTINCT FROM OLD." + n +
              " THEN\n    " + (c->not_null ? refuse_null("NEW." + n, c->view_name, table.table) + "\n    " : "") +
              down + "\n  ELSIF NEW." + o + " IS DISTINCT FROM OLD." + o + " OR NEW." + n + " IS NULL THEN\n    " + up +
              "\n  END IF;\n";
    }
  }
  return body + "  RETURN NEW;\nEND\n$migrator_sync$";
}

}  // namespace

std::vector<PlannedStatement> lock_views_first(std::vector<PlannedStatement> contract, const std::string& version) {
  const std::string lock = "LOCK TABLE ";
  if (!contract.empty() && contract.front().sql.rfind(lock, 0) == 0) return contract;
  const std::string drop = "DROP TRIGGER IF EXISTS " + quote_ident(insert_trigger_name(version)) + " ON ";
  std::string views;
  for (const PlannedStatement& statement : contract) {
    if (statement.sql.rfind(drop, 0) == 0) views += (views.empty() ? "" : ", ") + statement.sql.substr(drop.size());
  }
  if (!views.empty()) contract.insert(contract.begin(), PlannedStatement(lock + views + " IN ACCESS EXCLUSIVE MODE"));
  return contract;
}

std::string version_schema(const std::string& schema, const std::string& version) { return schema + "_v" + version; }

Plan plan_migration(const Declarative& migration, const Catalog& catalog, const std::string& version) {
  Plan plan;
  Catalog working = catalog;
  std::set<std::string> schemas;
  std::set<std::string> tables;
  for (const auto& operation : migration.operations) {
    operation->validate(working, migration.where(*operation));
    operation->declare(working);
    for (const TableName& table : operation->tables()) {
      schemas.insert(table.schema);
      if (tables.insert(table.key()).second) plan.tables.push_back(table.key());
    }
  }

  Shape shape;
  for (const auto& [key, table] : catalog.tables) {
    if (schemas.count(table.name.schema) == 0) continue;
    ViewShape view{table.name, table.name.table, false, {}, {}, {}};
    for (const CatalogColumn& column : table.columns) {
      view.columns.emplace_back(column.name, column.name);
      // A generated column's expression is in pg_attrdef too, but is no default.
      if (!column.default_expr.empty() && !column.generated) view.defaults[column.name] = column.default_expr;
      if (!column.identity_sequence.empty()) {
        view.defaults[column.name] = "nextval(" + quote_literal(column.identity_sequence) + "::regclass)";
      }
      if (column.identity_always) view.overriding_system_value = true;
      if (column.generated) view.generated.insert(column.name);
    }
    shape.tables[key] = view;
  }
  Phases& phases = plan.phases;
  for (const auto& operation : migration.operations) {
    size_t synced_before = phases.sync.size();
    size_t expand_before = phases.expand.size();
    operation->start(catalog, phases, shape);
    for (size_t i = synced_before; i < phases.sync.size(); ++i) phases.sync[i].where = migration.where(*operation);
    std::string at = operation->kind() + " at " + migration.where(*operation);
    for (size_t i = expand_before; i < phases.expand.size(); ++i) {
      if (phases.expand[i].source.empty()) phases.expand[i].source = at;
    }
  }

  // One backfill job per table: a row's new columns are written together, so no NOT VALID check on
  // one of them sees the row while another is still NULL.
  std::vector<PlannedBackfill> jobs;
  for (const PlannedBackfill& job : phases.backfill) {
    auto same = std::find_if(jobs.begin(), jobs.end(),
                             [&](const PlannedBackfill& j) { return j.table.key() == job.table.key(); });
    if (same == jobs.end()) {
      jobs.push_back(job);
    } else {
      same->assignments += ", " + job.assignments;
      same->pending = "(" + same->pending + ") OR (" + job.pending + ")";
    }
  }
  phases.backfill = jobs;

  // Sync triggers, one per table, after the columns they name exist.
  std::map<std::string, std::vector<const SyncColumn*>> by_table;
  std::vector<TableName> synced;
  for (const SyncColumn& column : phases.sync) {
    if (by_table[column.table.key()].empty()) synced.push_back(column.table);
    by_table[column.table.key()].push_back(&column);
  }
  std::vector<PlannedStatement> drop_triggers;
  // What takes no lock on a table (schemas, functions: PL/pgSQL resolves the columns it names when
  // it runs) goes first, so the expand transaction holds its table locks, which every client of
  // those tables queues behind, only for the statements that need them.
  std::vector<PlannedStatement> prelude;
  // The trigger functions live in the migrator's schema (there before any real run; a dry run on a
  // database the migrator never touched creates it inside its rolled-back transaction).
  if (!synced.empty()) prelude.push_back({"CREATE SCHEMA IF NOT EXISTS migrator"});
  for (const TableName& table : synced) {
    prelude.push_back({trigger_function(table, version, by_table[table.key()])});
    // The WHEN clause lets the backfill's rows skip the PL/pgSQL call altogether (about a sixth of
    // the backfill's CPU); the function's own check stays for a caller that reaches it directly.
    phases.expand.push_back({"CREATE TRIGGER " + quote_ident(trigger_name(version)) + " BEFORE INSERT OR UPDATE ON " +
                             table.quoted() + " FOR EACH ROW WHEN (" + kNotBackfill + ") EXECUTE FUNCTION " +
                             function_name(table, version) + "()"});
    drop_triggers.push_back({"DROP TRIGGER IF EXISTS " + quote_ident(trigger_name(version)) + " ON " + table.quoted()});
    drop_triggers.push_back({"DROP FUNCTION IF EXISTS " + function_name(table, version) + "()"});
  }

  // Each conversion a sync trigger runs, planned (EXPLAIN: nothing runs) as an UPDATE of the column
  // it fills, over the row the trigger gives it: PL/pgSQL resolves names and types only when a write
  // fires the trigger, so a typo in `up` or `down` would otherwise pass expand and then fail the
  // application's writes. These go last in the expand transaction, once every column exists.
  std::vector<PlannedStatement> conversion_checks;
  for (const SyncColumn& c : phases.sync) {
    std::string table = c.table.quoted();
    auto check = [&](const std::string& target, const std::string& expression, const std::string& row,
                     const char* key) {
      PlannedStatement statement("EXPLAIN (COSTS OFF) UPDATE " + table + " SET " + quote_ident(target) + " = " +
                                 converted(expression, row) + " WHERE false");
      statement.source = std::string("`") + key + "` of the operation at " + c.where;
      conversion_checks.push_back(statement);
    };
    // The conversions trigger_function() runs, over the rows it gives them.
    if (!c.new_column.empty() && !c.up.empty()) check(c.new_column, c.up, up_row(table), "up");
    if (!c.old_column.empty() && !c.down.empty()) check(c.old_column, c.down, down_row(c, table), "down");
  }

  // The version schemas: the new shape of every table in each schema the migration changes.
  std::vector<PlannedStatement> drop_schemas;
  std::string trigger_views;  // the views complete changes (their INSERT triggers), comma-separated
  std::vector<PlannedStatement> drop_insert_triggers;   // complete: the views become auto-updatable again
  std::vector<PlannedStatement> drop_insert_functions;  // abort: the schema's CASCADE took the triggers
  for (const std::string& schema : schemas) {
    std::string name = quote_ident(version_schema(schema, version));
    plan.version_schemas.push_back(version_schema(schema, version));
    prelude.push_back({"CREATE SCHEMA " + name});
    drop_schemas.push_back({"DROP SCHEMA IF EXISTS " + name + " CASCADE"});
    for (const auto& [key, view] : shape.tables) {
      if (view.table.schema != schema || view.dropped || view.columns.empty()) continue;
      std::string select;
      for (const auto& [view_column, physical] : view.columns) {
        select += (select.empty() ? "" : ", ") + quote_ident(physical) + " AS " + quote_ident(view_column);
      }
      std::string qualified = name + "." + quote_ident(view.view_name);
      phases.expand.push_back({"CREATE VIEW " + qualified + " AS SELECT " + select + " FROM " + view.table.quoted()});
      bool refuses_null = false;
      bool keeps_null = false;
      for (const auto& column : view.columns) {
        refuses_null = refuses_null || view.refuse_null.count(column.second) > 0;
        keeps_null = keeps_null || view.keep_null.count(column.second) > 0;
      }
      if (!refuses_null && !keeps_null) continue;
      trigger_views += (trigger_views.empty() ? "" : ", ") + qualified;
      // Inserts through a trigger that refuses NULL in a NOT NULL column the sync trigger would fill,
      // and marks the row for it where a nullable one must keep an explicit NULL.
      // Its view's columns take the table's defaults, since the trigger's INSERT names every column.
      std::string function = insert_function_name(view.table, version);
      std::string trigger = quote_ident(insert_trigger_name(version));
      std::string body =
          "CREATE FUNCTION " + function + "() RETURNS trigger LANGUAGE plpgsql AS $migrator_insert$\nBEGIN\n";
      std::string physical_columns, values, returning;
      for (const auto& [view_column, physical] : view.columns) {
        auto found = view.defaults.find(physical);
        if (found != view.defaults.end()) {
          phases.expand.push_back({"ALTER VIEW " + qualified + " ALTER COLUMN " + quote_ident(view_column) +
                                   " SET DEFAULT " + found->second});
          drop_insert_triggers.push_back(
              {"ALTER VIEW IF EXISTS " + qualified + " ALTER COLUMN " + quote_ident(view_column) + " DROP DEFAULT"});
        }
        if (view.refuse_null.count(physical) > 0) {
          body += "  " + refuse_null("NEW." + quote_ident(view_column), view_column, view.view_name) + "\n";
        }
        returning += (returning.empty() ? "" : ", ") + quote_ident(physical) + " AS " + quote_ident(view_column);
        if (view.generated.count(physical) > 0) {  // computed by the table, refused as PostgreSQL does
          body += "  IF NEW." + quote_ident(view_column) +
                  " IS NOT NULL THEN RAISE EXCEPTION USING ERRCODE = 'generated_always', MESSAGE = " +
                  quote_literal("cannot insert a non-DEFAULT value into column \"" + view_column + "\"") +
                  ", DETAIL = " + quote_literal("Column \"" + view_column + "\" is a generated column.") +
                  "; END IF;\n";
          continue;
        }
        std::string separator = physical_columns.empty() ? "" : ", ";
        physical_columns += separator + quote_ident(physical);
        values += separator + "NEW." + quote_ident(view_column);
      }
      // The mark is transaction-local and reset at once; an error inside rolls it back with the
      // statement's subtransaction or transaction.
      std::string mark = keeps_null ? "  PERFORM set_config('migrator.view_insert', 'on', true);\n" : "";
      std::string unmark = keeps_null ? "  PERFORM set_config('migrator.view_insert', 'off', true);\n" : "";
      body += mark + "  INSERT INTO " + view.table.quoted() + " (" + physical_columns + ")" +
              (view.overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "") + " VALUES (" + values +
              ")\n    RETURNING " + returning + " INTO NEW;\n" + unmark + "  RETURN NEW;\nEND\n$migrator_insert$";
      prelude.push_back({body});
      phases.expand.push_back({"CREATE TRIGGER " + trigger + " INSTEAD OF INSERT ON " + qualified +
                               " FOR EACH ROW EXECUTE FUNCTION " + function + "()"});
      drop_insert_triggers.push_back({"DROP TRIGGER IF EXISTS " + trigger + " ON " + qualified});
      drop_insert_triggers.push_back({"DROP FUNCTION IF EXISTS " + function + "()"});
      drop_insert_functions.push_back({"DROP FUNCTION IF EXISTS " + function + "()"});
    }
  }

  // Each name a concurrent step gives (checked against the catalog above) must still be free once
  // the transaction's DDL has run: a `sql` operation may make a relation of that name, and a build
  // that then failed on it (42P07) would leave the migration expanding with an index that is not
  // its own, which abort's DROP INDEX would take for its own.
  std::vector<PlannedStatement> name_checks;
  for (const PlannedStatement& s : phases.expand) {
    if (s.creates.table.empty()) continue;
    PlannedStatement check("DO $migrator$ BEGIN IF to_regclass(" + quote_literal(s.creates.quoted()) +
                           ") IS NOT NULL THEN RAISE EXCEPTION USING ERRCODE = 'duplicate_table', MESSAGE = " +
                           quote_literal(s.creates.key() + " already exists once the operations before it have run") +
                           ", HINT = 'Choose another name, or make the sql operation give another.'; END IF; END "
                           "$migrator$");
    check.source = s.source;  // the operation that gives the name
    name_checks.push_back(check);
  }

  phases.expand.insert(phases.expand.begin(), prelude.begin(), prelude.end());
  phases.expand.insert(phases.expand.end(), conversion_checks.begin(), conversion_checks.end());
  phases.expand.insert(phases.expand.end(), name_checks.begin(), name_checks.end());

  // Complete: no trigger may outlive the columns it names. The views it changes are locked first,
  // each before its table, in the order a client's statement through a view takes them (LOCK on a
  // view locks the tables under it next): a contract that held a table while it waited for a view
  // would deadlock with a client that held the view while it waited for the table.
  std::vector<PlannedStatement> contract;
  if (!trigger_views.empty()) contract.push_back({"LOCK TABLE " + trigger_views + " IN ACCESS EXCLUSIVE MODE"});
  contract.insert(contract.end(), drop_triggers.begin(), drop_triggers.end());
  contract.insert(contract.end(), drop_insert_triggers.begin(), drop_insert_triggers.end());
  for (const auto& operation : migration.operations) {
    size_t drops_before = phases.drops.size();
    size_t complete_before = phases.complete.size();
    operation->complete(catalog, phases);
    std::string at = operation->kind() + " at " + migration.where(*operation);
    for (size_t i = drops_before; i < phases.drops.size(); ++i) phases.drops[i].where = at;
    for (size_t i = complete_before; i < phases.complete.size(); ++i) {
      if (phases.complete[i].source.empty()) phases.complete[i].source = at;
    }
  }
  contract.insert(contract.end(), phases.complete.begin(), phases.complete.end());
  phases.complete = contract;

  // Abort: index drops (concurrent) first, then the views, the triggers, each operation undone in
  // reverse order.
  std::vector<PlannedStatement> undo;
  for (auto it = migration.operations.rbegin(); it != migration.operations.rend(); ++it) {
    Phases one;
    (*it)->rollback(catalog, one);
    for (PlannedStatement& s : one.abort) {
      if (s.source.empty()) s.source = (*it)->kind() + " at " + migration.where(**it);
    }
    undo.insert(undo.end(), one.abort.begin(), one.abort.end());
  }
  std::vector<PlannedStatement> abort;
  for (const PlannedStatement& s : undo) {
    if (s.concurrent) abort.push_back(s);
  }
  abort.insert(abort.end(), drop_schemas.begin(), drop_schemas.end());
  abort.insert(abort.end(), drop_insert_functions.begin(), drop_insert_functions.end());
  abort.insert(abort.end(), drop_triggers.begin(), drop_triggers.end());
  for (const PlannedStatement& s : undo) {
    if (!s.concurrent) abort.push_back(s);
  }
  phases.abort = abort;
  return plan;
}

}  // namespace migrator::expand
