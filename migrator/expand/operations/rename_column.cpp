// rename_column: the new version's view shows the column under its new name; complete renames it.
// No data moves, so no trigger and no backfill.
#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class RenameColumn : public Operation {
 public:
  RenameColumn(int line, TableName table, std::string from, std::string to)
      : Operation("rename_column", line), table_(std::move(table)), from_(std::move(from)), to_(std::move(to)) {}

  std::vector<TableName> tables() const override { return {table_}; }
  std::vector<std::string> columns() const override { return {table_.key() + "." + from_, table_.key() + "." + to_}; }

  void validate(const Catalog& catalog, const std::string& where) const override {
    const CatalogTable& table = require_table(catalog, table_, where, kind());
    require_column(table, from_, where, kind());
    if (table.column(to_) != nullptr) {
      throw Error(ExitCode::kInvalidMigrations,
                  where + ": rename_column: " + table_.key() + " already has a column " + to_);
    }
  }

  void start(const Catalog&, Phases&, Shape& shape) const override {
    if (ViewShape* view = shape.find(table_)) {
      for (auto& column : view->columns) {
        if (column.second == from_) column.first = to_;
      }
    }
  }

  void complete(const Catalog&, Phases& phases) const override {
    phases.complete.push_back(
        {alter_table(table_) + "RENAME COLUMN " + quote_ident(from_) + " TO " + quote_ident(to_)});
  }

  void rollback(const Catalog&, Phases&) const override {}

 private:
  TableName table_;
  std::string from_;
  std::string to_;
};

}  // namespace

std::unique_ptr<Operation> parse_rename_column(const Fields& fields, int line) {
  return std::make_unique<RenameColumn>(line, fields.table("table"), fields.text("from"), fields.text("to"));
}

}  // namespace migrator::expand
