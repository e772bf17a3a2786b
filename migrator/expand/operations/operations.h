// The operations a migration.yaml may list, one file each; parse_<kind> reads the operation's
// mapping (every key checked, "<file>:<line>: ..." errors) and returns it ready to plan.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <optional>
#include <string>

#include "migrator/expand/operation.h"
#include "migrator/expand/yaml_fields.h"

namespace migrator::expand {

std::unique_ptr<Operation> parse_add_column(const Fields& fields, int line);
std::unique_ptr<Operation> parse_drop_column(const Fields& fields, int line);
std::unique_ptr<Operation> parse_rename_column(const Fields& fields, int line);
std::unique_ptr<Operation> parse_alter_column(const Fields& fields, int line);
std::unique_ptr<Operation> parse_create_index(const Fields& fields, int line);
std::unique_ptr<Operation> parse_drop_index(const Fields& fields, int line);
std::unique_ptr<Operation> parse_create_table(const Fields& fields, int line);
std::unique_ptr<Operation> parse_drop_table(const Fields& fields, int line);
std::unique_ptr<Operation> parse_rename_table(const Fields& fields, int line);
std::unique_ptr<Operation> parse_sql(const Fields& fields, int line);

// A column as add_column and create_table define it:
//   {name: status, type: text, not_null: true, default: "'new'", primary_key: false,
//    unique: false, check: "status <> ''", references: "customers(id)"}
struct ColumnSpec {
  std::string name;
  std::string type;
  bool not_null = false;
  bool primary_key = false;
  bool unique = false;
  std::string default_expr;
  std::string check;       // a CHECK expression over the column
  std::string references;  // "table(column)" or "schema.table(column)"
};
ColumnSpec parse_column_spec(const Fields& fields);
// Whether ADD COLUMN ... DEFAULT `expression` may rewrite the table under an ACCESS EXCLUSIVE lock:
// PostgreSQL keeps a non-volatile default in the catalog (a "fast default"), but evaluates a
// volatile one (gen_random_uuid(), clock_timestamp(), nextval()) for every row. Told from the parse
// tree alone, so any function call or subquery counts; only constants, casts and operators do not.
bool default_may_rewrite(const std::string& expression);

// "ALTER TABLE <table> " for statements.
std::string alter_table(const TableName& table);
// Throws "<where>: <kind>: <schema.name> already exists (a table|an index|...)" unless no
// relation of the catalog has the name.
void require_free_name(const Catalog& catalog, const TableName& name, const std::string& where,
                       const std::string& kind);
// Throws "<where>: <kind> cannot build <what> on <table> ..." if the table is partitioned: PostgreSQL
// 15 has no CREATE INDEX CONCURRENTLY for a partitioned table (create_index builds one per partition).
void require_not_partitioned(const CatalogTable& table, const std::string& what, const std::string& where,
                             const std::string& kind);
// `base`, or the first of base1, base2, ... that no relation of `schema` in the catalog has.
std::string free_relation_name(const Catalog& catalog, const std::string& schema, const std::string& base);
// Throws "<where>: <kind> names table <t>, which does not exist" unless the catalog has it.
const CatalogTable& require_table(const Catalog& catalog, const TableName& table, const std::string& where,
                                  const std::string& kind);
// Throws unless the table has the column.
const CatalogColumn& require_column(const CatalogTable& table, const std::string& column, const std::string& where,
                                    const std::string& kind);
// Expression text with every unquoted identifier equal to `from` (outside strings and quoted names)
// replaced by the quoted identifier `to`: a constraint on a column, moved to its new physical column.
std::string rename_identifier(const std::string& expression, const std::string& from, const std::string& to);

}  // namespace migrator::expand
