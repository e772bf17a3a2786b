// drop_table: the new version's schema has no view of the table; complete drops it.
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class DropTable : public Operation {
 public:
  DropTable(int line, TableName table) : Operation("drop_table", line), table_(std::move(table)) {}

  std::vector<TableName> tables() const override { return {table_}; }
  void validate(const Catalog& catalog, const std::string& where) const override {
    require_table(catalog, table_, where, kind());
  }
  void start(const Catalog&, Phases&, Shape& shape) const override {
    if (ViewShape* view = shape.find(table_)) view->dropped = true;
  }
  void complete(const Catalog&, Phases& phases) const override {
    phases.complete.push_back({"DROP TABLE " + table_.quoted()});
    phases.drops.push_back({table_, "", ""});
  }
  void rollback(const Catalog&, Phases&) const override {}

 private:
  TableName table_;
};

}  // namespace

std::unique_ptr<Operation> parse_drop_table(const Fields& fields, int line) {
  return std::make_unique<DropTable>(line, fields.table("table"));
}

}  // namespace migrator::expand
