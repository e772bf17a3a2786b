// alter_column: a type change (with `up`/`down` conversions), SET or DROP NOT NULL, a check, a
// unique constraint or a foreign key, on a new physical column _migrator_new_<column> that the
// new version's view shows under the column's name. The sync trigger keeps both columns in step
// (up: old -> new, down: new -> old), the backfill converts the old rows, and complete drops the
// old column, renames the new one into place and validates its constraints.
#include "migrator/error.h"
#include "migrator/expand/operations/operations.h"

namespace migrator::expand {
namespace {

struct Constraint {
  std::string name;
  std::string definition;  // check: the expression; references: "table(column)"
  std::string on_delete;
};

class AlterColumn : public Operation {
 public:
  AlterColumn(int line, TableName table, std::string column)
      : Operation("alter_column", line), table_(std::move(table)), column_(std::move(column)) {}

  std::string type, up, down;
  std::string default_expr;  // `default`: the column's default from now on
  std::optional<bool> not_null;
  std::optional<Constraint> check, unique, references;

  std::vector<TableName> tables() const override { return {table_}; }
  std::vector<std::string> columns() const override { return {table_.key() + "." + column_}; }

  void validate(const Catalog& catalog, const std::string& where) const override {
    const CatalogColumn& column = require_column(require_table(catalog, table_, where, kind()), column_, where, kind());
    if (column.primary_key) {
      throw Error(ExitCode::kInvalidMigrations, where + ": alter_column cannot change " + table_.key() + "." + column_ +
                                                    ": it is in the primary key");
    }
    if (unique) {
      require_not_partitioned(*catalog.table(table_), "a unique index", where, kind());
      require_free_name(catalog, unique_index(), where, kind());
    }
  }

  void declare(Catalog& catalog) const override {
    if (unique) catalog.relations[unique_index().key()] = "an index";
  }

  void start(const Catalog& catalog, Phases& phases, Shape& shape) const override {
    const CatalogColumn& old = *catalog.table(table_)->column(column_);
    std::string physical = quote_ident(new_column_name(column_));
    phases.expand.push_back({alter_table(table_) + "ADD COLUMN " + physical + " " + (type.empty() ? old.type : type)});
    if (keeps_not_null(old)) {
      phases.expand.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(not_null_name()) + " CHECK (" +
                               physical + " IS NOT NULL) NOT VALID"});
    }
    if (check) {
      phases.expand.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(check->name) + " CHECK (" +
                               rename_identifier(check->definition, column_, new_column_name(column_)) +
                               ") NOT VALID"});
    }
    if (references) {
      std::string on_delete = references->on_delete.empty() ? "" : " ON DELETE " + references->on_delete;
      phases.expand.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(references->name) +
                               " FOREIGN KEY (" + physical + ") REFERENCES " + references->definition + on_delete +
                               " NOT VALID"});
    }
    if (unique) {
      PlannedStatement build("CREATE UNIQUE INDEX CONCURRENTLY " + quote_ident(unique->name) + " ON " +
                                 table_.quoted() + " (" + physical + ")",
                             true, drop_unique_index());
      build.creates = unique_index();
      phases.expand.push_back(build);
    }
    std::string up_expr = up.empty() ? quote_ident(column_) : up;
    std::string down_expr = down.empty() ? quote_ident(column_) : down;
    phases.sync.push_back(
        {table_, column_, new_column_name(column_), column_, up_expr, down_expr, keeps_not_null(old)});
    phases.backfill.push_back({table_, physical + " = (" + up_expr + ")", physical + " IS NULL"});
    if (ViewShape* view = shape.find(table_)) {
      for (auto& column : view->columns) {
        if (column.second == column_) column.second = new_column_name(column_);
      }
      // The new version's default during the window; complete sets it on the table.
      if (!new_default(old).empty()) view->defaults[new_column_name(column_)] = new_default(old);
      if (keeps_not_null(old)) {
        view->refuse_null.insert(new_column_name(column_));
      } else {
        view->keep_null.insert(new_column_name(column_));
      }
    }
  }

  void complete(const Catalog& catalog, Phases& phases) const override {
    const CatalogColumn& old = *catalog.table(table_)->column(column_);
    std::string physical = quote_ident(new_column_name(column_));
    std::string name = quote_ident(column_);
    phases.complete.push_back({alter_table(table_) + "DROP COLUMN " + name});
    phases.drops.push_back({table_, column_, ""});
    phases.complete.push_back({alter_table(table_) + "RENAME COLUMN " + physical + " TO " + name});
    if (!new_default(old).empty()) {
      phases.complete.push_back({alter_table(table_) + "ALTER COLUMN " + name + " SET DEFAULT " + new_default(old)});
    }
    if (keeps_not_null(old)) {
      phases.complete.push_back({alter_table(table_) + "VALIDATE CONSTRAINT " + quote_ident(not_null_name())});
      // SET NOT NULL uses the validated check instead of scanning the table (PostgreSQL 12+).
      phases.complete.push_back({alter_table(table_) + "ALTER COLUMN " + name + " SET NOT NULL"});
      phases.complete.push_back({alter_table(table_) + "DROP CONSTRAINT " + quote_ident(not_null_name())});
    }
    if (check) phases.complete.push_back({alter_table(table_) + "VALIDATE CONSTRAINT " + quote_ident(check->name)});
    if (references) {
      phases.complete.push_back({alter_table(table_) + "VALIDATE CONSTRAINT " + quote_ident(references->name)});
    }
    if (unique) {
      phases.complete.push_back({alter_table(table_) + "ADD CONSTRAINT " + quote_ident(unique->name) +
                                 " UNIQUE USING INDEX " + quote_ident(unique->name)});
    }
  }

  void rollback(const Catalog&, Phases& phases) const override {
    if (unique) phases.abort.push_back(drop_built_index(unique_index()));
    phases.abort.push_back({alter_table(table_) + "DROP COLUMN IF EXISTS " + quote_ident(new_column_name(column_))});
  }

 private:
  bool keeps_not_null(const CatalogColumn& old) const { return not_null.value_or(old.not_null); }
  // `default`, else the old column's where the type stays (an old default may not fit a new type).
  std::string new_default(const CatalogColumn& old) const {
    if (!default_expr.empty()) return default_expr;
    return type.empty() ? old.default_expr : "";
  }
  std::string not_null_name() const { return "_migrator_nn_" + column_; }
  TableName unique_index() const { return {table_.schema, unique->name}; }
  std::string drop_unique_index() const {
    return "DROP INDEX CONCURRENTLY IF EXISTS " + quote_ident(table_.schema) + "." + quote_ident(unique->name);
  }

  TableName table_;
  std::string column_;
};

}  // namespace

std::unique_ptr<Operation> parse_alter_column(const Fields& fields, int line) {
  TableName table = fields.table("table");
  std::string column = fields.text("column");
  auto op = std::make_unique<AlterColumn>(line, table, column);
  op->type = fields.optional_text("type").value_or("");
  op->up = fields.optional_text("up").value_or("");
  op->down = fields.optional_text("down").value_or("");
  op->not_null = fields.optional_bool("not_null");
  op->default_expr = fields.optional_text("default").value_or("");
  std::string prefix = table.table + "_" + column;
  if (fields.has("check")) {
    Fields check(fields.path(), fields.child("check"), "alter_column.check", {"name", "constraint"});
    op->check = Constraint{check.optional_text("name").value_or(prefix + "_check"), check.text("constraint"), ""};
  }
  if (fields.has("unique")) {
    Fields unique(fields.path(), fields.child("unique"), "alter_column.unique", {"name"});
    op->unique = Constraint{unique.optional_text("name").value_or(prefix + "_key"), "", ""};
  }
  if (fields.has("references")) {
    Fields references(fields.path(), fields.child("references"), "alter_column.references",
                      {"name", "table", "column", "on_delete"});
    std::string on_delete = references.optional_text("on_delete").value_or("");
    const char* actions[] = {"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"};
    bool known = on_delete.empty();
    for (const char* action : actions) known = known || on_delete == action;
    if (!known) {
      invalid_at(fields.path(), references.node()["on_delete"],
                 "alter_column.references.on_delete expects NO ACTION, RESTRICT, CASCADE, SET NULL or SET DEFAULT");
    }
    op->references =
        Constraint{references.optional_text("name").value_or(prefix + "_fkey"),
                   references.table("table").quoted() + " (" + quote_ident(references.text("column")) + ")", on_delete};
  }
  if (!op->type.empty() && (op->up.empty() || op->down.empty())) {
    invalid_at(fields.path(), fields.node()["type"],
               "alter_column: a type change needs `up` (old value -> new type) and `down` (new value -> old type)");
  }
  if (op->type.empty() && !op->not_null && !op->check && !op->unique && !op->references) {
    if (!op->default_expr.empty()) {
      invalid_at(fields.path(), fields.node()["default"],
                 "alter_column: a new default alone needs no new column (both versions may have it at once); use a "
                 "`sql` operation: ALTER TABLE ... ALTER COLUMN ... SET DEFAULT");
    }
    invalid_at(fields.path(), fields.node(),
               "alter_column changes nothing; give type (with up and down), not_null, check, unique or references "
               "(rename_column renames)");
  }
  return op;
}

}  // namespace migrator::expand
