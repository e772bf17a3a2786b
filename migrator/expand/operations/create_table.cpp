// create_table: a new table, at once in the old version's schema (no old code reads it) and in
// the new version's views. Abort drops it.
#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class CreateTable : public Operation {
 public:
  CreateTable(int line, TableName table, std::vector<ColumnSpec> columns)
      : Operation("create_table", line), table_(std::move(table)), columns_(std::move(columns)) {}

  std::vector<TableName> tables() const override { return {table_}; }

  void validate(const Catalog& catalog, const std::string& where) const override {
    require_free_name(catalog, table_, where, kind());
  }

  void declare(Catalog& catalog) const override {
    CatalogTable table;
    table.name = table_;
    for (const ColumnSpec& spec : columns_) {
      table.columns.push_back(
          {spec.name, spec.type, spec.not_null || spec.primary_key, spec.default_expr, spec.primary_key});
    }
    catalog.tables[table_.key()] = table;
  }

  void start(const Catalog&, Phases& phases, Shape& shape) const override {
    std::string sql = "CREATE TABLE " + table_.quoted() + " (";
    ViewShape view{table_, table_.table, false, {}, {}, {}};
    for (size_t i = 0; i < columns_.size(); ++i) {
      const ColumnSpec& c = columns_[i];
      sql += (i == 0 ? "" : ", ") + quote_ident(c.name) + " " + c.type;
      if (c.not_null) sql += " NOT NULL";
      if (!c.default_expr.empty()) sql += " DEFAULT " + c.default_expr;
      if (c.primary_key) sql += " PRIMARY KEY";
      if (c.unique) sql += " UNIQUE";
      if (!c.check.empty()) sql += " CHECK (" + c.check + ")";
      if (!c.references.empty()) sql += " REFERENCES " + c.references;
      view.columns.emplace_back(c.name, c.name);
    }
    phases.expand.push_back({sql + ")"});
    shape.tables[table_.key()] = view;
  }

  void complete(const Catalog&, Phases&) const override {}

  void rollback(const Catalog&, Phases& phases) const override {
    phases.abort.push_back({"DROP TABLE IF EXISTS " + table_.quoted()});
  }

 private:
  TableName table_;
  std::vector<ColumnSpec> columns_;
};

}  // namespace

std::unique_ptr<Operation> parse_create_table(const Fields& fields, int line) {
  YAML::Node list = fields.child("columns");
  if (!list.IsSequence() || list.size() == 0) {
    invalid_at(fields.path(), list, "create_table.columns expects a non-empty list of columns");
  }
  std::vector<ColumnSpec> columns;
  for (const auto& item : list) {
    Fields column(fields.path(), item, "create_table column",
                  {"name", "type", "not_null", "default", "unique", "check", "references", "primary_key"});
    columns.push_back(parse_column_spec(column));
    for (size_t i = 0; i + 1 < columns.size(); ++i) {
      if (columns[i].name == columns.back().name) {
        invalid_at(fields.path(), item, "create_table: column " + columns.back().name + " is defined twice");
      }
    }
  }
  return std::make_unique<CreateTable>(line, fields.table("table"), std::move(columns));
}

}  // namespace migrator::expand
