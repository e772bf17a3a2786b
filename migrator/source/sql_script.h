// SQL scripts as sequences of statements with line numbers, so errors can name file and line.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace migrator {

// Line (1-based) of byte `offset` in `text`: one plus the number of '\n' before it. Offsets past
// the end count the whole text.
int line_at(std::string_view text, size_t offset);

// First byte at or after `offset` that is neither whitespace nor inside a comment ("-- ..." to end
// of line, or "/* ... */", which nests in PostgreSQL when `nested_block_comments`). Returns
// text.size() if only whitespace and comments follow.
size_t skip_blank_and_comments(std::string_view text, size_t offset, bool nested_block_comments);

// Byte offset of the `chars`-th character (0-based) of UTF-8 `text`; text.size() if beyond.
size_t utf8_byte_offset(std::string_view text, size_t chars);

struct Statement {
  std::string text;  // starts at the statement's first token (leading blanks and comments dropped)
  int line = 1;      // line of that first token in the script
  // PostgreSQL only: the parse tree's top node ("CreateStmt", "IndexStmt", "TransactionStmt", ...).
  std::string node;
  // PostgreSQL only: a statement that begins or ends a transaction (BEGIN, START TRANSACTION, COMMIT,
  // END, ROLLBACK, ABORT, PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED); savepoints are not.
  bool transaction_control = false;
  // PostgreSQL only: the parse tree's TransactionStmt kind ("TRANS_STMT_BEGIN", ...), empty for others;
  // `chained` for COMMIT/ROLLBACK AND CHAIN, which start the next transaction block at once.
  std::string transaction_kind;
  bool chained = false;
  // PostgreSQL only: the command PostgreSQL refuses inside a transaction block, as its error names it
  // ("CREATE INDEX CONCURRENTLY", "VACUUM", ...); empty for a statement that may run in one.
  std::string refused_in_transaction;
  // PostgreSQL only, for CREATE INDEX CONCURRENTLY: the index it builds, which stays behind INVALID if
  // the build fails; the schema is empty unless the statement names it.
  std::string concurrent_index_schema;
  std::string concurrent_index;
  // PostgreSQL only: the statement's parse tree as libpg_query gives it ({"CreateStmt": {...}}),
  // owned by the script's entry in the parse cache (see parse_postgres_script), which lives as long
  // as the process; null if unknown.
  const nlohmann::json* tree = nullptr;
};

// A PostgreSQL script parsed once: its statements (see split_postgres_script) and libpg_query's
// list of raw statements, read into JSON once ([{"stmt": {...}, "stmt_location": ..., "stmt_len":
// ...}, ...]; a zero location or length is left out, as libpg_query leaves it out).
struct ParsedScript {
  std::vector<Statement> statements;
  std::shared_ptr<const nlohmann::json> stmts;
};

// Parses `script` with libpg_query the first time this process sees its text, and returns the same
// entry for the same text afterwards: the check before a run, the linter, the backup's scan for
// destructive statements and the run itself share one parse. Entries live as long as the process.
// Thread-safe. Throws like split_postgres_script (errors are not cached; they name `path`).
const ParsedScript& parse_postgres_script(const std::string& script, const std::string& path);

// Splits a PostgreSQL script into statements with libpg_query's parser (so semicolons inside
// strings, dollar quotes and function bodies are handled), each with its parse tree's top node.
// Nothing touches a database. The statements of parse_postgres_script(), copied.
// Throws Error(kMigrationFailed) "<path>:<line>: syntax error ..." if the script does not parse.
std::vector<Statement> split_postgres_script(const std::string& script, const std::string& path);

// How a PostgreSQL migration script runs.
struct ScriptPlan {
  std::vector<Statement> statements;
  // Statement by statement, each in autocommit (or in the script's own BEGIN ... COMMIT): declared
  // with `-- migrator: no-transaction`, or implied because every statement is one PostgreSQL refuses
  // in a transaction block. Otherwise the whole script runs in one transaction with its record.
  bool outside_transaction = false;
  bool declared = false;  // outside_transaction because of the header option
};

// Splits `script` (see split_postgres_script) and decides how it runs. Throws
// Error(kInvalidMigrations) "<path>:<line>: ..." naming the first offending statement and the fix:
// - without `no_transaction`: a statement that ends or begins a transaction (BEGIN, COMMIT, ...), or a
//   statement refused in a transaction block mixed with statements that are not;
// - with it: PREPARE TRANSACTION or COMMIT/ROLLBACK PREPARED, a BEGIN inside the script's own
//   transaction block or a COMMIT/ROLLBACK outside one, a block left open at the end, or a statement
//   refused in a transaction block inside the script's own block.
ScriptPlan plan_postgres_script(const std::string& script, const std::string& path, bool no_transaction);

}  // namespace migrator
