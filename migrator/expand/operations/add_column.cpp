// add_column: a new column, hidden from the old version until complete. NOT NULL is a NOT VALID
// check during the window (validated, then turned into SET NOT NULL by complete), and `up` fills
// old rows (the backfill) and rows written through the old version (the sync trigger).
#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

class AddColumn : public Operation {
 public:
  AddColumn(int line, TableName table, ColumnSpec column, std::string up)
      : Operation("add_column", line), table_(std::move(table)), column_(std::move(column)), up_(std::move(up)) {}

  std::vector<TableName> tables() const override { return {table_}; }
  std::vector<std::string> columns() const override { return {table_.key() + "." + column_.name}; }

  void validate(const Catalog& catalog, const std::string& where) const override {
    const CatalogTable& table = require_table(catalog, table_, where, kind());
    if (table.column(column_.name) != nullptr) {
      throw Error(ExitCode::kInvalidMigrations,
                  where + ": add_column: " + table_.key() + " already has a column " + column_.name);
    }
    // As PostgreSQL names a UNIQUE column's index: <table>_<column>_key, else the first free
    // <table>_<column>_key<N>.
    if (column_.unique) {
      require_not_partitioned(table, "a unique index", where, kind());
      unique_name_ = free_relation_name(catalog, table_.schema, table_.table + "_" + column_.name + "_key");
    }
  }

  void declare(Catalog& catalog) const override {
    if (column_.unique) catalog.relations[unique_index().key()] = "an index";
  }

  void start(const Catalog&, Phases& phases, Shape& shape) const override {
    std::string physical = quote_ident(new_column_name(column_.name));
    std::string add = alter_table(table_) + "ADD COLUMN " + physical + " " + column_.type;
    // A default that may be volatile is set after the column is added, for the rows written from
    // then on, and the rows there are filled by the backfill and the sync trigger, as `up` (where
    // none is given) would fill them: given at ADD COLUMN it would rewrite the table.
    const bool set_later = !column_.default_expr.empty() && default_may_rewrite(column_.default_expr);
    const std::string up = up_.empty() && set_later ? column_.default_expr : up_;
    if (!column_.default_expr.empty() && !set_later) add += " DEFAULT " + column_.default_expr;
    phases.expand.push_back({add});
    if (set_later) {
      phases.expand.push_back(
          {alter_table(table_) + "ALTER COLUMN " + physical + " SET DEFAULT " + column_.default_expr});
    }
    if (column_.not_null) {
      phases.expand.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(not_null_name()) + " CHECK (" +
                               physical + " IS NOT NULL) NOT VALID"});
    }
    if (!column_.check.empty()) {
      phases.expand.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(check_name()) + " CHECK (" +
                               rename_identifier(column_.check, column_.name, new_column_name(column_.name)) +
                               ") NOT VALID"});
    }
    if (!column_.references.empty()) {
      phases.expand.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(foreign_key_name()) +
                               " FOREIGN KEY (" + physical + ") REFERENCES " + column_.references + " NOT VALID"});
    }
    if (column_.unique) {
      PlannedStatement build("CREATE UNIQUE INDEX CONCURRENTLY " + quote_ident(unique_name()) + " ON " +
                                 table_.quoted() + " (" + physical + ")",
                             true, drop_unique_index());
      build.creates = unique_index();
      phases.expand.push_back(build);
    }
    if (!up.empty() || column_.not_null) {
      // Without `up` the sync trigger only refuses NULL (23502, as the new version names the
      // column, where the window's NOT VALID check would say 23514): old-version writes get the
      // default, so a NULL is the new version's.
      phases.sync.push_back({table_, "", new_column_name(column_.name), column_.name, up, "", column_.not_null});
    }
    if (!up.empty()) {
      phases.backfill.push_back({table_, physical + " = (" + up + ")", physical + " IS NULL"});
    }
    if (ViewShape* view = shape.find(table_)) {
      view->columns.emplace_back(column_.name, new_column_name(column_.name));
      if (!column_.default_expr.empty()) view->defaults[new_column_name(column_.name)] = column_.default_expr;
      if (!up.empty()) {
        // The sync trigger fills a NULL from `up`: NOT NULL refuses one the new version writes, and
        // a nullable column keeps it.
        if (column_.not_null) {
          view->refuse_null.insert(new_column_name(column_.name));
        } else {
          view->keep_null.insert(new_column_name(column_.name));
        }
      }
    }
  }

  void complete(const Catalog&, Phases& phases) const override {
    std::string physical = quote_ident(new_column_name(column_.name));
    if (column_.not_null) {
      phases.complete.push_back({alter_table(table_) + "VALIDATE CONSTRAINT " + quote_ident(not_null_name())});
      // SET NOT NULL uses the validated check instead of scanning the table (PostgreSQL 12+).
      phases.complete.push_back({alter_table(table_) + "ALTER COLUMN " + physical + " SET NOT NULL"});
      phases.complete.push_back({alter_table(table_) + "DROP CONSTRAINT " + quote_ident(not_null_name())});
    }
    if (!column_.check.empty()) {
      phases.complete.push_back({alter_table(table_) + "VALIDATE CONSTRAINT " + quote_ident(check_name())});
    }
    if (!column_.references.empty()) {
      phases.complete.push_back({alter_table(table_) + "VALIDATE CONSTRAINT " + quote_ident(foreign_key_name())});
    }
    phases.complete.push_back({alter_table(table_) + "RENAME COLUMN " + physical + " TO " + quote_ident(column_.name)});
    if (column_.unique) {
      phases.complete.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(unique_name()) +
                                 " UNIQUE USING INDEX " + quote_ident(unique_name())});
    }
  }

  void rollback(const Catalog&, Phases& phases) const override {
    if (column_.unique) phases.abort.push_back(drop_built_index(unique_index()));
    phases.abort.push_back(
        {alter_table(table_) + "DROP COLUMN IF EXISTS " + quote_ident(new_column_name(column_.name))});
  }

 private:
  std::string not_null_name() const { return "_migrator_nn_" + column_.name; }
  std::string check_name() const { return table_.table + "_" + column_.name + "_check"; }
  std::string foreign_key_name() const { return table_.table + "_" + column_.name + "_fkey"; }
  const std::string& unique_name() const { return unique_name_; }  // chosen by validate()
  TableName unique_index() const { return {table_.schema, unique_name_}; }
  std::string drop_unique_index() const {
    return "DROP INDEX CONCURRENTLY IF EXISTS " + quote_ident(table_.schema) + "." + quote_ident(unique_name());
  }

  TableName table_;
  ColumnSpec column_;
  std::string up_;
  mutable std::string unique_name_;
};

}  // namespace

std::unique_ptr<Operation> parse_add_column(const Fields& fields, int line) {
  TableName table = fields.table("table");
  Fields column_fields(fields.path(), fields.child("column"), "add_column.column",
                       {"name", "type", "not_null", "default", "unique", "check", "references", "primary_key"});
  ColumnSpec column = parse_column_spec(column_fields);
  std::string up = fields.optional_text("up").value_or("");
  if (column.primary_key) {
    invalid_at(fields.path(), column_fields.node()["primary_key"],
               "add_column cannot add a primary key column; create the table with it, or add a unique NOT NULL "
               "column and an index");
  }
  if (column.not_null && column.default_expr.empty() && up.empty()) {
    invalid_at(fields.path(), column_fields.node()["not_null"],
               "add_column: a NOT NULL column needs a default or an `up` expression to fill the rows that exist");
  }
  return std::make_unique<AddColumn>(line, std::move(table), std::move(column), std::move(up));
}

}  // namespace migrator::expand
