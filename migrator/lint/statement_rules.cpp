// Rules for whole statements: drops, renames, TRUNCATE, VACUUM FULL, CLUSTER, LOCK TABLE, and enum
// values used in the transaction that added them.
#include "migrator/lint/context.h"

namespace migrator::lint {
namespace {

TableRef table_from_names(const json& names) {
  std::vector<std::string> parts;
  for (const json& part : names) {
    if (part.contains("String")) parts.push_back(part["String"].value("sval", ""));
  }
  TableRef table;
  if (!parts.empty()) table.name = parts.back();
  if (parts.size() > 1) table.schema = parts[parts.size() - 2];
  return table;
}

void check_enum_values_used(const json& body, StatementScope& scope) {
  if (scope.enum_values_this_script.empty() || !scope.script.transactional) return;
  std::string used;
  walk(body, [&](const std::string& node, const json& constant) {
    if (node != "A_Const" || !used.empty() || !constant.contains("sval")) return;
    std::string value = constant["sval"].value("sval", "");
    if (scope.enum_values_this_script.count(value) != 0) used = value;
  });
  if (used.empty()) return;
  const auto& [type, line] = scope.enum_values_this_script[used];
  scope.report("enum-value-used-in-transaction", std::nullopt, Excuse::kNone,
               "uses '" + used + "', which ALTER TYPE " + type + " ADD VALUE at line " + std::to_string(line) +
                   " adds in the same transaction: PostgreSQL refuses it until that transaction commits",
               "add the enum value in a migration of its own, and use it in a later one");
}

}  // namespace

void lint_statement(const std::string& node, const json& body, StatementScope& scope) {
  if (node != "AlterEnumStmt") check_enum_values_used(body, scope);
  if (node == "AlterEnumStmt") {
    if (body.contains("newVal") && !body.contains("oldVal")) {  // ADD VALUE, not RENAME VALUE
      scope.enum_values_this_script[body.value("newVal", "")] = {
          table_from_names(body.value("typeName", json::array())).display(), scope.line};
    }
  } else if (node == "CreateTableAsStmt") {
    const json& into = body.value("into", json::object());
    if (into.contains("rel")) {
      KnownTable& known = scope.known(table_ref(into["rel"]));
      known = KnownTable{};
      known.created_in_script = scope.script_index;
    }
  } else if (node == "DropStmt" && body.value("removeType", "") == "OBJECT_TABLE") {
    for (const json& object : body.value("objects", json::array())) {
      TableRef table = table_from_names(object.value("List", json::object()).value("items", json::array()));
      scope.report(
          "drop-table", table, Excuse::kNew,
          "dropping table " + table.display() + " breaks application code still using it, and its rows are gone",
          "expand-contract: stop using the table in a released application version first, take a backup, "
          "then drop it in a later migration marked -- migrator:lint-allow drop-table");
      scope.tables.erase(table.key());
    }
  } else if (node == "RenameStmt") {
    std::string type = body.value("renameType", "");
    TableRef table = table_ref(body.value("relation", json::object()));
    std::string new_name = body.value("newname", "");
    if (type == "OBJECT_COLUMN" && body.value("relationType", "") == "OBJECT_TABLE") {
      std::string old_name = body.value("subname", "");
      scope.report("rename-column", table, Excuse::kNew,
                   "renaming " + table.display() + "." + old_name + " to " + new_name +
                       " breaks application code still using the old name",
                   "expand-contract: add the new column, write both and backfill, switch readers, then drop the old "
                   "one; or a view that keeps the old name");
      KnownTable& known = scope.known(table);
      auto column = known.columns.find(old_name);
      if (column != known.columns.end()) {
        known.columns[new_name] = column->second;
        known.columns.erase(old_name);
      }
    } else if (type == "OBJECT_TABLE") {
      scope.report(
          "rename-table", table, Excuse::kNew,
          "renaming table " + table.display() + " to " + new_name + " breaks application code still using the old name",
          "rename it and create a view with the old name in the same migration, then drop the view once "
          "no application version reads it");
      auto known = scope.tables.find(table.key());
      if (known != scope.tables.end()) {
        KnownTable moved = known->second;
        scope.tables.erase(known);
        scope.tables[TableRef{table.schema, new_name}.key()] = std::move(moved);
      }
    }
  } else if (node == "TruncateStmt") {
    for (const json& relation : body.value("relations", json::array())) {
      TableRef table = table_ref(relation.value("RangeVar", json::object()));
      scope.report("truncate", table, Excuse::kNew,
                   "TRUNCATE " + table.display() + " deletes every row under an ACCESS EXCLUSIVE lock",
                   "delete in batches (DELETE ... WHERE id IN (SELECT ... LIMIT n)), or if the data must go, take a "
                   "backup and mark it -- migrator:lint-allow truncate");
    }
  } else if (node == "VacuumStmt") {
    bool full = false;
    for (const json& option : body.value("options", json::array())) {
      full = full || (option.contains("DefElem") && option["DefElem"].value("defname", "") == "full");
    }
    if (!full || !body.value("is_vacuumcmd", false)) return;
    json relations = body.value("rels", json::array());
    if (relations.empty()) relations.push_back(json::object());
    for (const json& relation : relations) {
      const json& range_var = relation.value("VacuumRelation", json::object()).value("relation", json::object());
      std::optional<TableRef> table;
      if (range_var.contains("relname")) table = table_ref(range_var);
      scope.report("vacuum-full", table, Excuse::kNew,
                   "VACUUM FULL " + (table ? table->display() : std::string("(every table)")) +
                       " rewrites it under an ACCESS EXCLUSIVE lock, blocking reads and writes",
                   "plain VACUUM (no lock against reads or writes), or pg_repack to compact a table online");
    }
  } else if (node == "ClusterStmt") {
    std::optional<TableRef> table;
    if (body.contains("relation")) table = table_ref(body["relation"]);
    scope.report("cluster", table, Excuse::kNew,
                 "CLUSTER " + (table ? table->display() : std::string("(every clustered table)")) +
                     " rewrites it under an ACCESS EXCLUSIVE lock, blocking reads and writes",
                 "pg_repack --order-by reorders a table online; or run CLUSTER in a maintenance window");
  } else if (node == "LockStmt") {
    for (const json& relation : body.value("relations", json::array())) {
      TableRef table = table_ref(relation.value("RangeVar", json::object()));
      scope.report("lock-table", table, Excuse::kNew,
                   "LOCK TABLE " + table.display() +
                       " holds its lock until the migration commits, queueing every "
                       "statement behind it",
                   "let each statement take the lock it needs (the migrator's lock_timeout bounds the wait); if the "
                   "lock is really needed, mark it -- migrator:lint-allow lock-table");
    }
  }
}

}  // namespace migrator::lint
