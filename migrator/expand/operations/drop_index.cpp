// drop_index: the old version may still use the index, so it goes at complete, concurrently.
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class DropIndex : public Operation {
 public:
  DropIndex(int line, TableName index) : Operation("drop_index", line), index_(std::move(index)) {}

  std::vector<TableName> tables() const override { return {}; }
  void validate(const Catalog&, const std::string&) const override {}
  void start(const Catalog&, Phases&, Shape&) const override {}
  void complete(const Catalog&, Phases& phases) const override {
    phases.complete.push_back({"DROP INDEX CONCURRENTLY " + index_.quoted(), true});
    phases.drops.push_back({index_, "", ""});
  }
  void rollback(const Catalog&, Phases&) const override {}

 private:
  TableName index_;  // schema.name of the index
};

}  // namespace

std::unique_ptr<Operation> parse_drop_index(const Fields& fields, int line) {
  return std::make_unique<DropIndex>(line, fields.table("name"));
}

}  // namespace migrator::expand
