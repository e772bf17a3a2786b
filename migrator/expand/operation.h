// One expand–contract operation of a declarative migration (migration.yaml), with the four verbs of
// its life: validate (against the catalog before anything runs), start (the expand phase: additive
// DDL, the columns the sync triggers keep in step, the backfill, and the new shape the version
// schema's views show), complete (the contract phase) and rollback (abort, before complete). The
// planner (plan.h) sequences operations and knows none of their details.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace migrator::expand {

// A table as a migration names it: "orders" (schema public) or "sales.orders".
struct TableName {
  std::string schema = "public";
  std::string table;
  std::string key() const { return schema + "." + table; }  // unquoted, for messages and maps
  std::string quoted() const;                               // "schema"."table"
};

// The SQL of one identifier, double-quoted: "a""b".
std::string quote_ident(const std::string& name);
// The SQL of one text literal, single-quoted: 'it''s'.
std::string quote_literal(const std::string& text);
// The physical column that holds a changed column's new value during the window.
std::string new_column_name(const std::string& column);

// What the database holds before the migration (read from PostgreSQL, or written by a test).
struct CatalogColumn {
  std::string name;
  std::string type;  // format_type(), e.g. "text", "numeric(10,2)"
  bool not_null = false;
  std::string default_expr;            // pg_get_expr of the default; empty if none
  bool primary_key = false;            // part of the primary key
  bool identity_always = false;        // GENERATED ALWAYS AS IDENTITY
  std::string identity_sequence = {};  // the sequence of an identity column (qualified); empty if none
  bool generated = false;              // GENERATED ALWAYS AS (...) STORED: never written
};
struct CatalogTable {
  TableName name;
  std::vector<CatalogColumn> columns;  // in attnum order
  bool partitioned = false;            // its partitions: Catalog::partitions
  const CatalogColumn* column(const std::string& name) const;
};
// A partition of a partitioned table; `partitioned`: it is partitioned itself.
struct CatalogPartition {
  TableName name;
  bool partitioned = false;
};
struct Catalog {
  std::map<std::string, CatalogTable> tables;  // by TableName::key()
  // The direct partitions of each partitioned table (and partition), by its key.
  std::map<std::string, std::vector<CatalogPartition>> partitions;
  // Every other relation (index, view, sequence, ...) by "schema.name": what it is. Relations of a
  // schema share one namespace, so an index may not take a view's name either.
  std::map<std::string, std::string> relations;
  const CatalogTable* table(const TableName& name) const;
};

// One statement of a phase. `concurrent`: runs outside a transaction block (CREATE/DROP INDEX
// CONCURRENTLY); if it fails, `cleanup` (if any) runs so that no invalid index stays behind.
struct PlannedStatement {
  PlannedStatement(std::string sql, bool concurrent = false, std::string cleanup = "")
      : sql(std::move(sql)), concurrent(concurrent), cleanup(std::move(cleanup)) {}
  std::string sql;
  bool concurrent = false;
  std::string cleanup;
  // What of the migration file it comes from, for errors: "<kind> at <file>:<line>" of its
  // operation, or what it checks ("`up` of the operation at <file>:<line>").
  std::string source;
  // A concurrent step that makes a relation: its name (free when expand was planned, but a `sql`
  // operation before it, or another session, may take it). Expand records each index it built, so
  // that `up` and abort never take one of that name made by someone else for the migration's own.
  TableName creates;
  // An abort step that drops an index expand built: it drops only the index expand recorded.
  TableName built_index;
};

// The abort step that drops `index`, an index expand built: concurrently unless it is a
// partitioned index (which PostgreSQL drops in a transaction only).
PlannedStatement drop_built_index(const TableName& index, bool partitioned = false);

// A column the sync trigger of its table keeps in step during the window. `old_column` empty: a
// column added by the migration (filled by `up` from the old row when a write leaves it NULL; with
// no `up`, a NOT NULL column with a default, where the trigger only refuses NULL).
// `new_column` empty: a column dropped by the migration (filled by `down` from the row when a write
// through the new schema leaves it NULL).
struct SyncColumn {
  TableName table;
  std::string old_column;
  std::string new_column;
  std::string view_name;  // the column's name in the new version's view
  std::string up;         // SQL over the old row, naming old columns
  std::string down;       // SQL over the new value, naming the column by `view_name`
  // NOT NULL in the new shape: a write through the new version that sets it to NULL is refused
  // (SQLSTATE 23502), never filled by `up`.
  bool not_null = false;
  std::string where{};  // "<file>:<line>" of the operation (set by the planner)
};

// Rows the backfill must write after expand (see backfill.h's BackfillJob).
struct PlannedBackfill {
  TableName table;
  std::string assignments;
  std::string pending;
};

// The view the new version's schema holds for one table: view column name -> physical column.
struct ViewShape {
  TableName table;        // physical table
  std::string view_name;  // the table's name in the new version
  bool dropped = false;   // dropped by the migration: no view
  std::vector<std::pair<std::string, std::string>> columns;
  // By physical column: its default in the new shape (SQL), for a view that takes its inserts
  // through a trigger (where the table's own defaults do not apply to the columns it names).
  std::map<std::string, std::string> defaults;
  // Physical columns NOT NULL in the new shape that the sync trigger would fill from the old
  // columns when a write leaves them NULL: an INSERT through the view cannot be told from an
  // old-version INSERT there, so the view takes its inserts through a trigger that refuses NULL.
  std::set<std::string> refuse_null;
  // Physical columns nullable in the new shape that the sync trigger would fill from the old ones
  // when a write leaves them NULL: an explicit NULL the new version inserts must stay NULL, so the
  // view takes its inserts through a trigger that marks them (migrator.view_insert) for the sync
  // trigger, which then only converts new to old.
  std::set<std::string> keep_null = {};
  // Physical columns an INSERT must not name (stored generated columns), and whether it must say
  // OVERRIDING SYSTEM VALUE (an identity column GENERATED ALWAYS, whose value the view's default
  // draws from the column's sequence).
  std::set<std::string> generated = {};
  bool overriding_system_value = false;
};
struct Shape {
  std::map<std::string, ViewShape> tables;  // by the physical TableName::key()
  ViewShape* find(const TableName& table);
};

// A relation, or a column of one (`column` set), that complete drops: what depends on it there
// (a view, another table's foreign key) would make complete fail, so complete refuses first.
struct CompleteDrop {
  TableName relation;
  std::string column;
  std::string where;  // "<kind> at <file>:<line>" of the operation
};

struct Phases {
  std::vector<PlannedStatement> expand;
  std::vector<PlannedStatement> complete;
  std::vector<PlannedStatement> abort;  // in the order they run
  std::vector<SyncColumn> sync;
  std::vector<PlannedBackfill> backfill;
  std::vector<CompleteDrop> drops;
};

class Operation {
 public:
  Operation(std::string kind, int line) : kind_(std::move(kind)), line_(line) {}
  virtual ~Operation() = default;
  const std::string& kind() const { return kind_; }
  int line() const { return line_; }  // of the operation in migration.yaml, from 1

  // Tables the operation changes (for the one-migration-in-flight-per-table rule).
  virtual std::vector<TableName> tables() const = 0;
  // Columns the operation changes, "schema.table.column" (one operation per column per migration).
  virtual std::vector<std::string> columns() const { return {}; }
  // Whether the operation indexes the column "schema.table.column" (in an index's columns or its
  // WHERE): no later operation of the migration may change it (create_index builds on the physical
  // column as the operations before it left it).
  virtual bool indexes(const std::string& column) const {
    (void)column;
    return false;
  }
  // Throws Error(kInvalidMigrations) "<where>: ..." if the catalog does not allow the operation.
  virtual void validate(const Catalog& catalog, const std::string& where) const = 0;
  // Adds what the operation creates to `catalog`, for the operations after it (create_table).
  virtual void declare(Catalog& catalog) const { (void)catalog; }
  // Appends its expand statements, sync columns and backfill to `phases`; reshapes the new version.
  virtual void start(const Catalog& catalog, Phases& phases, Shape& shape) const = 0;
  // Appends the statements of its contract phase (after the sync triggers are gone).
  virtual void complete(const Catalog& catalog, Phases& phases) const = 0;
  // Appends the statements that undo start(); each must be safe when start() stopped part-way.
  virtual void rollback(const Catalog& catalog, Phases& phases) const = 0;

 private:
  std::string kind_;
  int line_;
};

}  // namespace migrator::expand
