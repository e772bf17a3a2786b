#include "migrator/expand/phases.h"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "migrator/drivers/postgres_driver.h"
#include "migrator/error.h"
#include "migrator/expand/backfill.h"
#include "migrator/expand/declarative.h"
#include "migrator/expand/plan.h"
#include "migrator/interrupt.h"
#include "migrator/source/sql_script.h"
#include "migrator/version.h"

namespace migrator::expand {
namespace {

[[noreturn]] void refuse(const std::string& message) { throw Error(ExitCode::kInvalidMigrations, message); }

std::string one_line(const std::string& text) {
  std::string first = text.substr(0, text.find('\n'));
  return first.size() > 120 ? first.substr(0, 117) + "..." : first;
}

// The server's message on one line: its first line, then its DETAIL and HINT (which say which key
// is duplicated, or how to cast), then the SQLSTATE.
std::string describe(const pqxx::sql_error& e) {
  std::string what = e.what();
  std::string first = what.substr(0, what.find('\n'));
  if (first.rfind("ERROR:  ", 0) == 0) first = "ERROR: " + first.substr(8);
  for (size_t start = what.find('\n'); start != std::string::npos; start = what.find('\n', start + 1)) {
    std::string line = what.substr(start + 1, what.find('\n', start + 1) - start - 1);
    for (const char* label : {"DETAIL:  ", "HINT:  "}) {
      if (line.rfind(label, 0) == 0)
        first += " " + std::string(label, std::strlen(label) - 1) + line.substr(std::strlen(label));
    }
  }
  return first + (e.sqlstate().empty() ? "" : " (SQLSTATE " + e.sqlstate() + ")");
}

nlohmann::json statements_json(const std::vector<PlannedStatement>& statements) {
  nlohmann::json list = nlohmann::json::array();
  for (const PlannedStatement& s : statements) {
    nlohmann::json item = {{"sql", s.sql}, {"concurrent", s.concurrent}, {"cleanup", s.cleanup}, {"source", s.source}};
    if (!s.creates.table.empty()) item["creates"] = {s.creates.schema, s.creates.table};
    if (!s.built_index.table.empty()) item["built_index"] = {s.built_index.schema, s.built_index.table};
    list.push_back(item);
  }
  return list;
}

std::vector<PlannedStatement> statements_from(const nlohmann::json& list) {
  std::vector<PlannedStatement> statements;
  for (const auto& s : list) {
    statements.emplace_back(s.at("sql").get<std::string>(), s.at("concurrent").get<bool>(),
                            s.at("cleanup").get<std::string>());
    // A plan stored by an earlier release has none of these.
    statements.back().source = s.value("source", "");
    if (s.contains("creates")) statements.back().creates = {s["creates"][0], s["creates"][1]};
    if (s.contains("built_index")) statements.back().built_index = {s["built_index"][0], s["built_index"][1]};
  }
  return statements;
}

// The backfill jobs as the stored plan keeps them, and back.
nlohmann::json backfill_json(const std::vector<PlannedBackfill>& jobs) {
  nlohmann::json list = nlohmann::json::array();
  for (const PlannedBackfill& job : jobs) {
    list.push_back({{"schema", job.table.schema},
                    {"table", job.table.table},
                    {"assignments", job.assignments},
                    {"pending", job.pending}});
  }
  return list;
}

std::vector<PlannedBackfill> backfill_from(const nlohmann::json& list) {
  std::vector<PlannedBackfill> jobs;
  for (const auto& job : list) {
    jobs.push_back({{job.at("schema").get<std::string>(), job.at("table").get<std::string>()},
                    job.at("assignments").get<std::string>(),
                    job.at("pending").get<std::string>()});
  }
  return jobs;
}

// Whether `sql` is an ALTER TABLE whose every command is VALIDATE CONSTRAINT (from its parse tree).
// It takes SHARE UPDATE EXCLUSIVE, which readers and writers do not wait for, but inside the
// contract transaction it would scan the table while that transaction's ACCESS EXCLUSIVE locks are
// held: complete runs it first, in a transaction of its own.
bool only_validates(const std::string& sql) {
  const std::vector<migrator::Statement> statements = split_postgres_script(sql, "complete");
  if (statements.size() != 1 || statements[0].tree == nullptr) return false;
  const nlohmann::json* alter = nullptr;
  if (auto it = statements[0].tree->find("AlterTableStmt"); it != statements[0].tree->end()) alter = &*it;
  if (alter == nullptr || !alter->contains("cmds") || alter->at("cmds").empty()) return false;
  for (const auto& cmd : alter->at("cmds")) {
    const auto found = cmd.find("AlterTableCmd");
    if (found == cmd.end() || found->value("subtype", "") != "AT_ValidateConstraint") return false;
  }
  return true;
}

// A text[] literal of `items`, each element double-quoted and escaped as array input reads it.
std::string array_literal(const std::vector<std::string>& items) {
  std::string literal = "{";
  for (const std::string& item : items) {
    if (literal.size() > 1) literal += ",";
    literal += "\"";
    for (char c : item) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += "\"";
  }
  return literal + "}";
}

// The elements of a text[] field. (Rows written before 2026-11-27 hold elements in single quotes,
// 'public.orders'; libpqxx's parser takes those as quoted too.)
std::vector<std::string> text_array(const pqxx::field& field) {
  std::vector<std::string> items;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) items.push_back(item.second);
  }
  return items;
}

// What complete drops, as the stored plan keeps it.
nlohmann::json drops_json(const std::vector<CompleteDrop>& drops) {
  nlohmann::json list = nlohmann::json::array();
  for (const CompleteDrop& drop : drops) {
    list.push_back({{"schema", drop.relation.schema},
                    {"relation", drop.relation.table},
                    {"column", drop.column},
                    {"where", drop.where}});
  }
  return list;
}

// What would make complete's drops fail: objects outside the migrator that depend on a relation
// or column it drops (a view over it, another table's foreign key, a trigger on the column), as
// "<where>: <what it drops> has <dependent>". The views of the version schemas complete drops
// first (those of migrations completed before this one) do not count.
std::vector<std::string> complete_blockers(pqxx::transaction_base& tx, const nlohmann::json& drops, int64_t version) {
  std::vector<std::string> found;
  if (drops.empty()) return found;
  pqxx::result rows = tx.exec_params(
      "WITH target AS ("
      "  SELECT x.*, to_regclass(format('%I.%I', x.schema, x.relation)) AS rel "
      "  FROM jsonb_to_recordset($1::jsonb) AS x(schema text, relation text, \"column\" text, \"where\" text)), "
      "dropped_first AS ("
      "  SELECT unnest(version_schemas) AS nspname FROM migrator.expand_phases "
      "  WHERE phase = 'complete' AND version < $2) "
      "SELECT DISTINCT t.\"where\", "
      "  t.schema || '.' || t.relation || CASE WHEN t.\"column\" <> '' THEN '.' || t.\"column\" ELSE '' END, "
      "  CASE WHEN r.oid IS NOT NULL "
      "    THEN (SELECT type || ' ' || identity FROM pg_identify_object('pg_class'::regclass, r.ev_class, 0)) "
      "    ELSE (SELECT type || ' ' || identity FROM pg_identify_object(d.classid, d.objid, d.objsubid)) END "
      "FROM target t "
      "JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = t.rel AND d.deptype = 'n' "
      "  AND (t.\"column\" = '' OR d.refobjsubid = (SELECT a.attnum FROM pg_attribute a "
      "    WHERE a.attrelid = t.rel AND a.attname = t.\"column\" AND NOT a.attisdropped)) "
      "LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid "
      "LEFT JOIN pg_class v ON v.oid = r.ev_class "
      "LEFT JOIN pg_namespace n ON n.oid = v.relnamespace "
      "WHERE NOT coalesce(v.oid = t.rel OR n.nspname IN (SELECT nspname FROM dropped_first), false) "
      "ORDER BY 1, 2, 3",
      drops.dump(), version);
  for (const pqxx::row& row : rows) {
    found.push_back(row[0].as<std::string>() + ": " + row[1].as<std::string>() + " has " + row[2].as<std::string>() +
                    " depending on it");
  }
  return found;
}

// The objects outside `schemas` (version schemas that a DROP SCHEMA ... CASCADE is about to drop)
// that depend on something inside them, e.g. "view public.report over public_v0007.orders": the
// CASCADE would drop them without a word.
std::vector<std::string> version_schema_dependents(pqxx::transaction_base& tx,
                                                   const std::vector<std::string>& schemas) {
  std::vector<std::string> found;
  if (schemas.empty()) return found;
  pqxx::result rows = tx.exec_params(
      "WITH dependent AS ("
      "  SELECT DISTINCT c.oid AS inside, coalesce(r.ev_class, d.objid) AS objid, "
      "    CASE WHEN r.oid IS NOT NULL THEN 'pg_class'::regclass ELSE d.classid END AS classid, "
      "    CASE WHEN r.oid IS NOT NULL THEN 0 ELSE d.objsubid END AS objsubid "
      "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = ANY($1::text[]) "
      "  JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid AND d.deptype = 'n' "
      "  LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid) "
      "SELECT o.type || ' ' || o.identity || ' over ' || i.identity "
      "FROM dependent x, pg_identify_object(x.classid, x.objid, x.objsubid) o, "
      "  pg_identify_object('pg_class'::regclass, x.inside, 0) i "
      "WHERE o.schema IS DISTINCT FROM i.schema AND NOT coalesce(o.schema = ANY($1::text[]), false) "
      "ORDER BY 1",
      array_literal(schemas));
  for (const pqxx::row& row : rows) found.push_back(row[0].as<std::string>());
  return found;
}

// The version schemas of the migrations completed before `version` that share a base schema with
// `mine` (its own version schemas): complete drops them, since no client may use them any more.
std::vector<std::string> older_version_schemas(pqxx::transaction_base& tx, int64_t version,
                                               const std::vector<std::string>& mine) {
  std::vector<std::string> older;
  for (const pqxx::row& other : tx.exec_params(
           "SELECT version_schemas FROM migrator.expand_phases WHERE phase = 'complete' AND version < $1", version)) {
    for (const std::string& schema : text_array(other[0])) {
      for (const std::string& own : mine) {
        std::string prefix = own.substr(0, own.rfind("_v") + 2);
        if (schema.rfind(prefix, 0) == 0) older.push_back(schema);
      }
    }
  }
  return older;
}

// "a; b; c (and 2 more)": at most `shown` of `items`.
std::string some_of(const std::vector<std::string>& items, size_t shown) {
  std::string text;
  for (size_t i = 0; i < items.size() && i < shown; ++i) text += (i == 0 ? "" : "; ") + items[i];
  if (items.size() > shown) text += " (and " + std::to_string(items.size() - shown) + " more)";
  return text;
}

// Runs `statements` (none concurrent) and `record` in one transaction with SET LOCAL lock_timeout,
// retrying with exponential backoff while a lock wait times out (SQLSTATE 55P03). `record` (which
// writes the migrator's own tables) runs first where `record_first`, so that the table locks the
// statements take are held only until the COMMIT right after them.
void run_transaction(pqxx::connection& connection, const PhaseOptions& options, const std::string& what,
                     const std::vector<PlannedStatement>& statements, const std::function<void(pqxx::work&)>& record,
                     bool record_first = false) {
  int64_t backoff = options.retry_backoff_ms;
  for (int attempt = 1;; ++attempt) {
    const PlannedStatement* current = nullptr;
    try {
      pqxx::work tx(connection);
      tx.exec("SET LOCAL lock_timeout = " + std::to_string(options.lock_timeout_ms));
      if (record && record_first) record(tx);
      for (const PlannedStatement& statement : statements) {
        current = &statement;
        tx.exec(statement.sql);
      }
      current = nullptr;
      if (record && !record_first) record(tx);
      tx.commit();
      return;
    } catch (const pqxx::sql_error& e) {
      std::string at = current == nullptr ? "" : " at `" + one_line(current->sql) + "`";
      if (current != nullptr && !current->source.empty()) at += " (the " + current->source + ")";
      if (e.sqlstate() == "55P03" && attempt <= options.lock_retries) {
        if (options.notices != nullptr) {
          *options.notices << what << ": lock_timeout (" << options.lock_timeout_ms << " ms)" << at
                           << "; rolled back, retry " << attempt << " of " << options.lock_retries << " in " << backoff
                           << " ms" << std::endl;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
        backoff = std::min<int64_t>(backoff * 2, 60000);
        continue;
      }
      throw Error(
          ExitCode::kMigrationFailed,
          what + " failed" + at + ": " + describe(e) +
              (e.sqlstate() == "55P03" ? "; gave up after " + std::to_string(attempt) + " attempts" : std::string()) +
              "; rolled back, nothing of it remains");
    } catch (const pqxx::broken_connection& e) {
      throw Error(ExitCode::kDatabase, what + ": lost the database connection: " + e.what());
    }
  }
}

// Runs one statement outside a transaction block (CREATE/DROP INDEX CONCURRENTLY) with a session
// lock_timeout, retried like run_transaction. After a failure its cleanup runs, so a failed
// concurrent index build leaves no invalid index behind.
void run_concurrent(pqxx::connection& connection, const PhaseOptions& options, const std::string& what,
                    const PlannedStatement& statement) {
  int64_t backoff = options.retry_backoff_ms;
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::nontransaction tx(connection);
      tx.exec("SET lock_timeout = " + std::to_string(options.lock_timeout_ms));
      try {
        tx.exec(statement.sql);
        tx.exec("RESET lock_timeout");
        return;
      } catch (const pqxx::sql_error& e) {
        tx.exec("RESET lock_timeout");
        // 42P07: the name was taken (by a relation made since expand was planned): what has it is not ours to drop.
        bool ours = e.sqlstate() != "42P07";
        if (ours && !statement.cleanup.empty()) tx.exec(statement.cleanup);
        if (e.sqlstate() == "55P03" && attempt <= options.lock_retries) {
          if (options.notices != nullptr) {
            *options.notices << what << ": lock_timeout at `" << one_line(statement.sql) << "`; retry " << attempt
                             << " of " << options.lock_retries << " in " << backoff << " ms" << std::endl;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
          backoff = std::min<int64_t>(backoff * 2, 60000);
          continue;
        }
        std::string source = statement.source.empty() ? "" : " (the " + statement.source + ")";
        throw Error(
            ExitCode::kMigrationFailed,
            what + " failed at `" + one_line(statement.sql) + "`" + source + ": " + describe(e) +
                (statement.cleanup.empty() || !ours ? "" : "; dropped what it left (" + statement.cleanup + ")"));
      }
    } catch (const pqxx::broken_connection& e) {
      throw Error(ExitCode::kDatabase, what + ": lost the database connection: " + e.what());
    }
  }
}

Catalog read_catalog(pqxx::transaction_base& tx) {
  Catalog catalog;
  pqxx::result rows = tx.exec(
      "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
      "coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(a.attnum = ANY(i.indkey::int2[]), false), "
      "a.attidentity = 'a', coalesce(CASE WHEN a.attidentity <> '' THEN "
      "pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) END, ''), a.attgenerated <> '', "
      "c.relkind = 'p' "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
      "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
      "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
      "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
      "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrator') AND n.nspname NOT LIKE 'pg_toast%' "
      "ORDER BY n.nspname, c.relname, a.attnum");
  for (const pqxx::row& row : rows) {
    TableName name{row[0].as<std::string>(), row[1].as<std::string>()};
    CatalogTable& table = catalog.tables[name.key()];
    table.name = name;
    CatalogColumn column{row[2].as<std::string>(), row[3].as<std::string>(), row[4].as<bool>(),
                         row[5].as<std::string>(), row[6].as<bool>()};
    column.identity_always = row[7].as<bool>();
    column.identity_sequence = row[8].as<std::string>();
    column.generated = row[9].as<bool>();
    table.columns.push_back(column);
    table.partitioned = row[10].as<bool>();
  }
  pqxx::result others = tx.exec(
      "SELECT n.nspname, c.relname, CASE c.relkind WHEN 'i' THEN coalesce((SELECT 'the index of constraint ' || "
      "k.conname FROM pg_constraint k WHERE k.conindid = c.oid AND k.contype IN ('p', 'u', 'x') LIMIT 1), 'an index') "
      "WHEN 'I' THEN 'a partitioned index' "
      "WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view' WHEN 'S' THEN 'a sequence' "
      "WHEN 'f' THEN 'a foreign table' WHEN 'c' THEN 'a composite type' ELSE 'a table' END "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrator') AND n.nspname NOT LIKE 'pg_toast%' "
      "AND n.nspname NOT LIKE 'pg_temp%'");
  for (const pqxx::row& row : others) {
    TableName name{row[0].as<std::string>(), row[1].as<std::string>()};
    if (catalog.table(name) == nullptr) catalog.relations[name.key()] = row[2].as<std::string>();
  }
  for (const pqxx::row& row : tx.exec(
           "SELECT pn.nspname, p.relname, cn.nspname, c.relname, c.relkind = 'p' FROM pg_inherits i "
           "JOIN pg_class p ON p.oid = i.inhparent AND p.relkind = 'p' JOIN pg_namespace pn ON pn.oid = p.relnamespace "
           "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace "
           "ORDER BY 1, 2, 3, 4")) {
    TableName parent{row[0].as<std::string>(), row[1].as<std::string>()};
    catalog.partitions[parent.key()].push_back(
        {TableName{row[2].as<std::string>(), row[3].as<std::string>()}, row[4].as<bool>()});
  }
  return catalog;
}

std::string label_of(uint64_t version, const std::string& name) { return std::to_string(version) + "_" + name; }

constexpr const char* kInsertHistory =
    "INSERT INTO migrator.history (version, name, action, outcome, duration_ms, migrator_version, detail) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)";

int64_t ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

void insert_history(pqxx::transaction_base& tx, const Migration& migration, const std::string& action,
                    const std::string& outcome, int64_t ms, const std::string& detail) {
  tx.exec_params(kInsertHistory, static_cast<int64_t>(migration.version), migration.name, action, outcome, ms,
                 std::string(kMigratorVersion), detail);
}

// A history row in a transaction of its own. Never throws: the row must not hide the error that
// ended the action (the connection may be why it failed).
void record_history(pqxx::connection& connection, const Migration& migration, const std::string& action,
                    const std::string& outcome, int64_t ms, const std::string& detail) noexcept {
  try {
    pqxx::work tx(connection);
    insert_history(tx, migration, action, outcome, ms, detail);
    tx.commit();
  } catch (const std::exception&) {
    // The error itself is reported by the caller.
  }
}

// The plan expand stored for `migration` (migrator.expand_phases.plan).
nlohmann::json stored_plan(pqxx::connection& connection, const Migration& migration) {
  pqxx::read_transaction tx(connection);
  return nlohmann::json::parse(tx.exec_params1("SELECT plan FROM migrator.expand_phases WHERE version = $1",
                                               static_cast<int64_t>(migration.version))[0]
                                   .as<std::string>());
}

// Whether the index an expand step builds is there and valid. One left invalid (a build killed
// part way) is dropped first, by the step's cleanup, so that the step can build it again.
bool index_built(pqxx::connection& connection, const PlannedStatement& statement) {
  const std::string prefix = "DROP INDEX CONCURRENTLY IF EXISTS ";
  if (statement.cleanup.rfind(prefix, 0) != 0) return false;
  pqxx::nontransaction tx(connection);
  pqxx::result found = tx.exec_params("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
                                      statement.cleanup.substr(prefix.size()));
  if (found.empty()) return false;
  if (found[0][0].as<bool>()) return true;
  tx.exec(statement.cleanup);
  return false;
}

// What expand recorded of the indexes it built (migrator.expand_phases.built_indexes: each one's
// quoted name and its pg_get_indexdef then); nullopt for an expand of an earlier release, which kept
// no record (its steps are matched by name alone, as that release did).
std::optional<nlohmann::json> recorded_indexes(pqxx::connection& connection, const Migration& migration) {
  pqxx::read_transaction tx(connection);
  pqxx::row row = tx.exec_params1("SELECT built_indexes::text FROM migrator.expand_phases WHERE version = $1",
                                  static_cast<int64_t>(migration.version));
  if (row[0].is_null()) return std::nullopt;
  return nlohmann::json::parse(row[0].as<std::string>());
}

// The relation of a name an expand step gives, as it is now.
struct FoundRelation {
  bool index = false;
  bool valid = false;      // an index PostgreSQL uses (not one a stopped CREATE INDEX CONCURRENTLY left)
  std::string definition;  // pg_get_indexdef, every name qualified
};

std::optional<FoundRelation> find_relation(pqxx::connection& connection, const TableName& name) {
  pqxx::read_transaction tx(connection);
  // pg_get_indexdef qualifies what the search_path does not show: with none, its text is the same
  // whatever the session's (or the URL's) search_path.
  tx.exec("SET LOCAL search_path = pg_catalog");
  pqxx::result rows = tx.exec_params(
      "SELECT c.relkind IN ('i', 'I'), coalesce(i.indisvalid, false), "
      "CASE WHEN c.relkind IN ('i', 'I') THEN pg_get_indexdef(c.oid) ELSE '' END "
      "FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid WHERE c.oid = to_regclass($1)",
      name.quoted());
  if (rows.empty()) return std::nullopt;
  return FoundRelation{rows[0][0].as<bool>(), rows[0][1].as<bool>(), rows[0][2].as<std::string>()};
}

// Whether `found` is the index expand built under that name (or one just like it).
bool built_by_expand(const nlohmann::json& recorded, const TableName& name, const FoundRelation& found) {
  auto it = recorded.find(name.quoted());
  return found.index && it != recorded.end() && it->is_string() && it->get<std::string>() == found.definition;
}

// Records (or, with `definition` empty, forgets) an index expand built.
void record_index(pqxx::connection& connection, const Migration& migration, const TableName& name,
                  const std::string& definition) {
  pqxx::work tx(connection);
  tx.exec_params(
      "UPDATE migrator.expand_phases SET built_indexes = CASE WHEN $3 = '' THEN built_indexes - $2 "
      "ELSE built_indexes || jsonb_build_object($2, $3) END WHERE version = $1 AND built_indexes IS NOT NULL",
      static_cast<int64_t>(migration.version), name.quoted(), definition);
  tx.commit();
}

// Keeps `error` in the migration's phase row (moving it to `phase`, if given) in a transaction of
// its own. Never throws: the error is the caller's to report, and the connection may be why.
void keep_phase_error(pqxx::connection& connection, const Migration& migration, const std::string& error,
                      const std::string& phase = "") noexcept {
  try {
    pqxx::work tx(connection);
    tx.exec_params(
        "UPDATE migrator.expand_phases SET phase = CASE WHEN $3 = '' THEN phase ELSE $3 END, error = $2, "
        "changed_at = now() WHERE version = $1",
        static_cast<int64_t>(migration.version), error, phase);
    tx.commit();
  } catch (const std::exception&) {
    // The error itself is reported by the caller.
  }
}

// Runs `action`; if it throws, records `what` of `migration` as failed (or interrupted) and rethrows.
template <typename F>
void recording_failure(pqxx::connection& connection, const Migration& migration, const std::string& what,
                       std::chrono::steady_clock::time_point start, F&& action) {
  try {
    action();
  } catch (const std::exception& e) {
    record_history(connection, migration, what, interrupt_requested() ? "interrupted" : "failed", ms_since(start),
                   e.what());
    throw;
  }
}

// The statements as one script, in the order they run (the script's own statements split it again).
DryRunScript phase_script(const Migration& migration, const std::string& action,
                          const std::vector<const std::vector<PlannedStatement>*>& lists) {
  std::string sql;
  for (const auto* list : lists) {
    for (const PlannedStatement& s : *list) sql += s.sql + ";\n";
  }
  return DryRunScript{&migration, action, sql, migration.declarative_path().string() + " (" + action + ")"};
}

}  // namespace

PhaseRunner::PhaseRunner(const std::string& conninfo, PhaseOptions options, std::ostream& out)
    : options_(options), out_(out) {
  try {
    connection_ = std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    throw Error(ExitCode::kDatabase, std::string("cannot connect to PostgreSQL: ") + e.what());
  }
}

PhaseRunner::~PhaseRunner() = default;

std::string PhaseRunner::version_text(const Migration& migration) {
  std::string label = migration.label();
  return label.substr(0, label.size() - migration.name.size() - 1);
}

void PhaseRunner::ensure_state() { ensure_postgres_state(*connection_); }

std::map<uint64_t, PhaseRow> PhaseRunner::phases() {
  std::map<uint64_t, PhaseRow> rows;
  try {
    pqxx::read_transaction tx(*connection_);
    pqxx::row exist = tx.exec1(
        "SELECT to_regclass('migrator.expand_phases') IS NOT NULL, to_regclass('migrator.backfill_progress') IS NOT NULL");
    if (!exist[0].as<bool>()) return rows;
    // The backfill's progress: its checkpoint rows (version as on disk, one per table) summed.
    std::string progress =
        exist[1].as<bool>()
            ? "(SELECT sum(b.rows_done)::bigint, sum(b.rows_total)::bigint FROM migrator.backfill_progress b "
              "WHERE CASE WHEN b.version ~ '^[0-9]{1,18}$' THEN b.version::bigint END = p.version)"
            : "(SELECT NULL::bigint, NULL::bigint)";
    for (const pqxx::row& row :
         tx.exec("SELECT p.version, p.name, p.phase, p.checksum, p.tables, p.error, progress.* "
                 "FROM migrator.expand_phases p, LATERAL " +
                 progress + " AS progress (rows_done, rows_total) ORDER BY p.version")) {
      PhaseRow phase;
      phase.version = static_cast<uint64_t>(row[0].as<int64_t>());
      phase.name = row[1].as<std::string>();
      phase.phase = row[2].as<std::string>();
      phase.checksum = row[3].as<std::string>();
      phase.tables = text_array(row[4]);
      phase.error = row[5].as<std::string>();
      if (!row[6].is_null()) {
        phase.backfill_rows_done = row[6].as<int64_t>();
        phase.backfill_rows_total = row[7].as<int64_t>();
      }
      rows[phase.version] = phase;
    }
  } catch (const pqxx::sql_error& e) {
    throw Error(ExitCode::kDatabase, "cannot read migrator.expand_phases: " + describe(e));
  }
  return rows;
}

void PhaseRunner::expand(const Migration& migration) {
  ensure_state();
  {
    std::map<uint64_t, PhaseRow> rows = phases();
    auto own = rows.find(migration.version);
    if (own != rows.end() && own->second.phase == "expanding") return resume_expand(migration);
  }
  std::string version = version_text(migration);
  Declarative declarative = parse_declarative(migration.declarative_yaml, migration.declarative_path().string());
  Catalog catalog;
  {
    pqxx::read_transaction tx(*connection_);
    catalog = read_catalog(tx);
  }
  Plan plan = plan_migration(declarative, catalog, version);
  {
    pqxx::read_transaction tx(*connection_);
    for (const PlannedBackfill& job : plan.phases.backfill) {
      try {
        require_backfill_key(tx, job.table.schema, job.table.table);
      } catch (const Error& e) {
        refuse("refusing to expand " + migration.label() + ", nothing was changed: " + e.what());
      }
    }
  }
  for (const auto& [other, row] : phases()) {
    bool in_flight = row.phase == "expanding" || row.phase == "backfilling" || row.phase == "expanded";
    if (other == migration.version) {
      if (in_flight) refuse(migration.label() + " is already " + row.phase + "; nothing was changed");
      continue;
    }
    if (!in_flight) continue;
    for (const std::string& table : plan.tables) {
      if (std::find(row.tables.begin(), row.tables.end(), table) != row.tables.end()) {
        refuse("refusing to expand " + migration.label() + ", nothing was changed: it changes " + table +
               ", which migration " + label_of(other, row.name) + " (" + row.phase +
               ") also changes; complete or abort " + std::to_string(other) + " first");
      }
    }
  }
  std::vector<PlannedStatement> transactional;
  std::vector<PlannedStatement> concurrent;
  for (const PlannedStatement& s : plan.phases.expand) (s.concurrent ? concurrent : transactional).push_back(s);
  // The index steps are kept so that `up` can resume them after one failed.
  nlohmann::json stored = {{"complete", statements_json(plan.phases.complete)},
                           {"abort", statements_json(plan.phases.abort)},
                           {"expand_concurrent", statements_json(concurrent)},
                           {"drops", drops_json(plan.phases.drops)},
                           {"backfill", backfill_json(plan.phases.backfill)}};
  auto start = std::chrono::steady_clock::now();
  const int64_t v = static_cast<int64_t>(migration.version);
  recording_failure(*connection_, migration, "expand", start, [&] {
    run_transaction(
        *connection_, options_, "expand of " + migration.label(), transactional,
        [&](pqxx::work& tx) {
          tx.exec_params("DELETE FROM migrator.expand_phases WHERE version = $1", v);
          tx.exec_params(
              "INSERT INTO migrator.expand_phases (version, name, directory, checksum, phase, tables, version_schemas, "
              "plan, built_indexes) "
              "VALUES ($1, $2, $3, $4, 'expanding', $5::text[], $6::text[], $7::jsonb, '{}')",
              v, migration.name, migration.label(), migration.checksum, array_literal(plan.tables),
              array_literal(plan.version_schemas), stored.dump());
        },
        true);
    build_indexes(migration, concurrent, nullptr);
  });
  std::string schemas;
  for (const std::string& s : plan.version_schemas) schemas += (schemas.empty() ? "" : ", ") + s;
  finish_expand(migration, ms_since(start), schemas, "");
}

// Each step that makes an index runs unless the index expand built (and recorded) is there; an
// index of that name that expand did not build stops it, left alone: another session made it after
// expand found the name free (or the migrator stopped between building it and recording so).
void PhaseRunner::build_indexes(const Migration& migration, const std::vector<PlannedStatement>& steps,
                                int* already_built) {
  const std::optional<nlohmann::json> recorded = recorded_indexes(*connection_, migration);
  const std::string what = "expand of " + migration.label();
  for (const PlannedStatement& statement : steps) {
    try {
      const TableName& name = statement.creates;
      if (!recorded || name.table.empty()) {
        if (already_built != nullptr && index_built(*connection_, statement)) {
          ++*already_built;
          continue;
        }
        run_concurrent(*connection_, options_, what, statement);
        continue;
      }
      if (std::optional<FoundRelation> found = find_relation(*connection_, name)) {
        if (built_by_expand(*recorded, name, *found)) {
          if (already_built != nullptr) ++*already_built;
          continue;
        }
        if (found->index && !found->valid && !statement.cleanup.empty()) {
          // The build of this step that a stop cut short (what else makes an index of this name,
          // left invalid?): dropped, to be built again.
          pqxx::nontransaction tx(*connection_);
          tx.exec(statement.cleanup);
        } else {
          std::string source = statement.source.empty() ? "" : " (the " + statement.source + ")";
          throw Error(ExitCode::kMigrationFailed,
                      what + " failed at `" + one_line(statement.sql) + "`" + source + ": " +
                          (found->index ? "an index " : "a relation ") + name.key() +
                          " is there that expand did not build (another session made it after expand found the "
                          "name free, or the migrator stopped between building it and recording so); it is left "
                          "alone: rename it or drop it (`DROP INDEX CONCURRENTLY " +
                          name.quoted() + "` if it is the migration's own)");
        }
      }
      run_concurrent(*connection_, options_, what, statement);
      std::optional<FoundRelation> built = find_relation(*connection_, name);
      record_index(*connection_, migration, name, built ? built->definition : "");
    } catch (const Error& e) {
      keep_phase_error(*connection_, migration, e.what());
      std::string v = std::to_string(migration.version);
      throw Error(e.code(), std::string(e.what()) + "\n" + migration.label() +
                                " stays expanding: once the cause is mended `migrator up` resumes its index steps; "
                                "`migrator abort " +
                                v + "` undoes what its expand did");
    }
  }
}

// An expand whose DDL committed and one of whose CREATE INDEX CONCURRENTLY steps failed (or was
// killed): the steps again, each index that is there and valid kept, then the backfill.
void PhaseRunner::resume_expand(const Migration& migration) {
  require_row(migration, "resume the expand of");  // the file unchanged since expand
  nlohmann::json stored = stored_plan(*connection_, migration);
  if (!stored.contains("expand_concurrent")) {
    refuse("refusing to resume the expand of " + migration.label() +
           ", nothing was changed: an earlier release expanded it and kept no record of its index steps; `migrator "
           "abort " +
           std::to_string(migration.version) + "` undoes it, then `migrator up` expands it anew");
  }
  std::vector<PlannedStatement> steps = statements_from(stored.at("expand_concurrent"));
  auto start = std::chrono::steady_clock::now();
  int already_built = 0;
  recording_failure(*connection_, migration, "expand", start, [&] { build_indexes(migration, steps, &already_built); });
  std::string schemas;
  {
    pqxx::read_transaction tx(*connection_);
    for (const std::string& schema :
         text_array(tx.exec_params1("SELECT version_schemas FROM migrator.expand_phases WHERE version = $1",
                                    static_cast<int64_t>(migration.version))[0])) {
      schemas += (schemas.empty() ? "" : ", ") + schema;
    }
  }
  finish_expand(migration, ms_since(start), schemas,
                "resumed: " + std::to_string(steps.size() - static_cast<size_t>(already_built)) + " of " +
                    std::to_string(steps.size()) + " index steps built");
}

void PhaseRunner::finish_expand(const Migration& migration, int64_t ms, const std::string& schemas,
                                const std::string& resumed) {
  const int64_t v = static_cast<int64_t>(migration.version);
  // A migration that changes no table's shape (drop_index, sql alone) has no version schema.
  std::string views = schemas.empty() ? "no table changes shape, so there is no version schema"
                                      : "the new version's views are in " + schemas;
  out_ << "expanded " << migration.label() << " (" << ms << " ms" << (resumed.empty() ? "" : "; " + resumed)
       << "): " << views << std::endl;
  {
    nlohmann::json stored = stored_plan(*connection_, migration);
    pqxx::read_transaction tx(*connection_);
    std::vector<std::string> blockers =
        stored.contains("drops") ? complete_blockers(tx, stored.at("drops"), v) : std::vector<std::string>{};
    for (const std::string& blocker : blockers) {
      out_ << "note: " << blocker << "; `migrator complete " << migration.version
           << "` refuses until it is dropped or redefined" << std::endl;
    }
  }
  {
    pqxx::work tx(*connection_);
    tx.exec_params(
        "UPDATE migrator.expand_phases SET phase = 'backfilling', error = '', changed_at = now() WHERE "
        "version = $1",
        v);
    insert_history(tx, migration, "expand", "applied", ms, views + (resumed.empty() ? "" : "; " + resumed));
    tx.commit();
  }
  backfill(migration);
}

namespace {

// The backfill as one UPDATE per table (the real one runs in batches), for a dry run.
std::vector<PlannedStatement> backfill_statements(const std::vector<PlannedBackfill>& jobs) {
  std::vector<PlannedStatement> backfill;
  if (jobs.empty()) return backfill;
  backfill.emplace_back("SET LOCAL migrator.backfill = 'on'");
  for (const PlannedBackfill& job : jobs) {
    backfill.emplace_back("UPDATE " + job.table.quoted() + " SET " + job.assignments +
                          (job.pending.empty() ? "" : " WHERE " + job.pending));
  }
  backfill.emplace_back("SET LOCAL migrator.backfill = 'off'");
  return backfill;
}

// A dry run runs no CREATE INDEX CONCURRENTLY (it cannot, in its transaction): the steps that attach
// such an index of a partition to its table's index would fail on its absence, so they are left
// out. Every other step is kept.
std::vector<PlannedStatement> dry_runnable(const std::vector<PlannedStatement>& steps) {
  const std::string drop = "DROP INDEX CONCURRENTLY IF EXISTS ";  // a build's cleanup names its index
  std::vector<std::string> built_concurrently;
  for (const PlannedStatement& s : steps) {
    if (s.concurrent && s.cleanup.rfind(drop, 0) == 0) {
      built_concurrently.push_back(" ATTACH PARTITION " + s.cleanup.substr(drop.size()));
    }
  }
  std::vector<PlannedStatement> kept;
  for (const PlannedStatement& s : steps) {
    bool attaches = std::any_of(built_concurrently.begin(), built_concurrently.end(), [&](const std::string& tail) {
      return s.sql.size() >= tail.size() && s.sql.compare(s.sql.size() - tail.size(), tail.size(), tail) == 0;
    });
    if (!attaches) kept.push_back(s);
  }
  return kept;
}

}  // namespace

std::vector<DryRunScript> PhaseRunner::dry_run_scripts(const Migration& migration, pqxx::transaction_base& tx) {
  // In flight: up does nothing more for it (backfilling, expanded) or resumes its index steps and
  // then backfills (expanding), from the plan stored at expand.
  std::map<uint64_t, PhaseRow> rows = phases();
  if (auto own = rows.find(migration.version); own != rows.end()) {
    const std::string& phase = own->second.phase;
    if (phase == "backfilling" || phase == "expanded") return {};
    if (phase == "expanding") {
      require_row(migration, "resume the expand of");
      nlohmann::json stored = stored_plan(*connection_, migration);
      if (!stored.contains("expand_concurrent")) return {};  // resume_expand() refuses it
      std::vector<PlannedStatement> steps = dry_runnable(statements_from(stored.at("expand_concurrent")));
      std::vector<PlannedStatement> backfill = backfill_statements(backfill_from(stored.at("backfill")));
      return {phase_script(migration, "expand", {&steps}), phase_script(migration, "backfill", {&backfill})};
    }
  }
  Declarative declarative = parse_declarative(migration.declarative_yaml, migration.declarative_path().string());
  Plan plan = plan_migration(declarative, read_catalog(tx), version_text(migration));
  // Each phase in the order the real one runs it: expand's transaction before its concurrent index
  // steps; complete's validations, then its transaction, then its concurrent index drops.
  std::vector<PlannedStatement> expand_transaction, expand_concurrent;
  for (const PlannedStatement& s : plan.phases.expand) {
    (s.concurrent ? expand_concurrent : expand_transaction).push_back(s);
  }
  std::vector<PlannedStatement> validations, contract_transaction, contract_concurrent;
  for (const PlannedStatement& s : plan.phases.complete) {
    (s.concurrent ? contract_concurrent : only_validates(s.sql) ? validations : contract_transaction).push_back(s);
  }
  // The backfill in full, so complete sees it done.
  std::vector<PlannedStatement> backfill = backfill_statements(plan.phases.backfill);
  expand_concurrent = dry_runnable(expand_concurrent);
  return {phase_script(migration, "expand", {&expand_transaction, &expand_concurrent}),
          phase_script(migration, "abort", {&plan.phases.abort}), phase_script(migration, "backfill", {&backfill}),
          phase_script(migration, "complete", {&validations, &contract_transaction, &contract_concurrent})};
}

PhaseRow PhaseRunner::require_row(const Migration& migration, const std::string& command) {
  ensure_state();
  std::map<uint64_t, PhaseRow> rows = phases();
  auto found = rows.find(migration.version);
  if (found == rows.end()) {
    refuse("refusing to " + command + " " + migration.label() +
           ", nothing was changed: it is not expanded (pending; "
           "`migrator up` expands it)");
  }
  if (found->second.checksum != migration.checksum) {
    refuse("refusing to " + command + " " + migration.label() + ", nothing was changed: " +
           migration.declarative_path().string() + " changed since it was expanded; restore the file as it was");
  }
  return found->second;
}

void PhaseRunner::backfill(const Migration& migration) {
  PhaseRow row = require_row(migration, "backfill");
  if (row.phase != "backfilling" && row.phase != "expanded") {
    refuse("refusing to backfill " + migration.label() + ", nothing was changed: its phase is " + row.phase +
           (row.phase == "expanding" ? "; `migrator up` resumes its expand (an index step), then backfills"
                                     : std::string()));
  }
  const int64_t v = static_cast<int64_t>(migration.version);
  nlohmann::json stored = stored_plan(*connection_, migration);
  std::vector<BackfillJob> jobs;
  for (const PlannedBackfill& job : backfill_from(stored.at("backfill"))) {
    jobs.push_back({version_text(migration), job.table.schema, job.table.table, job.assignments, job.pending});
  }
  auto start = std::chrono::steady_clock::now();
  std::string done;
  if (!jobs.empty()) {
    BackfillResult result;
    try {
      result = run_backfill(*connection_, jobs, options_.backfill, options_.backfill_observer);
    } catch (const std::exception& e) {
      if (options_.backfill_observer != nullptr) options_.backfill_observer->done();
      record_history(*connection_, migration, "backfill", interrupt_requested() ? "interrupted" : "failed",
                     ms_since(start), e.what());
      throw;
    }
    if (options_.backfill_observer != nullptr) options_.backfill_observer->done();
    if (result.batches == 0 && row.phase == "expanded") {  // nothing ran, nothing to record
      out_ << migration.label() << ": its backfill is done; nothing was changed" << std::endl;
      out_ << migration.label() << " is expanded: `migrator complete " << migration.version
           << "` contracts it once no client uses the old version" << std::endl;
      return;
    }
    done = std::to_string(result.rows) + " rows in " + std::to_string(result.batches) + " batches";
    out_ << "backfilled " << migration.label() << ": " << done << std::endl;
  }
  pqxx::work tx(*connection_);
  tx.exec_params("UPDATE migrator.expand_phases SET phase = 'expanded', changed_at = now() WHERE version = $1", v);
  if (!jobs.empty()) insert_history(tx, migration, "backfill", "completed", ms_since(start), done);
  tx.commit();
  out_ << migration.label() << " is expanded: `migrator complete " << migration.version
       << "` contracts it once no client uses the old version" << std::endl;
}

void PhaseRunner::check_complete(const Migration& migration) {
  PhaseRow row = require_row(migration, "complete");
  const int64_t v = static_cast<int64_t>(migration.version);
  if (row.phase == "complete") {
    refuse("refusing to complete " + migration.label() + ", nothing was changed: it is already complete");
  }
  if (row.phase != "expanded") {
    refuse("refusing to complete " + migration.label() + ", nothing was changed: its phase is " + row.phase +
           (row.phase == "backfilling" ? "; `migrator backfill " + std::to_string(migration.version) + "` finishes it"
            : row.phase == "expanding" ? "; `migrator up` resumes its expand (an index step), then backfills"
            : row.phase == "aborted"   ? "; `migrator up` expands it anew"
                                       : std::string()));
  }
  bool has_backfill = false;
  {
    pqxx::read_transaction tx(*connection_);
    has_backfill = tx.exec_params1(
                         "SELECT jsonb_array_length(plan->'backfill') > 0 FROM migrator.expand_phases "
                         "WHERE version = $1",
                         v)[0]
                       .as<bool>();
  }
  if (has_backfill && !backfill_done(*connection_, version_text(migration))) {
    refuse("refusing to complete " + migration.label() +
           ", nothing was changed: its backfill is not done; `migrator "
           "backfill " +
           std::to_string(migration.version) + "` finishes it");
  }
  {
    nlohmann::json stored = stored_plan(*connection_, migration);
    pqxx::read_transaction tx(*connection_);
    if (stored.contains("drops")) {  // a plan stored by an earlier release has none
      std::vector<std::string> blockers = complete_blockers(tx, stored.at("drops"), v);
      if (!blockers.empty()) {
        refuse("refusing to complete " + migration.label() + ", nothing was changed: what it drops has dependents, " +
               "which would make it fail: " + some_of(blockers, 5) +
               "; drop them, or redefine them over the new version's columns, then complete");
      }
    }
    std::vector<std::string> mine =
        text_array(tx.exec_params1("SELECT version_schemas FROM migrator.expand_phases WHERE version = $1", v)[0]);
    std::vector<std::string> outside = version_schema_dependents(tx, older_version_schemas(tx, v, mine));
    if (!outside.empty()) {
      refuse("refusing to complete " + migration.label() + ", nothing was changed: it drops the version schemas of " +
             "the migrations completed before it, and objects outside them depend on them: " + some_of(outside, 5) +
             "; drop them or redefine them over the tables, then complete");
    }
  }
  Declarative declarative = parse_declarative(migration.declarative_yaml, migration.declarative_path().string());
  if (declarative.requires_flag) check_flag(migration, *declarative.requires_flag);
}

void PhaseRunner::check_flag(const Migration& migration, const FlagGate& gate) {
  std::string refusal = "refusing to complete " + migration.label() + ", nothing was changed: ";
  std::string asked = " (requires_flag at " + gate.where + ")";
  pqxx::read_transaction tx(*connection_);
  if (!tx.exec1("SELECT to_regclass('rollout.flag_configs') IS NOT NULL AND to_regclass('rollout.plan_stages') IS NOT "
                "NULL")[0]
           .as<bool>()) {
    refuse(refusal + "it requires flag '" + gate.flag + "'" + asked +
           ", but the pg_rollout extension (rollout.flag_configs, version 1.1 or later) is not installed in this "
           "database; CREATE EXTENSION pg_rollout, or remove requires_flag");
  }
  pqxx::row known = tx.exec_params1(
      "SELECT EXISTS (SELECT FROM rollout.flags WHERE key = $1), "
      "EXISTS (SELECT FROM rollout.environments WHERE name = $2), "
      "coalesce((SELECT string_agg(name, ', ' ORDER BY name) FROM rollout.environments), '')",
      gate.flag, gate.environment);
  if (!known[0].as<bool>()) {
    refuse(refusal + "flag '" + gate.flag + "' does not exist" + asked +
           "; create it (rollout.create_flag) or name an existing flag in requires_flag");
  }
  if (!known[1].as<bool>()) {
    refuse(refusal + "environment '" + gate.environment + "' does not exist" + asked + "; rollout.environments has " +
           known[2].as<std::string>());
  }
  // The fallthrough in effect now, as evaluation sees it at the transaction's start: the last plan
  // stage that has started, else flag_configs; what a user no rule, list or override matches gets.
  pqxx::result rows = tx.exec_params(
      "SELECT f.archived_at IS NOT NULL, c.enabled, "
      "coalesce(s.rollout_percentage, c.rollout_percentage)::float8, "
      "coalesce(array_to_string(CASE WHEN s.starts_at IS NULL THEN c.allowed_tiers ELSE s.allowed_tiers END, ', "
      "'), ''), "
      "coalesce(to_char(s.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') "
      "FROM rollout.flags f JOIN rollout.flag_configs c ON c.flag = f.key AND c.environment = $2 "
      "LEFT JOIN LATERAL (SELECT p.starts_at, p.rollout_percentage, p.allowed_tiers FROM rollout.plan_stages p "
      "  WHERE p.flag = f.key AND p.environment = $2 AND p.starts_at <= now() "
      "  ORDER BY p.starts_at DESC LIMIT 1) s ON true "
      "WHERE f.key = $1",
      gate.flag, gate.environment);
  if (rows.empty()) {
    refuse(refusal + "flag '" + gate.flag + "' has no configuration in environment '" + gate.environment + "'" + asked);
  }
  bool archived = rows[0][0].as<bool>();
  bool enabled = rows[0][1].as<bool>();
  double fallthrough = rows[0][2].as<double>();
  std::string tiers = rows[0][3].as<std::string>();
  std::string stage = rows[0][4].as<std::string>();
  // A rollout limited to tiers reaches an unknown share of all users: it counts as none of them.
  double percentage = archived || !enabled || !tiers.empty() ? 0.0 : fallthrough;
  if (percentage < gate.percentage) {
    std::vector<std::string> why;
    if (archived) why.push_back("archived");
    if (!enabled) why.push_back("switched off");
    if (!tiers.empty()) {
      std::ostringstream limited;
      limited << fallthrough << "% limited to tiers " << tiers;
      why.push_back(limited.str());
    }
    if (!stage.empty()) why.push_back("plan stage since " + stage);
    std::string reasons;
    for (const std::string& w : why) reasons += (reasons.empty() ? "" : "; ") + w;
    std::ostringstream message;
    message << refusal << "flag '" << gate.flag << "' is rolled out to " << percentage << "% in '" << gate.environment
            << "'" << (reasons.empty() ? "" : " (" + reasons + ")") << ", below the " << gate.percentage
            << "% it requires" << asked
            << "; raise its fallthrough rollout for every tier (rollout.set_rollout, rollout.set_plan, "
               "rollout.set_enabled) and run complete again";
    refuse(message.str());
  }
}

PhaseRunner::PhaseStatements PhaseRunner::contract(const Migration& migration) {
  const int64_t v = static_cast<int64_t>(migration.version);
  nlohmann::json stored;
  std::vector<std::string> older_schemas;
  std::vector<std::string> mine;
  {
    pqxx::read_transaction tx(*connection_);
    pqxx::row r = tx.exec_params1("SELECT plan, version_schemas FROM migrator.expand_phases WHERE version = $1", v);
    stored = nlohmann::json::parse(r[0].as<std::string>());
    mine = text_array(r[1]);
    older_schemas = older_version_schemas(tx, v, mine);
  }
  PhaseStatements contract;
  for (const std::string& schema : older_schemas) {
    contract.transactional.emplace_back("DROP SCHEMA IF EXISTS " + quote_ident(schema) + " CASCADE");
  }
  for (const PlannedStatement& s : lock_views_first(statements_from(stored.at("complete")), version_text(migration))) {
    (s.concurrent            ? contract.concurrent
     : only_validates(s.sql) ? contract.validations
                             : contract.transactional)
        .push_back(s);
  }
  return contract;
}

std::vector<DryRunScript> PhaseRunner::complete_dry_run_scripts(const Migration& migration) {
  if (drops_pending(migration)) {
    PhaseStatements c = contract(migration);
    return {phase_script(migration, "complete", {&c.concurrent})};
  }
  check_complete(migration);
  PhaseStatements c = contract(migration);
  return {phase_script(migration, "complete", {&c.validations, &c.transactional, &c.concurrent})};
}

std::vector<DryRunScript> PhaseRunner::abort_dry_run_scripts(const Migration& migration,
                                                             std::vector<std::string>* left_alone) {
  PhaseStatements c = abort_statements(migration);
  if (left_alone != nullptr) {
    for (const std::string& index : c.left_alone) {
      left_alone->push_back("abort would leave alone " + index + ", an index of the name " + migration.label() +
                            " gives that its expand did not build");
    }
  }
  return {phase_script(migration, "abort", {&c.concurrent, &c.transactional})};
}

bool PhaseRunner::drops_pending(const Migration& migration) {
  std::map<uint64_t, PhaseRow> rows = phases();
  auto found = rows.find(migration.version);
  return found != rows.end() && found->second.phase == "complete" && !found->second.error.empty() &&
         found->second.checksum == migration.checksum;
}

// The index drops complete runs after its transaction, each committed alone: where one failed the
// migration is complete with that error kept, and `complete` runs the drops again (an index
// already gone is passed over; one a failed drop left invalid is dropped).
void PhaseRunner::run_complete_drops(const Migration& migration, const std::vector<PlannedStatement>& drops) {
  const int64_t v = static_cast<int64_t>(migration.version);
  const std::string prefix = "DROP INDEX CONCURRENTLY ";
  try {
    for (const PlannedStatement& statement : drops) {
      if (statement.sql.rfind(prefix, 0) == 0) {
        std::string index = statement.sql.substr(prefix.size());
        if (index.rfind("IF EXISTS ", 0) == 0) index = index.substr(10);
        pqxx::read_transaction tx(*connection_);
        bool gone = tx.exec_params1("SELECT to_regclass($1) IS NULL", index)[0].as<bool>();
        tx.commit();
        if (gone) continue;
      }
      run_concurrent(*connection_, options_, "complete of " + migration.label(), statement);
    }
  } catch (const Error& e) {
    keep_phase_error(*connection_, migration, e.what());
    throw Error(e.code(), std::string(e.what()) + "\n" + migration.label() +
                              " is complete (its contract transaction committed) but that index drop did not "
                              "finish: `migrator complete " +
                              std::to_string(migration.version) + "` runs the drops again");
  }
  pqxx::work tx(*connection_);
  tx.exec_params("UPDATE migrator.expand_phases SET error = '', changed_at = now() WHERE version = $1", v);
  tx.commit();
}

void PhaseRunner::complete(const Migration& migration) {
  if (drops_pending(migration)) {
    auto start = std::chrono::steady_clock::now();
    recording_failure(*connection_, migration, "complete", start,
                      [&] { run_complete_drops(migration, contract(migration).concurrent); });
    record_history(*connection_, migration, "complete", "applied", ms_since(start), "its index drops finished");
    out_ << "completed " << migration.label() << " (" << ms_since(start) << " ms): its index drops finished"
         << std::endl;
    return;
  }
  check_complete(migration);  // expanded, backfill done, file unchanged, flag gate
  const int64_t v = static_cast<int64_t>(migration.version);
  PhaseStatements c = contract(migration);
  auto start = std::chrono::steady_clock::now();
  recording_failure(*connection_, migration, "complete", start, [&] {
    // The scans first, each in a short transaction that blocks no reader or writer; a constraint
    // validated here stays valid (new writes are checked), so SET NOT NULL in the contract transaction
    // reads the check instead of the table.
    for (const PlannedStatement& statement : c.validations) {
      run_transaction(*connection_, options_, "complete of " + migration.label(), {statement}, nullptr);
    }
    run_transaction(
        *connection_, options_, "complete of " + migration.label(), c.transactional,
        [&](pqxx::work& tx) {
          int64_t ms = ms_since(start);
          tx.exec_params(
              "UPDATE migrator.expand_phases SET phase = 'complete', error = '', changed_at = now() "
              "WHERE version = $1",
              v);
          tx.exec_params(
              "INSERT INTO migrator.schema_migrations (version, name, checksum, execution_ms, directory) "
              "VALUES ($1, $2, $3, $4, $5)",
              v, migration.name, migration.checksum, ms, migration.label());
          insert_history(tx, migration, "complete", "applied", ms, "contracted; applied");
        },
        true);
    run_complete_drops(migration, c.concurrent);
  });
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  out_ << "completed " << migration.label() << " (" << ms << " ms)" << std::endl;
}

PhaseRunner::PhaseStatements PhaseRunner::abort_statements(const Migration& migration) {
  PhaseRow row = require_row(migration, "abort");
  if (row.phase == "complete" || row.phase == "aborted") {
    refuse("refusing to abort " + migration.label() + ", nothing was changed: it is already " + row.phase);
  }
  {
    pqxx::read_transaction tx(*connection_);
    std::vector<std::string> outside = version_schema_dependents(
        tx, text_array(tx.exec_params1("SELECT version_schemas FROM migrator.expand_phases WHERE version = $1",
                                       static_cast<int64_t>(migration.version))[0]));
    if (!outside.empty()) {
      refuse("refusing to abort " + migration.label() + ", nothing was changed: it drops its version schema, and " +
             "objects outside it depend on it: " + some_of(outside, 5) + "; drop them or redefine them, then abort");
    }
  }
  nlohmann::json stored = stored_plan(*connection_, migration);
  const std::optional<nlohmann::json> recorded = recorded_indexes(*connection_, migration);
  PhaseStatements statements;
  for (const PlannedStatement& s : statements_from(stored.at("abort"))) {
    const TableName& index = s.built_index;
    if (recorded && !index.table.empty()) {
      std::optional<FoundRelation> found = find_relation(*connection_, index);
      if (!found) continue;
      // One left invalid is expand's build that a stop cut short.
      if (!built_by_expand(*recorded, index, *found) && !(found->index && !found->valid)) {
        statements.left_alone.push_back(index.key());
        continue;
      }
    }
    (s.concurrent ? statements.concurrent : statements.transactional).push_back(s);
  }
  return statements;
}

void PhaseRunner::abort(const Migration& migration) {
  PhaseStatements statements = abort_statements(migration);
  auto start = std::chrono::steady_clock::now();
  recording_failure(*connection_, migration, "abort", start, [&] {
    size_t dropped = 0;
    try {
      for (const PlannedStatement& s : statements.concurrent) {
        run_concurrent(*connection_, options_, "abort of " + migration.label(), s);
        if (!s.built_index.table.empty()) record_index(*connection_, migration, s.built_index, "");
        ++dropped;
      }
      abort_transaction(migration, statements, start);
    } catch (const Error& e) {
      if (dropped == 0) throw;
      // The index drops ran (and committed) before what failed: the migration is back to an
      // expand whose index steps are not all built, which `up` resumes and abort finishes.
      std::string v = std::to_string(migration.version);
      std::string what = e.what();
      const std::string undone = "rolled back, nothing of it remains";
      if (auto at = what.find(undone); at != std::string::npos) {
        what.replace(at, undone.size(), "that transaction rolled back");
      }
      std::string error = what + "\n" + migration.label() + "'s abort had dropped " + std::to_string(dropped) +
                          " of its " + std::to_string(statements.concurrent.size()) +
                          " indexes (concurrently, before that): it is expanding again; `migrator abort " + v +
                          "` once the cause is mended, or `migrator up` builds them again";
      keep_phase_error(*connection_, migration, what, "expanding");
      throw Error(e.code(), error);
    }
  });
  int64_t ms = ms_since(start);
  out_ << "aborted " << migration.label() << " (" << ms << " ms): what its expand added is gone";
  if (!statements.left_alone.empty()) {
    out_ << "; left alone " << some_of(statements.left_alone, 5) << ", which expand did not build";
  }
  out_ << std::endl;
}

void PhaseRunner::abort_transaction(const Migration& migration, const PhaseStatements& statements,
                                    std::chrono::steady_clock::time_point start) {
  const int64_t v = static_cast<int64_t>(migration.version);
  {
    run_transaction(
        *connection_, options_, "abort of " + migration.label(), statements.transactional, [&](pqxx::work& tx) {
          std::string detail = "what its expand added is gone";
          if (!statements.left_alone.empty()) {
            detail += "; left alone " + some_of(statements.left_alone, 5) + ", which expand did not build";
          }
          insert_history(tx, migration, "abort", "reverted", ms_since(start), detail);
          tx.exec_params(
              "UPDATE migrator.expand_phases SET phase = 'aborted', error = '', changed_at = now() "
              "WHERE version = $1",
              v);
          // A later expand of the same migration backfills anew: its checkpoints go with the abort.
          for (const char* table : {"migrator.backfill_progress"}) {
            if (tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", std::string(table))[0].as<bool>()) {
              tx.exec_params(std::string("DELETE FROM ") + table + " WHERE version = $1", version_text(migration));
            }
          }
        });
  }
}

}  // namespace migrator::expand
