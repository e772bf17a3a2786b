// sql: raw SQL for what the other operations cannot say: `up` runs in the expand transaction,
// `down` in the abort one. Complete runs nothing. The migrator cannot see what it changes, so the
// new version's views are shaped by the other operations only.
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class RawSql : public Operation {
 public:
  RawSql(int line, std::string up, std::string down)
      : Operation("sql", line), up_(std::move(up)), down_(std::move(down)) {}

  std::vector<TableName> tables() const override { return {}; }
  void validate(const Catalog&, const std::string&) const override {}
  void start(const Catalog&, Phases& phases, Shape&) const override { phases.expand.push_back({up_}); }
  void complete(const Catalog&, Phases&) const override {}
  void rollback(const Catalog&, Phases& phases) const override { phases.abort.push_back({down_}); }

 private:
  std::string up_;
  std::string down_;
};

}  // namespace

std::unique_ptr<Operation> parse_sql(const Fields& fields, int line) {
  return std::make_unique<RawSql>(line, fields.text("up"), fields.text("down"));
}

}  // namespace migrator::expand
