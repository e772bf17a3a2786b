#include "migrator/source/sql_script.h"

#include <pg_query.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "migrator/error.h"

namespace migrator {

int line_at(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

size_t skip_blank_and_comments(std::string_view text, size_t offset, bool nested_block_comments) {
  size_t i = offset;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    } else if (text.compare(i, 2, "--") == 0) {
      size_t newline = text.find('\n', i);
      i = newline == std::string_view::npos ? text.size() : newline + 1;
    } else if (text.compare(i, 2, "/*") == 0) {
      int depth = 1;
      i += 2;
      while (i < text.size() && depth > 0) {
        if (text.compare(i, 2, "*/") == 0) {
          --depth;
          i += 2;
        } else if (nested_block_comments && text.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else {
          ++i;
        }
      }
    } else {
      break;
    }
  }
  return std::min(i, text.size());
}

size_t utf8_byte_offset(std::string_view text, size_t chars) {
  size_t seen = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    bool continuation = (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
    if (continuation) continue;
    if (seen == chars) return i;
    ++seen;
  }
  return text.size();
}

std::vector<Statement> split_postgres_script(const std::string& script, const std::string& path) {
  PgQuerySplitResult result = pg_query_split_with_parser(script.c_str());
  if (result.error != nullptr) {
    std::string message = result.error->message != nullptr ? result.error->message : "syntax error";
    int cursor = result.error->cursorpos;  // 1-based character position, 0 if unknown
    pg_query_free_split_result(result);
    std::string where = path;
    if (cursor > 0) where += ":" + std::to_string(line_at(script, utf8_byte_offset(script, cursor - 1)));
    throw Error(ExitCode::kMigrationFailed, where + ": " + message);
  }
  std::vector<Statement> statements;
  for (int i = 0; i < result.n_stmts; ++i) {
    size_t location = static_cast<size_t>(result.stmts[i]->stmt_location);
    size_t length = static_cast<size_t>(result.stmts[i]->stmt_len);
    size_t end = length == 0 ? script.size() : std::min(script.size(), location + length);
    size_t start = skip_blank_and_comments(script, location, /*nested_block_comments=*/true);
    if (start >= end) continue;
    statements.push_back(Statement{script.substr(start, end - start), line_at(script, start), "", false});
  }
  pg_query_free_split_result(result);

  // The same parser again for the trees: its statement list is the one split from above.
  PgQueryParseResult parsed = pg_query_parse(script.c_str());
  if (parsed.error == nullptr && parsed.parse_tree != nullptr) {
    nlohmann::json tree = nlohmann::json::parse(parsed.parse_tree, nullptr, /*allow_exceptions=*/false);
    const nlohmann::json* stmts = tree.is_object() && tree.contains("stmts") ? &tree["stmts"] : nullptr;
    if (stmts != nullptr && stmts->is_array() && stmts->size() == statements.size()) {
      for (size_t i = 0; i < statements.size(); ++i) {
        const nlohmann::json& stmt = (*stmts)[i].value("stmt", nlohmann::json::object());
        if (!stmt.is_object() || stmt.empty()) continue;
        statements[i].node = stmt.begin().key();
        if (statements[i].node == "TransactionStmt") {
          std::string kind = stmt.begin().value().value("kind", "");
          statements[i].transaction_control =
              kind != "TRANS_STMT_SAVEPOINT" && kind != "TRANS_STMT_RELEASE" && kind != "TRANS_STMT_ROLLBACK_TO";
        }
      }
    }
  }
  pg_query_free_parse_result(parsed);
  return statements;
}

}  // namespace migrator
