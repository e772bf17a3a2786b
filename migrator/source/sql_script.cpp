#include "migrator/source/sql_script.h"

#include <pg_query.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <unordered_map>

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

namespace {

using nlohmann::json;

// Whether a list of DefElem options holds `name`, and its value as text (empty without one).
bool has_option(const json& options, const std::string& name, std::string* value = nullptr) {
  if (!options.is_array()) return false;
  for (const json& item : options) {
    const json& def = item.value("DefElem", json::object());
    if (def.value("defname", "") != name) continue;
    if (value != nullptr) {
      const json& arg = def.value("arg", json::object());
      if (arg.contains("String")) *value = arg["String"].value("sval", "");
      if (arg.contains("Integer")) *value = std::to_string(arg["Integer"].value("ival", 0));
      if (arg.contains("Boolean")) *value = arg["Boolean"].value("boolval", false) ? "true" : "false";
      // A bare word such as `off` parses as a type name.
      const json& names = arg.value("TypeName", json::object()).value("names", json::array());
      if (names.is_array() && !names.empty()) *value = names.back().value("String", json::object()).value("sval", "");
    }
    return true;
  }
  return false;
}

// An option set to false as PostgreSQL's defGetBoolean reads it (false, off, no, 0, ...).
bool option_is_false(const json& options, const std::string& name) {
  std::string value;
  if (!has_option(options, name, &value)) return false;
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value == "false" || value == "off" || value == "no" || value == "0" || value == "f" || value == "n" ||
         value == "of";
}

// The command as PostgreSQL names it when it refuses it inside a transaction block
// (PreventInTransactionBlock in the PostgreSQL 15 sources), or "" if it may run in one. ALTER TYPE ...
// ADD VALUE is allowed in a transaction since PostgreSQL 12; plain ANALYZE and CLUSTER of one table too.
std::string refused_in_transaction(const std::string& node, const json& body) {
  if (node == "IndexStmt" && body.value("concurrent", false)) return "CREATE INDEX CONCURRENTLY";
  if (node == "DropStmt" && body.value("concurrent", false)) return "DROP INDEX CONCURRENTLY";
  if (node == "ReindexStmt") {
    if (has_option(body.value("params", json::array()), "concurrently")) return "REINDEX CONCURRENTLY";
    std::string kind = body.value("kind", "");
    if (kind == "REINDEX_OBJECT_SCHEMA") return "REINDEX SCHEMA";
    if (kind == "REINDEX_OBJECT_SYSTEM") return "REINDEX SYSTEM";
    if (kind == "REINDEX_OBJECT_DATABASE") return "REINDEX DATABASE";
  }
  if (node == "VacuumStmt" && body.value("is_vacuumcmd", false)) return "VACUUM";
  if (node == "ClusterStmt" && !body.contains("relation")) return "CLUSTER";
  if (node == "AlterSystemStmt") return "ALTER SYSTEM";
  if (node == "CreatedbStmt") return "CREATE DATABASE";
  if (node == "DropdbStmt") return "DROP DATABASE";
  if (node == "AlterDatabaseStmt" && has_option(body.value("options", json::array()), "tablespace")) {
    return "ALTER DATABASE SET TABLESPACE";
  }
  if (node == "CreateTableSpaceStmt") return "CREATE TABLESPACE";
  if (node == "DropTableSpaceStmt") return "DROP TABLESPACE";
  if (node == "DiscardStmt" && body.value("target", "") == "DISCARD_ALL") return "DISCARD ALL";
  if (node == "CreateSubscriptionStmt") {
    const json& options = body.value("options", json::array());
    if (!option_is_false(options, "create_slot") && !option_is_false(options, "connect")) {
      return "CREATE SUBSCRIPTION ... WITH (create_slot = true)";
    }
  }
  // Refused only when the subscription has a replication slot, which the script does not show:
  // counted as refused, so it runs outside a transaction (where it always works).
  if (node == "DropSubscriptionStmt") return "DROP SUBSCRIPTION";
  if (node == "AlterSubscriptionStmt") {
    std::string kind = body.value("kind", "");
    if (kind == "ALTER_SUBSCRIPTION_REFRESH") return "ALTER SUBSCRIPTION ... REFRESH";
    bool publication = kind == "ALTER_SUBSCRIPTION_SET_PUBLICATION" || kind == "ALTER_SUBSCRIPTION_ADD_PUBLICATION" ||
                       kind == "ALTER_SUBSCRIPTION_DROP_PUBLICATION";
    if (publication && !option_is_false(body.value("options", json::array()), "refresh")) {
      return "ALTER SUBSCRIPTION with refresh";
    }
  }
  if (node == "AlterTableStmt") {
    for (const json& item : body.value("cmds", json::array())) {
      const json& cmd = item.value("AlterTableCmd", json::object());
      if (cmd.value("subtype", "") == "AT_DetachPartition" &&
          cmd.value("def", json::object()).value("PartitionCmd", json::object()).value("concurrent", false)) {
        return "ALTER TABLE ... DETACH PARTITION CONCURRENTLY";
      }
    }
  }
  return "";
}

// The statement's first line, for messages: "CREATE INDEX CONCURRENTLY users_email ON users (email)".
std::string first_line(const Statement& statement) {
  return statement.text.substr(0, statement.text.find_first_of(";\n"));
}

}  // namespace

namespace {

// Parses `script` once: statement boundaries from the parse's raw statements (stmt_location and
// stmt_len, as pg_query_split_with_parser gives them), and each statement's tree.
std::unique_ptr<ParsedScript> parse_uncached(const std::string& script, const std::string& path) {
  PgQueryParseResult parsed = pg_query_parse(script.c_str());
  if (parsed.error != nullptr) {
    std::string message = parsed.error->message != nullptr ? parsed.error->message : "syntax error";
    int cursor = parsed.error->cursorpos;  // 1-based character position, 0 if unknown
    pg_query_free_parse_result(parsed);
    std::string where = path;
    if (cursor > 0) where += ":" + std::to_string(line_at(script, utf8_byte_offset(script, cursor - 1)));
    throw Error(ExitCode::kMigrationFailed, where + ": " + message);
  }
  auto tree = std::make_shared<nlohmann::json>(
      parsed.parse_tree != nullptr ? nlohmann::json::parse(parsed.parse_tree, nullptr, /*allow_exceptions=*/false)
                                   : nlohmann::json());
  pg_query_free_parse_result(parsed);
  auto stmts = std::make_shared<nlohmann::json>(nlohmann::json::array());
  if (tree->is_object() && tree->contains("stmts") && (*tree)["stmts"].is_array()) *stmts = std::move((*tree)["stmts"]);
  auto result = std::make_unique<ParsedScript>();
  for (const nlohmann::json& raw : *stmts) {
    size_t location = raw.value("stmt_location", size_t{0});
    size_t length = raw.value("stmt_len", size_t{0});
    size_t end = length == 0 ? script.size() : std::min(script.size(), location + length);
    size_t start = skip_blank_and_comments(script, location, /*nested_block_comments=*/true);
    if (start >= end) continue;
    Statement statement;
    statement.text = script.substr(start, end - start);
    statement.line = line_at(script, start);
    auto found = raw.find("stmt");
    if (found != raw.end() && found->is_object() && !found->empty()) {
      const nlohmann::json& stmt = *found;
      statement.tree = &stmt;
      statement.node = stmt.begin().key();
      const nlohmann::json& body = stmt.begin().value();
      if (statement.node == "TransactionStmt") {
        std::string kind = body.value("kind", "");
        statement.transaction_kind = kind;
        statement.chained = body.value("chain", false);
        statement.transaction_control =
            kind != "TRANS_STMT_SAVEPOINT" && kind != "TRANS_STMT_RELEASE" && kind != "TRANS_STMT_ROLLBACK_TO";
      }
      statement.refused_in_transaction = refused_in_transaction(statement.node, body);
      if (statement.refused_in_transaction == "CREATE INDEX CONCURRENTLY") {
        statement.concurrent_index = body.value("idxname", "");
        statement.concurrent_index_schema = body.value("relation", nlohmann::json::object()).value("schemaname", "");
      }
    }
    result->statements.push_back(std::move(statement));
  }
  result->stmts = std::move(stmts);
  return result;
}

}  // namespace

const ParsedScript& parse_postgres_script(const std::string& script, const std::string& path) {
  static std::mutex mutex;
  // Never destroyed: the entries live as long as the process, and freeing every parse tree at exit
  // would cost a run of many migrations about a fifth of what parsing them did.
  static auto& cache = *new std::unordered_map<std::string, std::unique_ptr<ParsedScript>>;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = cache.find(script);
    if (found != cache.end()) return *found->second;
  }
  std::unique_ptr<ParsedScript> parsed = parse_uncached(script, path);  // outside the lock: it may throw
  std::lock_guard<std::mutex> lock(mutex);
  auto entry = cache.emplace(script, std::move(parsed)).first;
  return *entry->second;  // another thread's equal entry if it came first
}

std::vector<Statement> split_postgres_script(const std::string& script, const std::string& path) {
  return parse_postgres_script(script, path).statements;
}

ScriptPlan plan_postgres_script(const std::string& script, const std::string& path, bool no_transaction) {
  ScriptPlan plan;
  plan.statements = parse_postgres_script(script, path).statements;
  auto refuse = [&](const Statement& statement, const std::string& why) {
    throw Error(ExitCode::kInvalidMigrations,
                path + ":" + std::to_string(statement.line) + ": '" + first_line(statement) + "' " + why);
  };
  if (!no_transaction) {
    const Statement* first_refused = nullptr;
    bool all_refused = !plan.statements.empty();
    for (const Statement& statement : plan.statements) {
      if (statement.transaction_control) {
        refuse(statement,
               "controls the transaction, but each migration already runs in one that the migrator commits or "
               "rolls back together with its record; remove the statement (or declare '-- migrator: "
               "no-transaction' in up.sql's header to run the script's own transactions as written)");
      }
      if (!statement.refused_in_transaction.empty() && first_refused == nullptr) first_refused = &statement;
      all_refused = all_refused && !statement.refused_in_transaction.empty();
    }
    if (all_refused) {
      plan.outside_transaction = true;
    } else if (first_refused != nullptr) {
      refuse(*first_refused, "cannot run inside a transaction block (" + first_refused->refused_in_transaction +
                                 "), but the other statements of this migration run in one; move it to a "
                                 "migration of its own, or declare '-- migrator: no-transaction' in up.sql's "
                                 "header to run every statement on its own, outside a transaction");
    }
    return plan;
  }
  plan.outside_transaction = true;
  plan.declared = true;
  const Statement* open_block = nullptr;  // the script's own BEGIN, while its block is open
  for (const Statement& statement : plan.statements) {
    const std::string& kind = statement.transaction_kind;
    if (kind == "TRANS_STMT_PREPARE" || kind == "TRANS_STMT_COMMIT_PREPARED" ||
        kind == "TRANS_STMT_ROLLBACK_PREPARED") {
      refuse(statement, "is a two-phase commit command, which a migration cannot use; remove it");
    }
    if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") {
      if (open_block != nullptr) {
        refuse(statement, "begins a transaction inside the one begun at line " + std::to_string(open_block->line) +
                              "; end that one first (COMMIT)");
      }
      open_block = &statement;
    } else if (kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK") {
      if (open_block == nullptr) refuse(statement, "ends a transaction, but none was begun (BEGIN) before it");
      if (!statement.chained) open_block = nullptr;
    } else if (!statement.refused_in_transaction.empty() && open_block != nullptr) {
      refuse(statement, "cannot run inside a transaction block (" + statement.refused_in_transaction +
                            "), but the script's BEGIN at line " + std::to_string(open_block->line) +
                            " is still open; COMMIT before it");
    }
  }
  if (open_block != nullptr) {
    refuse(*open_block,
           "begins a transaction that the script never ends; add COMMIT (or ROLLBACK) after its last "
           "statement");
  }
  return plan;
}

}  // namespace migrator
