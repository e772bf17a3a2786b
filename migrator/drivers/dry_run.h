// Dry runs: what `up`, `down` or `redo` would do, found by doing it inside one transaction that is
// then rolled back. The engine chooses the scripts (see migrator/engine/dry_run_plan.h); a driver
// runs them and fills a DryRunReport, statement by statement.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "migrator/source/source.h"

namespace pqxx {
class transaction_base;
}

namespace migrator {

// One script to run in a dry run: `migration`'s up.sql (action "up") or down.sql (action "down").
struct DryRunScript {
  DryRunScript() = default;
  DryRunScript(const Migration* migration, std::string action, std::string sql = "", std::string path = "")
      : migration(migration), action(std::move(action)), sql(std::move(sql)), path(std::move(path)) {}
  const Migration* migration = nullptr;
  std::string action;
  // A phase of a declarative migration (action "expand", "abort" or "complete"): its statements and
  // the name the report gives their file; the driver runs them instead of up.sql or down.sql. The
  // "abort" phase runs inside a savepoint that is rolled back, so a "complete" after it sees the
  // expanded schema.
  std::string sql;
  std::string path;
  // Scripts known only once the ones before it ran: a declarative migration is planned against the
  // catalog as the pending plain migrations before it leave it. PostgreSQL's dry run calls it, when
  // reached, with its transaction and runs what it returns in its place; nothing else is read from
  // a script that has it.
  std::function<std::vector<DryRunScript>(pqxx::transaction_base&)> later;
};

struct DryRunLock {
  std::string relation;  // schema.name, "schema.name (dropped)" for a relation the statement dropped
  std::string mode;      // pg_locks.mode, e.g. "AccessExclusiveLock"
};

struct DryRunStatement {
  std::string file;  // up.sql or down.sql path
  int line = 1;
  std::string text;  // the statement's first line, shortened
  bool executed = true;
  std::string not_executed_reason;  // why a statement was skipped (executed false)
  std::string command_tag;          // "UPDATE", "CREATE INDEX" (PostgreSQL: from the parse tree; SQLite: its
                                    // leading keywords)
  std::optional<int64_t> rows;      // rows inserted, updated, deleted or returned (DML and queries only)
  double duration_ms = 0;
  std::vector<DryRunLock> locks;       // PostgreSQL: relation locks this statement took that were not held before
  std::vector<std::string> rewritten;  // PostgreSQL: tables whose relfilenode this statement changed
};

struct DryRunMigration {
  std::string label;   // "0002_add_email"
  std::string action;  // "up" or "down"
  std::vector<DryRunStatement> statements;
};

struct DryRunSequence {
  std::string sequence;  // schema.name
  std::string before;    // last_value before the run ("" if never used)
  std::string after;     // last_value after the rollback
};

struct DryRunReport {
  std::string command;   // "up", "down", "redo", "complete" or "abort"
  std::string database;  // "postgresql" or "sqlite"
  std::vector<DryRunMigration> migrations;
  // PostgreSQL: sequences whose nextval() the run called; a rollback does not undo that.
  std::vector<DryRunSequence> sequences_advanced;
  // The statement that failed, "<path>:<line>: ERROR: ..."; empty if every statement ran. The run
  // stops at the failure (the transaction is aborted) and is rolled back like any other.
  std::string error;
  // What the command would leave undone, and why (abort: an index of a name its expand gives that
  // expand did not build is left alone).
  std::vector<std::string> notes;

  // {"command", "dry_run": true, "database", "migrations": [{"migration", "action", "statements":
  //  [{"file", "line", "statement", "executed", "not_executed_reason"?, "command_tag", "rows" (null
  //  if none), "duration_ms", "locks": [{"relation", "mode"}], "rewritten": [...]}]}],
  //  "sequences_advanced": [{"sequence", "before", "after"}], "notes": [...], "error" (null if none)}
  nlohmann::json to_json() const;
  // A table per migration: line, command tag, rows, milliseconds, locks and rewrites.
  void print(std::ostream& out) const;
};

// Why PostgreSQL refuses `statement_sql` (one statement) inside a transaction block, e.g. "CREATE
// INDEX CONCURRENTLY cannot run inside a transaction"; empty if it can run in one (or does not
// parse). Read from libpg_query's parse tree: CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY
// (and of a whole SYSTEM or DATABASE), VACUUM, ALTER SYSTEM, CREATE/DROP DATABASE and TABLESPACE,
// CLUSTER without a table, CREATE/DROP SUBSCRIPTION.
std::string why_not_in_transaction(const std::string& statement_sql);

// The top node of one statement's libpg_query parse tree, e.g. {"IndexStmt": {...}}; an empty object
// if the text is not exactly one statement that parses.
nlohmann::json parse_statement_tree(const std::string& statement_sql);

// The command a statement is, from its parse tree: "UPDATE", "CREATE INDEX", "ALTER TABLE", "DROP
// TABLE", ...; empty if the text is not one statement that parses. (libpqxx 6 does not expose the
// server's command tag.)
std::string command_tag_of(const std::string& statement_sql);

// The statement's first line, at most 60 characters (with "..." when shortened).
std::string statement_preview(const std::string& text);

}  // namespace migrator
