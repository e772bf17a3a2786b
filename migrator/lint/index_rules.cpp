// Rules for building, dropping and rebuilding indexes.
#include "migrator/lint/context.h"

namespace migrator::lint {
namespace {

// The table of index `name` (["schema", "index"] or ["index"]): one the scripts created, else the catalog's.
std::optional<TableRef> table_of_index(const json& name_list, StatementScope& scope) {
  TableRef index;
  std::vector<std::string> parts;
  for (const json& part : name_list) {
    if (part.contains("String")) parts.push_back(part["String"].value("sval", ""));
  }
  if (parts.empty()) return std::nullopt;
  index.name = parts.back();
  if (parts.size() > 1) index.schema = parts[parts.size() - 2];
  auto found = scope.indexes.find(index.key());
  if (found != scope.indexes.end()) return found->second;
  if (scope.options.catalog == nullptr) return std::nullopt;
  auto table = scope.options.catalog->index_table(index.schema, index.name);
  if (!table) return std::nullopt;
  return TableRef{table->first, table->second};
}

bool has_option(const json& options, const std::string& name) {
  for (const json& option : options) {
    if (option.contains("DefElem") && option["DefElem"].value("defname", "") == name) return true;
  }
  return false;
}

}  // namespace

void lint_index(const std::string& node, const json& body, StatementScope& scope) {
  if (node == "IndexStmt") {
    TableRef table = table_ref(body.value("relation", json::object()));
    if (body.contains("idxname")) {
      scope.indexes[TableRef{table.schema, body.value("idxname", "")}.key()] = table;
    }
    if (!body.value("concurrent", false)) {
      scope.report("create-index-non-concurrently", table, Excuse::kNewOrSmall,
                   "CREATE INDEX on existing table " + table.display() +
                       " blocks its writes (SHARE lock) until the index is built",
                   "CREATE INDEX CONCURRENTLY, as the only statement of a migration that runs outside a transaction");
    }
  } else if (node == "DropStmt") {
    if (body.value("concurrent", false)) return;
    for (const json& object : body.value("objects", json::array())) {
      const json& names = object.value("List", json::object()).value("items", json::array());
      std::optional<TableRef> table = table_of_index(names, scope);
      scope.report("drop-index-non-concurrently", table, Excuse::kNewOrSmall,
                   "DROP INDEX " + last_name(names) + " takes an ACCESS EXCLUSIVE lock on " +
                       (table ? table->display() : std::string("its table")) + ", blocking reads and writes",
                   "DROP INDEX CONCURRENTLY, as the only statement of a migration that runs outside a transaction");
    }
  } else if (node == "ReindexStmt") {
    if (has_option(body.value("params", json::array()), "concurrently")) return;
    std::string kind = body.value("kind", "");
    std::optional<TableRef> table;
    std::string what = "REINDEX";
    if (kind == "REINDEX_OBJECT_TABLE") {
      table = table_ref(body.value("relation", json::object()));
      what = "REINDEX TABLE " + table->display();
    } else if (kind == "REINDEX_OBJECT_INDEX") {
      const json& relation = body.value("relation", json::object());
      json names = json::array();
      if (relation.contains("schemaname")) names.push_back({{"String", {{"sval", relation["schemaname"]}}}});
      names.push_back({{"String", {{"sval", relation.value("relname", "")}}}});
      table = table_of_index(names, scope);
      what = "REINDEX INDEX " + relation.value("relname", "");
    }
    scope.report("reindex-non-concurrently", table, Excuse::kNewOrSmall,
                 what + " blocks writes to the table while every index is rebuilt",
                 "REINDEX ... CONCURRENTLY, as the only statement of a migration that runs outside a transaction");
  }
}

}  // namespace migrator::lint
