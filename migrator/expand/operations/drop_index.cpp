// drop_index: the old version may still use the index, so it goes at complete, concurrently.
#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class DropIndex : public Operation {
 public:
  DropIndex(int line, TableName index) : Operation("drop_index", line), index_(std::move(index)) {}

  std::vector<TableName> tables() const override { return {}; }
  // The index must be there and be one that DROP INDEX can drop (not a constraint's).
  void validate(const Catalog& catalog, const std::string& where) const override {
    auto found = catalog.relations.find(index_.key());
    std::string what = catalog.table(index_) != nullptr   ? "a table"
                       : found == catalog.relations.end() ? ""
                                                          : found->second;
    if (what == "an index") return;
    if (what.empty()) {
      throw Error(ExitCode::kInvalidMigrations,
                  where + ": drop_index names index " + index_.key() + ", which does not exist");
    }
    if (what == "a partitioned index") {
      throw Error(ExitCode::kInvalidMigrations,
                  where + ": drop_index cannot drop " + index_.key() +
                      ": it is a partitioned index, which DROP INDEX CONCURRENTLY cannot drop; drop it in a plain "
                      "migration");
    }
    if (what.rfind("the index of constraint ", 0) == 0) {
      throw Error(ExitCode::kInvalidMigrations,
                  where + ": drop_index cannot drop " + index_.key() + ": it is " + what +
                      "; drop the constraint instead (a `sql` operation: ALTER TABLE ... DROP CONSTRAINT)");
    }
    throw Error(ExitCode::kInvalidMigrations,
                where + ": drop_index names " + index_.key() + ", which is " + what + ", not an index");
  }
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
