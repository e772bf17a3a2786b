#include "migrator/expand/operation.h"

#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {

std::string quote_ident(const std::string& name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string quote_literal(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') quoted += '\'';
    quoted += c;
  }
  return quoted + "'";
}

std::string new_column_name(const std::string& column) { return "_migrator_new_" + column; }

PlannedStatement drop_built_index(const TableName& index, bool partitioned) {
  PlannedStatement drop(
      std::string("DROP INDEX ") + (partitioned ? "" : "CONCURRENTLY ") + "IF EXISTS " + index.quoted(), true);
  drop.built_index = index;
  return drop;
}

std::string TableName::quoted() const { return quote_ident(schema) + "." + quote_ident(table); }

const CatalogColumn* CatalogTable::column(const std::string& name) const {
  for (const CatalogColumn& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const CatalogTable* Catalog::table(const TableName& name) const {
  auto it = tables.find(name.key());
  return it == tables.end() ? nullptr : &it->second;
}

ViewShape* Shape::find(const TableName& table) {
  auto it = tables.find(table.key());
  return it == tables.end() ? nullptr : &it->second;
}

std::string alter_table(const TableName& table) { return "ALTER TABLE " + table.quoted() + " "; }

void require_free_name(const Catalog& catalog, const TableName& name, const std::string& where,
                       const std::string& kind) {
  std::string what;
  if (catalog.table(name) != nullptr) {
    what = "a table";
  } else if (auto other = catalog.relations.find(name.key()); other != catalog.relations.end()) {
    what = other->second;
  } else {
    return;
  }
  throw Error(ExitCode::kInvalidMigrations,
              where + ": " + kind + ": " + name.key() + " already exists (" + what + "); choose another name");
}

void require_not_partitioned(const CatalogTable& table, const std::string& what, const std::string& where,
                             const std::string& kind) {
  if (!table.partitioned) return;
  throw Error(ExitCode::kInvalidMigrations,
              where + ": " + kind + " cannot build " + what + " on " + table.name.key() +
                  ": it is a partitioned table, and PostgreSQL builds no index on one concurrently; add the column "
                  "without it and build the index with create_index (unique: true), which builds one per partition");
}

std::string free_relation_name(const Catalog& catalog, const std::string& schema, const std::string& base) {
  auto taken = [&](const std::string& name) {
    TableName candidate{schema, name};
    return catalog.table(candidate) != nullptr || catalog.relations.count(candidate.key()) > 0;
  };
  std::string name = base;
  for (int n = 1; taken(name); ++n) name = base + std::to_string(n);
  return name;
}

const CatalogTable& require_table(const Catalog& catalog, const TableName& table, const std::string& where,
                                  const std::string& kind) {
  const CatalogTable* found = catalog.table(table);
  if (found == nullptr) {
    throw Error(ExitCode::kInvalidMigrations,
                where + ": " + kind + " names table " + table.key() + ", which does not exist");
  }
  return *found;
}

const CatalogColumn& require_column(const CatalogTable& table, const std::string& column, const std::string& where,
                                    const std::string& kind) {
  const CatalogColumn* found = table.column(column);
  if (found == nullptr) {
    throw Error(ExitCode::kInvalidMigrations,
                where + ": " + kind + " names column " + column + " of " + table.name.key() + ", which does not exist");
  }
  return *found;
}

}  // namespace migrator::expand
