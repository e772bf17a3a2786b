#include "migrator/drivers/dry_run.h"

#include <pg_query.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <cstdio>
#include <iomanip>

namespace migrator {

nlohmann::json parse_statement_tree(const std::string& statement_sql) {
  PgQueryParseResult parsed = pg_query_parse(statement_sql.c_str());
  nlohmann::json tree;
  if (parsed.error == nullptr && parsed.parse_tree != nullptr) {
    tree = nlohmann::json::parse(parsed.parse_tree, nullptr, /*allow_exceptions=*/false);
  }
  pg_query_free_parse_result(parsed);
  if (!tree.is_object() || !tree.contains("stmts") || !tree["stmts"].is_array() || tree["stmts"].size() != 1) {
    return nlohmann::json::object();
  }
  nlohmann::json stmt = tree["stmts"][0].value("stmt", nlohmann::json::object());
  return stmt.is_object() ? stmt : nlohmann::json::object();
}

namespace {

// "OBJECT_MATVIEW" -> "MATVIEW", "OBJECT_FOREIGN_TABLE" -> "FOREIGN TABLE".
std::string object_words(const std::string& object_type) {
  std::string words = object_type.rfind("OBJECT_", 0) == 0 ? object_type.substr(7) : object_type;
  std::replace(words.begin(), words.end(), '_', ' ');
  return words;
}

}  // namespace

std::string command_tag_of(const std::string& statement_sql) {
  nlohmann::json stmt = parse_statement_tree(statement_sql);
  if (stmt.empty()) return "";
  const std::string node = stmt.begin().key();
  const nlohmann::json& body = stmt.begin().value();
  auto text = [&](const char* key) { return body.is_object() ? body.value(key, std::string()) : std::string(); };
  static const std::map<std::string, std::string> kTags = {{"InsertStmt", "INSERT"},
                                                           {"UpdateStmt", "UPDATE"},
                                                           {"DeleteStmt", "DELETE"},
                                                           {"SelectStmt", "SELECT"},
                                                           {"MergeStmt", "MERGE"},
                                                           {"CreateStmt", "CREATE TABLE"},
                                                           {"IndexStmt", "CREATE INDEX"},
                                                           {"ViewStmt", "CREATE VIEW"},
                                                           {"CreateSeqStmt", "CREATE SEQUENCE"},
                                                           {"CreateFunctionStmt", "CREATE FUNCTION"},
                                                           {"CreateSchemaStmt", "CREATE SCHEMA"},
                                                           {"CreateTrigStmt", "CREATE TRIGGER"},
                                                           {"CreateEnumStmt", "CREATE TYPE"},
                                                           {"CreateExtensionStmt", "CREATE EXTENSION"},
                                                           {"TruncateStmt", "TRUNCATE"},
                                                           {"CommentStmt", "COMMENT"},
                                                           {"LockStmt", "LOCK TABLE"},
                                                           {"DoStmt", "DO"},
                                                           {"VariableSetStmt", "SET"},
                                                           {"ClusterStmt", "CLUSTER"},
                                                           {"ReindexStmt", "REINDEX"},
                                                           {"AlterSeqStmt", "ALTER SEQUENCE"},
                                                           {"AlterEnumStmt", "ALTER TYPE"},
                                                           {"CallStmt", "CALL"}};
  if (node == "AlterTableStmt") return "ALTER " + object_words(text("objtype"));
  if (node == "DropStmt") return "DROP " + object_words(text("removeType"));
  if (node == "RenameStmt") return "ALTER " + object_words(text("renameType"));
  if (node == "CreateTableAsStmt")
    return text("objtype") == "OBJECT_MATVIEW" ? "CREATE MATERIALIZED VIEW" : "CREATE TABLE AS";
  if (node == "VacuumStmt") return body.value("is_vacuumcmd", false) ? "VACUUM" : "ANALYZE";
  if (node == "GrantStmt") return body.value("is_grant", false) ? "GRANT" : "REVOKE";
  auto known = kTags.find(node);
  if (known != kTags.end()) return known->second;
  // Otherwise the node's name in words: "CreatePolicyStmt" -> "CREATE POLICY".
  std::string name =
      node.size() > 4 && node.compare(node.size() - 4, 4, "Stmt") == 0 ? node.substr(0, node.size() - 4) : node;
  std::string tag;
  for (size_t i = 0; i < name.size(); ++i) {
    if (i > 0 && std::isupper(static_cast<unsigned char>(name[i]))) tag += ' ';
    tag += static_cast<char>(std::toupper(static_cast<unsigned char>(name[i])));
  }
  return tag;
}

std::string why_not_in_transaction(const std::string& statement_sql) {
  nlohmann::json stmt = parse_statement_tree(statement_sql);
  if (stmt.empty()) return "";
  const std::string node = stmt.begin().key();
  const nlohmann::json& body = stmt.begin().value();
  auto flag = [&](const char* key) { return body.is_object() && body.value(key, false); };
  std::string what;
  if (node == "IndexStmt" && flag("concurrent")) {
    what = "CREATE INDEX CONCURRENTLY";
  } else if (node == "DropStmt" && flag("concurrent")) {
    what = "DROP INDEX CONCURRENTLY";
  } else if (node == "ReindexStmt") {
    std::string kind = body.value("kind", "");
    bool concurrently = false;
    for (const nlohmann::json& param : body.value("params", nlohmann::json::array())) {
      concurrently =
          concurrently || param.value("DefElem", nlohmann::json::object()).value("defname", "") == "concurrently";
    }
    if (concurrently) {
      what = "REINDEX CONCURRENTLY";
    } else if (kind == "REINDEX_OBJECT_SYSTEM" || kind == "REINDEX_OBJECT_DATABASE") {
      what = kind == "REINDEX_OBJECT_SYSTEM" ? "REINDEX SYSTEM" : "REINDEX DATABASE";
    }
  } else if (node == "VacuumStmt" && flag("is_vacuumcmd")) {
    what = "VACUUM";
  } else if (node == "AlterSystemStmt") {
    what = "ALTER SYSTEM";
  } else if (node == "CreatedbStmt") {
    what = "CREATE DATABASE";
  } else if (node == "DropdbStmt") {
    what = "DROP DATABASE";
  } else if (node == "CreateTableSpaceStmt") {
    what = "CREATE TABLESPACE";
  } else if (node == "DropTableSpaceStmt") {
    what = "DROP TABLESPACE";
  } else if (node == "ClusterStmt" && !(body.is_object() && body.contains("relation"))) {
    what = "CLUSTER without a table";
  } else if (node == "CreateSubscriptionStmt") {
    what = "CREATE SUBSCRIPTION";
  } else if (node == "DropSubscriptionStmt") {
    what = "DROP SUBSCRIPTION";
  }
  return what.empty() ? what : what + " cannot run inside a transaction";
}

std::string statement_preview(const std::string& text) {
  std::string first = text.substr(0, text.find('\n'));
  while (!first.empty() && (first.back() == ' ' || first.back() == '\r' || first.back() == '\t')) first.pop_back();
  bool shortened = first.size() < text.size() && text.find_first_not_of(" \t\r\n", first.size()) != std::string::npos;
  if (first.size() > 60) {
    first = first.substr(0, 57);
    shortened = true;
  }
  return shortened ? first + "..." : first;
}

nlohmann::json DryRunReport::to_json() const {
  nlohmann::json migrations_json = nlohmann::json::array();
  for (const DryRunMigration& migration : migrations) {
    nlohmann::json statements = nlohmann::json::array();
    for (const DryRunStatement& statement : migration.statements) {
      nlohmann::json locks = nlohmann::json::array();
      for (const DryRunLock& lock : statement.locks)
        locks.push_back({{"relation", lock.relation}, {"mode", lock.mode}});
      nlohmann::json entry = {{"file", statement.file},
                              {"line", statement.line},
                              {"statement", statement.text},
                              {"executed", statement.executed},
                              {"command_tag", statement.command_tag},
                              {"rows", statement.rows ? nlohmann::json(*statement.rows) : nlohmann::json(nullptr)},
                              {"duration_ms", statement.duration_ms},
                              {"locks", locks},
                              {"rewritten", statement.rewritten}};
      if (!statement.executed) entry["not_executed_reason"] = statement.not_executed_reason;
      statements.push_back(std::move(entry));
    }
    migrations_json.push_back(
        {{"migration", migration.label}, {"action", migration.action}, {"statements", std::move(statements)}});
  }
  nlohmann::json sequences = nlohmann::json::array();
  for (const DryRunSequence& sequence : sequences_advanced) {
    sequences.push_back({{"sequence", sequence.sequence}, {"before", sequence.before}, {"after", sequence.after}});
  }
  return {{"command", command},
          {"dry_run", true},
          {"database", database},
          {"migrations", std::move(migrations_json)},
          {"sequences_advanced", std::move(sequences)},
          {"notes", notes},
          {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error)}};
}

void DryRunReport::print(std::ostream& out) const {
  out << "dry run of " << command << ": every statement below ran in one transaction that was rolled back\n";
  if (migrations.empty())
    out << (command == "up" ? "nothing to apply\n" : command == "redo" ? "nothing to redo\n" : "nothing to revert\n");
  for (const DryRunMigration& migration : migrations) {
    out << "\n" << migration.label << " (" << migration.action << ")\n";
    size_t tag_width = std::string("COMMAND").size();
    size_t line_width = std::string("LINE").size();
    for (const DryRunStatement& statement : migration.statements) {
      tag_width = std::max(tag_width, (statement.executed ? statement.command_tag : "not executed").size());
      line_width = std::max(line_width, std::to_string(statement.line).size());
    }
    auto column = [&](const std::string& text, size_t width) {
      out << std::left << std::setw(static_cast<int>(width)) << text << "  ";
    };
    out << "  ";
    column("LINE", line_width);
    column("COMMAND", tag_width);
    column("ROWS", 6);
    column("MS", 9);
    out << "LOCKS / REWRITES\n";
    for (const DryRunStatement& statement : migration.statements) {
      out << "  ";
      column(std::to_string(statement.line), line_width);
      if (!statement.executed) {
        column("not executed", tag_width);
        out << statement.not_executed_reason << ": " << statement.text << "\n";
        continue;
      }
      column(statement.command_tag, tag_width);
      column(statement.rows ? std::to_string(*statement.rows) : "-", 6);
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.1f", statement.duration_ms);
      column(ms, 9);
      std::string detail;
      for (const DryRunLock& lock : statement.locks) {
        detail += (detail.empty() ? "" : ", ") + lock.mode + " on " + lock.relation;
      }
      for (const std::string& table : statement.rewritten) {
        detail += (detail.empty() ? "" : ", ") + std::string("REWRITES ") + table;
      }
      out << (detail.empty() ? "-" : detail) << "\n";
    }
  }
  for (const DryRunSequence& sequence : sequences_advanced) {
    out << "\nnote: the dry run advanced sequence " << sequence.sequence << " from "
        << (sequence.before.empty() ? "unused" : sequence.before) << " to " << sequence.after
        << " (nextval is not rolled back)\n";
  }
  for (const std::string& note : notes) out << "\nnote: " << note << "\n";
  if (!error.empty()) out << "\nfailed: " << error << "\n";
  out << "\nrolled back: nothing was changed\n";
}

}  // namespace migrator
