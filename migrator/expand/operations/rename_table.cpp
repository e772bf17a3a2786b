// rename_table: the new version's view carries the new name; complete renames the table (in its
// schema: `to` is a bare name).
#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class RenameTable : public Operation {
 public:
  RenameTable(int line, TableName from, std::string to)
      : Operation("rename_table", line), from_(std::move(from)), to_(std::move(to)) {}

  std::vector<TableName> tables() const override { return {from_, TableName{from_.schema, to_}}; }
  void validate(const Catalog& catalog, const std::string& where) const override {
    require_table(catalog, from_, where, kind());
    require_free_name(catalog, TableName{from_.schema, to_}, where, kind());
  }
  void start(const Catalog&, Phases&, Shape& shape) const override {
    if (ViewShape* view = shape.find(from_)) view->view_name = to_;
  }
  void complete(const Catalog&, Phases& phases) const override {
    phases.complete.push_back({"ALTER TABLE " + from_.quoted() + " RENAME TO " + quote_ident(to_)});
  }
  void rollback(const Catalog&, Phases&) const override {}

 private:
  TableName from_;
  std::string to_;
};

}  // namespace

std::unique_ptr<Operation> parse_rename_table(const Fields& fields, int line) {
  std::string to = fields.text("to");
  if (to.find('.') != std::string::npos) {
    invalid_at(fields.path(), fields.node()["to"], "rename_table.to expects a bare name (the table keeps its schema)");
  }
  return std::make_unique<RenameTable>(line, fields.table("from"), to);
}

}  // namespace migrator::expand
