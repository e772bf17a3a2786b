// SQL scripts as sequences of statements with line numbers, so errors can name file and line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

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
};

// Splits a PostgreSQL script into statements with libpg_query's parser (so semicolons inside
// strings, dollar quotes and function bodies are handled), each with its parse tree's top node.
// Nothing touches a database.
// Throws Error(kMigrationFailed) "<path>:<line>: syntax error ..." if the script does not parse.
std::vector<Statement> split_postgres_script(const std::string& script, const std::string& path);

}  // namespace migrator
