// drop_column: the new version's view no longer shows the column; complete drops it. A NOT NULL
// column without a default needs `down` (over the new row) to fill it for writes through the new
// version, which cannot set it.
#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class DropColumn : public Operation {
 public:
  DropColumn(int line, TableName table, std::string column, std::string down)
      : Operation("drop_column", line), table_(std::move(table)), column_(std::move(column)), down_(std::move(down)) {}

  std::vector<TableName> tables() const override { return {table_}; }
  std::vector<std::string> columns() const override { return {table_.key() + "." + column_}; }

  void validate(const Catalog& catalog, const std::string& where) const override {
    const CatalogColumn& column = require_column(require_table(catalog, table_, where, kind()), column_, where, kind());
    if (column.primary_key) {
      throw Error(ExitCode::kInvalidMigrations,
                  where + ": drop_column cannot drop " + table_.key() + "." + column_ + ": it is in the primary key");
    }
    if (column.not_null && column.default_expr.empty() && down_.empty()) {
      throw Error(ExitCode::kInvalidMigrations,
                  where + ": drop_column: " + table_.key() + "." + column_ +
                      " is NOT NULL without a default, so writes through the new version would fail; give `down`, "
                      "an expression over the row that fills it");
    }
  }

  void start(const Catalog&, Phases& phases, Shape& shape) const override {
    if (!down_.empty()) phases.sync.push_back({table_, column_, "", column_, "", down_});
    if (ViewShape* view = shape.find(table_)) {
      for (auto it = view->columns.begin(); it != view->columns.end(); ++it) {
        if (it->second == column_) {
          view->columns.erase(it);
          break;
        }
      }
    }
  }

  void complete(const Catalog&, Phases& phases) const override {
    phases.complete.push_back({alter_table(table_) + "DROP COLUMN " + quote_ident(column_)});
    phases.drops.push_back({table_, column_, ""});
  }

  void rollback(const Catalog&, Phases&) const override {}

 private:
  TableName table_;
  std::string column_;
  std::string down_;
};

}  // namespace

std::unique_ptr<Operation> parse_drop_column(const Fields& fields, int line) {
  return std::make_unique<DropColumn>(line, fields.table("table"), fields.text("column"),
                                      fields.optional_text("down").value_or(""));
}

}  // namespace migrator::expand
