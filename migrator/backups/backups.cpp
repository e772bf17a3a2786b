#include "migrator/backups/backups.h"

#include <openssl/evp.h>

#include <fstream>

#include "migrator/backups/postgres_backups.h"
#include "migrator/backups/sqlite_backups.h"
#include "migrator/error.h"
#include "migrator/source/sql_script.h"

namespace migrator {

nlohmann::json BackupRecord::to_json() const {
  return {{"file", file}, {"size", size},    {"sha256", sha256}, {"created_at", created_at},
          {"by", by},     {"reason", reason}};
}

std::unique_ptr<Backups> open_backups(const DatabaseUrl& url, const BackupOptions& options) {
  if (url.kind == DatabaseKind::kSqlite) return std::make_unique<SqliteBackups>(url.target, options);
  return std::make_unique<PostgresBackups>(url.target, options);
}

namespace {

// destructive_reason() of a statement's parse tree ({"DropStmt": {...}}).
std::string destructive_reason_of(const nlohmann::json& stmt) {
  if (!stmt.is_object() || stmt.empty()) return "";
  const std::string node = stmt.begin().key();
  const nlohmann::json& body = stmt.begin().value();
  if (node == "DropStmt") {
    std::string type = body.value("removeType", "");
    if (type == "OBJECT_TABLE" || type == "OBJECT_SCHEMA" || type == "OBJECT_MATVIEW" || type == "OBJECT_SEQUENCE" ||
        type == "OBJECT_FOREIGN_TABLE") {
      return "DROP " + (type == "OBJECT_MATVIEW" ? std::string("MATERIALIZED VIEW") : type.substr(7));
    }
  } else if (node == "DropdbStmt") {
    return "DROP DATABASE";
  } else if (node == "TruncateStmt") {
    return "TRUNCATE";
  } else if (node == "AlterTableStmt") {
    for (const nlohmann::json& cmd : body.value("cmds", nlohmann::json::array())) {
      std::string subtype = cmd.value("AlterTableCmd", nlohmann::json::object()).value("subtype", "");
      if (subtype == "AT_DropColumn") return "ALTER TABLE ... DROP COLUMN";
      if (subtype == "AT_AlterColumnType") return "ALTER TABLE ... ALTER COLUMN ... TYPE";
    }
  } else if (node == "DeleteStmt" && !body.contains("whereClause")) {
    return "DELETE without WHERE";
  } else if (node == "UpdateStmt" && !body.contains("whereClause")) {
    return "UPDATE without WHERE";
  }
  return "";
}

}  // namespace

std::string destructive_reason(const std::string& statement_sql) {
  return destructive_reason_of(parse_statement_tree(statement_sql));
}

std::string first_destructive_statement(const std::vector<DryRunScript>& scripts) {
  for (const DryRunScript& script : scripts) {
    const Migration& migration = *script.migration;
    bool up = script.action == "up";
    std::string path = (up ? migration.up_path() : migration.down_path()).string();
    std::vector<Statement> statements;
    try {
      statements = split_postgres_script(up ? migration.up_sql : migration.down_sql, path);
    } catch (const Error&) {
      return path + ": not readable by the PostgreSQL parser, so it may destroy data";
    }
    for (const Statement& statement : statements) {
      // The tree the split parsed (one parse per script and run), else the statement parsed alone.
      std::string reason =
          statement.tree != nullptr ? destructive_reason_of(*statement.tree) : destructive_reason(statement.text);
      if (!reason.empty()) return path + ":" + std::to_string(statement.line) + ": " + reason;
    }
  }
  return "";
}

std::string sha256_of_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ExitCode::kBackupFailed, "cannot read " + file.string());
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    if (in.gcount() > 0) EVP_DigestUpdate(context, buffer, static_cast<size_t>(in.gcount()));
  }
  bool failed = in.bad();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  if (failed) throw Error(ExitCode::kBackupFailed, "cannot read " + file.string());
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace migrator
