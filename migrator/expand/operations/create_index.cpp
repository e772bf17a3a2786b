// create_index: always CREATE INDEX CONCURRENTLY (outside a transaction, no write lock); a failed
// build is dropped at once so no invalid index stays behind. Abort drops it, complete keeps it.
#include <algorithm>
#include <cctype>
#include <set>

#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class CreateIndex : public Operation {
 public:
  CreateIndex(int line, std::string name, TableName table, std::vector<std::string> columns, bool unique,
              std::string method, std::string where)
      : Operation("create_index", line),
        name_(std::move(name)),
        table_(std::move(table)),
        columns_(std::move(columns)),
        unique_(unique),
        method_(std::move(method)),
        where_(std::move(where)) {}

  std::vector<TableName> tables() const override { return {table_}; }

  void validate(const Catalog& catalog, const std::string& where) const override {
    const CatalogTable& table = require_table(catalog, table_, where, kind());
    for (const std::string& column : columns_) require_column(table, column, where, kind());
    require_not_partitioned(table, "its index", where, kind());
    require_free_name(catalog, index_name(), where, kind());
  }

  void declare(Catalog& catalog) const override { catalog.relations[index_name().key()] = "an index"; }

  bool indexes(const std::string& column) const override {
    std::string prefix = table_.key() + ".";
    if (column.rfind(prefix, 0) != 0) return false;
    std::string name = column.substr(prefix.size());
    if (std::find(columns_.begin(), columns_.end(), name) != columns_.end()) return true;
    // The predicate names it where renaming it would change the text (an identifier, not a string).
    return rename_identifier(where_, name, name + "_") != where_;
  }

  // A column that an alter_column before it moved to a new physical column is indexed there (and
  // so, under its own name again, after complete); the same for the names in `where`.
  void start(const Catalog&, Phases& phases, Shape& shape) const override {
    std::set<std::string> moved;
    if (const ViewShape* view = shape.find(table_)) {
      for (const auto& [name, physical] : view->columns) {
        if (physical == new_column_name(name)) moved.insert(name);
      }
    }
    std::string columns;
    for (const std::string& column : columns_) {
      columns += (columns.empty() ? "" : ", ") + quote_ident(moved.count(column) ? new_column_name(column) : column);
    }
    std::string predicate = where_;
    for (const std::string& name : moved) predicate = rename_identifier(predicate, name, new_column_name(name));
    std::string sql = std::string("CREATE ") + (unique_ ? "UNIQUE " : "") + "INDEX CONCURRENTLY " + quote_ident(name_) +
                      " ON " + table_.quoted() + (method_.empty() ? "" : " USING " + method_) + " (" + columns + ")" +
                      (predicate.empty() ? "" : " WHERE " + predicate);
    PlannedStatement build(sql, true, drop());
    build.creates = index_name();
    phases.expand.push_back(build);
  }

  void complete(const Catalog&, Phases&) const override {}

  void rollback(const Catalog&, Phases& phases) const override { phases.abort.push_back({drop(), true}); }

 private:
  TableName index_name() const { return {table_.schema, name_}; }

  std::string drop() const {
    return "DROP INDEX CONCURRENTLY IF EXISTS " + quote_ident(table_.schema) + "." + quote_ident(name_);
  }

  std::string name_;
  TableName table_;
  std::vector<std::string> columns_;
  bool unique_;
  std::string method_;
  std::string where_;
};

}  // namespace

std::unique_ptr<Operation> parse_create_index(const Fields& fields, int line) {
  std::string method = fields.optional_text("method").value_or("");
  for (char c : method) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      invalid_at(fields.path(), fields.node()["method"],
                 "create_index.method expects an index method name (btree, gin, ...)");
    }
  }
  return std::make_unique<CreateIndex>(line, fields.text("name"), fields.table("table"), fields.text_list("columns"),
                                       fields.optional_bool("unique").value_or(false), method,
                                       fields.optional_text("where").value_or(""));
}

}  // namespace migrator::expand
