// create_index: always CREATE INDEX CONCURRENTLY (outside a transaction, no write lock); a failed
// build is dropped at once so no invalid index stays behind. Abort drops it, complete keeps it.
// On a partitioned table, which PostgreSQL cannot index concurrently, it is built as its manual
// says: CREATE INDEX ... ON ONLY the table (invalid, empty, at once), then for each partition an
// index built concurrently and attached; the table's index is valid once every partition's is.
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
    require_free_name(catalog, index_name(), where, kind());
    // Each partition's index: <partition>_<name>, or the first free with a number after it.
    partition_indexes_.clear();
    Catalog taken = catalog;
    taken.relations[index_name().key()] = "an index";
    std::vector<std::pair<TableName, TableName>> queue = {{table_, index_name()}};
    for (size_t i = 0; i < queue.size(); ++i) {
      auto found = catalog.partitions.find(queue[i].first.key());
      if (found == catalog.partitions.end()) continue;
      for (const CatalogPartition& partition : found->second) {
        std::string base = partition.name.table + "_" + name_;
        if (base.size() > 59) base = base.substr(0, 59);  // room for a number within NAMEDATALEN
        TableName index{partition.name.schema, free_relation_name(taken, partition.name.schema, base)};
        taken.relations[index.key()] = "an index";
        partition_indexes_.push_back({partition.name, index, queue[i].second, partition.partitioned});
        if (partition.partitioned) queue.push_back({partition.name, index});
      }
    }
  }

  void declare(Catalog& catalog) const override {
    catalog.relations[index_name().key()] = "an index";
    for (const PartitionIndex& p : partition_indexes_) catalog.relations[p.index.key()] = "an index";
  }

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
  void start(const Catalog& catalog, Phases& phases, Shape& shape) const override {
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
    std::string definition = (method_.empty() ? "" : " USING " + method_) + " (" + columns + ")" +
                             (predicate.empty() ? "" : " WHERE " + predicate);
    std::string create = std::string("CREATE ") + (unique_ ? "UNIQUE " : "") + "INDEX ";
    const CatalogTable* table = catalog.table(table_);
    if (table == nullptr || !table->partitioned) {
      PlannedStatement build(create + "CONCURRENTLY " + quote_ident(name_) + " ON " + table_.quoted() + definition,
                             true, drop());
      build.creates = index_name();
      phases.expand.push_back(build);
      return;
    }
    // Each step alone, outside expand's transaction; `up` resuming them passes over the indexes expand
    // recorded building, and ATTACH PARTITION of an attached index does nothing.
    PlannedStatement top(create + quote_ident(name_) + " ON ONLY " + table_.quoted() + definition, true);
    top.creates = index_name();
    phases.expand.push_back(top);
    for (const PartitionIndex& p : partition_indexes_) {
      std::string index = quote_ident(p.index.table);
      std::string qualified = quote_ident(p.index.schema) + "." + index;
      if (p.partitioned) {
        PlannedStatement level(create + index + " ON ONLY " + p.partition.quoted() + definition, true);
        level.creates = p.index;
        phases.expand.push_back(level);
      } else {
        PlannedStatement build(create + "CONCURRENTLY " + index + " ON " + p.partition.quoted() + definition, true,
                               "DROP INDEX CONCURRENTLY IF EXISTS " + qualified);
        build.creates = p.index;
        phases.expand.push_back(build);
      }
      phases.expand.push_back({"ALTER INDEX " + p.parent.quoted() + " ATTACH PARTITION " + qualified, true});
    }
  }

  void complete(const Catalog&, Phases&) const override {}

  // On a partitioned table: its index first (DROP INDEX, which takes the attached partitions'
  // indexes with it; PostgreSQL drops no partitioned index concurrently), then any partition's
  // index a stopped expand left unattached.
  void rollback(const Catalog& catalog, Phases& phases) const override {
    const CatalogTable* table = catalog.table(table_);
    if (table == nullptr || !table->partitioned) {
      phases.abort.push_back(drop_built_index(index_name()));
      return;
    }
    phases.abort.push_back(drop_built_index(index_name(), true));
    for (const PartitionIndex& p : partition_indexes_) phases.abort.push_back(drop_built_index(p.index, p.partitioned));
  }

 private:
  TableName index_name() const { return {table_.schema, name_}; }

  std::string drop() const {
    return "DROP INDEX CONCURRENTLY IF EXISTS " + quote_ident(table_.schema) + "." + quote_ident(name_);
  }

  struct PartitionIndex {
    TableName partition;
    TableName index;   // its index: <partition>_<name>
    TableName parent;  // the index it is attached to
    bool partitioned;  // built ON ONLY, with indexes of its own partitions under it
  };
  mutable std::vector<PartitionIndex> partition_indexes_;  // chosen by validate()

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
