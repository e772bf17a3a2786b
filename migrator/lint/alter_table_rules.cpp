// Rules for CREATE TABLE (which only records the new table's shape) and ALTER TABLE: columns,
// constraints, type changes, persistence.
#include "migrator/lint/context.h"

namespace migrator::lint {
namespace {

bool is_serial(const std::string& type) {
  return type == "serial" || type == "bigserial" || type == "smallserial" || type == "serial2" || type == "serial4" ||
         type == "serial8";
}

const char* kNotValidHint =
    "add it with NOT VALID (a brief lock, no scan), then VALIDATE CONSTRAINT in a later migration (reads and "
    "writes continue while it scans)";

void add_column(const TableRef& table, const json& column, StatementScope& scope) {
  std::string name = column.value("colname", "");
  std::optional<ColumnType> type = type_from_tree(column.value("typeName", json::object()));
  std::string where = table.display() + "." + name;
  if (type && is_serial(type->name)) {
    scope.report("add-serial-column", table, Excuse::kNew,
                 "adding " + type->name + " column " + where + " rewrites the table under an ACCESS EXCLUSIVE lock",
                 "add a plain bigint column with no default, attach a sequence default for new rows, backfill existing "
                 "rows in batches, then add the NOT NULL through a validated CHECK");
  }
  for (const json& item : column.value("constraints", json::array())) {
    if (!item.contains("Constraint")) continue;
    const json& constraint = item["Constraint"];
    std::string type_name = constraint.value("contype", "");
    if (type_name == "CONSTR_IDENTITY") {
      scope.report("add-serial-column", table, Excuse::kNew,
                   "adding identity column " + where + " rewrites the table under an ACCESS EXCLUSIVE lock",
                   "add a plain bigint column with a sequence default for new rows and backfill existing rows in "
                   "batches; or make the table anew and copy it");
    } else if (type_name == "CONSTR_GENERATED") {
      scope.report("add-stored-generated-column", table, Excuse::kNew,
                   "adding stored generated column " + where + " rewrites the table under an ACCESS EXCLUSIVE lock",
                   "add a plain nullable column, fill it with a trigger for new rows and a batched backfill, or "
                   "compute the value in a view or the query");
    } else if (type_name == "CONSTR_DEFAULT") {
      std::string volatile_call;
      walk(constraint.value("raw_expr", json::object()), [&](const std::string& node, const json& body) {
        if (node != "FuncCall" || !volatile_call.empty()) return;
        std::string function = last_name(body.value("funcname", json::array()));
        if (scope.volatile_function(function)) volatile_call = function + "()";
      });
      if (!volatile_call.empty()) {
        scope.report("add-column-volatile-default", table, Excuse::kNew,
                     "adding " + where + " with the volatile default " + volatile_call +
                         " rewrites the table under an ACCESS EXCLUSIVE lock (only non-volatile defaults are instant)",
                     "add the column without a default, SET DEFAULT for new rows, then backfill existing rows in "
                     "batches");
      }
    } else if (type_name == "CONSTR_FOREIGN" || type_name == "CONSTR_CHECK") {
      scope.report("constraint-without-not-valid", table, Excuse::kNewOrSmall,
                   std::string(type_name == "CONSTR_FOREIGN" ? "foreign key" : "CHECK constraint") + " on new column " +
                       where + " is validated at once, scanning " + table.display() + " under its lock",
                   "add the column first, then ADD CONSTRAINT ... NOT VALID and VALIDATE CONSTRAINT in a later "
                   "migration");
    } else if (type_name == "CONSTR_PRIMARY" || type_name == "CONSTR_UNIQUE") {
      bool primary = type_name == "CONSTR_PRIMARY";
      scope.report(primary ? "add-primary-key-without-index" : "add-unique-without-index", table, Excuse::kNewOrSmall,
                   std::string(primary ? "PRIMARY KEY" : "UNIQUE") + " on new column " + where +
                       " builds its index while the table is locked",
                   "add the column, CREATE UNIQUE INDEX CONCURRENTLY in a migration of its own, then ADD CONSTRAINT "
                   "... USING INDEX");
    }
  }
  if (type) scope.known(table).columns[name] = *type;
}

void add_constraint(const TableRef& table, const json& constraint, StatementScope& scope) {
  std::string type = constraint.value("contype", "");
  std::string name = constraint.value("conname", "");
  std::string label = name.empty() ? "" : " " + name;
  if (type == "CONSTR_FOREIGN" || type == "CONSTR_CHECK") {
    std::optional<std::string> not_null =
        type == "CONSTR_CHECK" ? not_null_check_column(constraint.value("raw_expr", json::object())) : std::nullopt;
    KnownTable& known = scope.known(table);
    if (constraint.value("skip_validation", false)) {
      if (!name.empty()) {
        known.not_valid[name] = not_null.value_or("");
        known.not_valid_this_script.insert(name);
      }
      return;
    }
    scope.report("constraint-without-not-valid", table, Excuse::kNewOrSmall,
                 std::string(type == "CONSTR_FOREIGN" ? "foreign key" : "CHECK constraint") + label + " on " +
                     table.display() + " is validated at once: the whole table is scanned under its lock",
                 kNotValidHint);
    if (not_null) scope.known(table).not_null_checked.insert(*not_null);
  } else if (type == "CONSTR_PRIMARY" || type == "CONSTR_UNIQUE") {
    if (constraint.contains("indexname")) return;  // USING INDEX: the index already exists
    bool primary = type == "CONSTR_PRIMARY";
    scope.report(primary ? "add-primary-key-without-index" : "add-unique-without-index", table, Excuse::kNewOrSmall,
                 std::string(primary ? "PRIMARY KEY" : "UNIQUE constraint") + label + " on " + table.display() +
                     " builds its index under an ACCESS EXCLUSIVE lock",
                 "CREATE UNIQUE INDEX CONCURRENTLY in a migration of its own, then ADD CONSTRAINT ... " +
                     std::string(primary ? "PRIMARY KEY" : "UNIQUE") + " USING INDEX");
  } else if (type == "CONSTR_EXCLUSION") {
    scope.report("exclusion-constraint", table, Excuse::kNew,
                 "exclusion constraint" + label + " on " + table.display() +
                     " builds its index under an ACCESS EXCLUSIVE lock, and cannot be built concurrently",
                 "create the table anew with the constraint and copy the rows, or enforce it in the application "
                 "while a plain index is built CONCURRENTLY");
  }
}

void alter_column_type(const TableRef& table, const json& cmd, StatementScope& scope) {
  std::string column = cmd.value("name", "");
  const json& def = cmd.value("def", json::object()).value("ColumnDef", json::object());
  std::optional<ColumnType> to = type_from_tree(def.value("typeName", json::object()));
  std::optional<ColumnType> from = scope.column_type(table, column);
  std::string where = table.display() + "." + column;
  if (def.contains("raw_default")) {
    scope.report("rewriting-type-change", table, Excuse::kNew,
                 "changing the type of " + where +
                     " with USING rewrites the table and its indexes under an ACCESS "
                     "EXCLUSIVE lock",
                 "add a new column of the new type, fill it with a trigger and a batched backfill, switch readers, "
                 "then drop the old one (expand-contract)");
  } else if (!from || !to) {
    scope.report("rewriting-type-change", table, Excuse::kNew,
                 "changing the type of " + where + (to ? " to " + to->display() : "") +
                     ": its current type is unknown (no earlier migration or database says), so assume it rewrites "
                     "the table under an ACCESS EXCLUSIVE lock",
                 "lint with --database-url so the current type is read from the catalog; only widening varchar, "
                 "numeric precision or varchar to text keeps the table");
  } else if (!type_change_keeps_table(*from, *to)) {
    scope.report("rewriting-type-change", table, Excuse::kNew,
                 "changing " + where + " from " + from->display() + " to " + to->display() +
                     " rewrites the table and its indexes under an ACCESS EXCLUSIVE lock",
                 "add a new column of the new type, fill it with a trigger and a batched backfill, switch readers, "
                 "then drop the old one (expand-contract)");
  }
  if (to) scope.known(table).columns[column] = *to;
}

}  // namespace

void lint_create_table(const json& body, StatementScope& scope) {
  TableRef table = table_ref(body.value("relation", json::object()));
  KnownTable& known = scope.known(table);
  known = KnownTable{};
  known.created_in_script = scope.script_index;
  for (const json& element : body.value("tableElts", json::array())) {
    if (element.contains("ColumnDef")) {
      const json& column = element["ColumnDef"];
      std::optional<ColumnType> type = type_from_tree(column.value("typeName", json::object()));
      if (type) known.columns[column.value("colname", "")] = *type;
    } else if (element.contains("Constraint") && element["Constraint"].value("contype", "") == "CONSTR_CHECK") {
      std::optional<std::string> column =
          not_null_check_column(element["Constraint"].value("raw_expr", json::object()));
      if (column) known.not_null_checked.insert(*column);
    }
  }
}

void lint_alter_table(const json& body, StatementScope& scope) {
  if (body.value("objtype", "") != "OBJECT_TABLE") return;
  TableRef table = table_ref(body.value("relation", json::object()));
  for (const json& item : body.value("cmds", json::array())) {
    if (!item.contains("AlterTableCmd")) continue;
    const json& cmd = item["AlterTableCmd"];
    std::string subtype = cmd.value("subtype", "");
    const json& def = cmd.value("def", json::object());
    if (subtype == "AT_AddColumn" && def.contains("ColumnDef")) {
      add_column(table, def["ColumnDef"], scope);
    } else if (subtype == "AT_AddConstraint" && def.contains("Constraint")) {
      add_constraint(table, def["Constraint"], scope);
    } else if (subtype == "AT_ValidateConstraint") {
      std::string name = cmd.value("name", "");
      KnownTable& known = scope.known(table);
      if (known.not_valid_this_script.count(name) != 0 && scope.script.transactional) {
        scope.report("validate-in-same-transaction", table, Excuse::kNewOrSmall,
                     "VALIDATE CONSTRAINT " + name + " runs in the transaction that added it NOT VALID, so the " +
                         "scan happens while that ALTER TABLE's ACCESS EXCLUSIVE lock is still held",
                     "move VALIDATE CONSTRAINT to a later migration: on its own it only takes a SHARE UPDATE "
                     "EXCLUSIVE lock");
      }
      KnownTable& after = scope.known(table);
      auto found = after.not_valid.find(name);
      if (found != after.not_valid.end()) {
        if (!found->second.empty()) after.not_null_checked.insert(found->second);
        after.not_valid.erase(found);
      }
    } else if (subtype == "AT_SetNotNull") {
      std::string column = cmd.value("name", "");
      if (!scope.column_not_null_checked(table, column)) {
        scope.report("set-not-null", table, Excuse::kNewOrSmall,
                     "SET NOT NULL on " + table.display() + "." + column +
                         " scans the whole table under an ACCESS EXCLUSIVE lock",
                     "ADD CONSTRAINT ... CHECK (" + column +
                         " IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a "
                         "later migration, then SET NOT NULL (it uses the validated check and skips the scan)");
      }
    } else if (subtype == "AT_AlterColumnType") {
      alter_column_type(table, cmd, scope);
    } else if (subtype == "AT_SetLogged" || subtype == "AT_SetUnLogged") {
      scope.report("set-logged-unlogged", table, Excuse::kNew,
                   std::string(subtype == "AT_SetLogged" ? "SET LOGGED" : "SET UNLOGGED") + " rewrites " +
                       table.display() + " under an ACCESS EXCLUSIVE lock",
                   "create the table with the persistence it needs and copy the rows in batches, or do it in a "
                   "maintenance window");
    } else if (subtype == "AT_DropColumn") {
      std::string column = cmd.value("name", "");
      scope.report("drop-column", table, Excuse::kNew,
                   "dropping " + table.display() + "." + column +
                       " breaks application code still reading it, and its data is gone",
                   "expand-contract: stop reading and writing the column in a released application version first, "
                   "then drop it in a later migration marked -- migrator:lint-allow drop-column");
      scope.known(table).columns.erase(column);
    }
  }
}

}  // namespace migrator::lint
