// The PostgreSQL dry run: every script of the plan in one transaction, rolled back at the end. After
// each statement pg_locks (this backend's relation locks, joined to pg_class) and pg_class's
// relfilenodes are read inside the same transaction, so the report shows the locks the statement
// added and the tables it rewrote (a rewrite gives a table a new relfilenode).
#include <pqxx/pqxx>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "migrator/drivers/postgres_driver.h"
#include "migrator/error.h"
#include "migrator/interrupt.h"
#include "migrator/source/sql_script.h"

namespace migrator {
namespace {

// Relations outside the system schemas: the catalog rows a DDL statement writes are locked too,
// but they say nothing about what the application will wait for.
constexpr const char* kUserRelation =
    "n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_toast%'";

struct Relation {
  std::string name;
  int64_t relfilenode = 0;
  bool table = false;  // an ordinary table or materialized view (which a rewrite replaces)
};

std::map<int64_t, Relation> read_relations(pqxx::work& tx) {
  std::map<int64_t, Relation> relations;
  for (const pqxx::row& row :
       tx.exec(std::string("SELECT c.oid::bigint, format('%I.%I', n.nspname, c.relname), c.relfilenode::bigint, "
                           "c.relkind IN ('r', 'm') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE ") +
               kUserRelation)) {
    relations[row[0].as<int64_t>()] = Relation{row[1].as<std::string>(), row[2].as<int64_t>(), row[3].as<bool>()};
  }
  return relations;
}

// (relation oid, mode) of every relation lock this backend holds.
std::set<std::pair<int64_t, std::string>> read_locks(pqxx::work& tx) {
  std::set<std::pair<int64_t, std::string>> locks;
  for (const pqxx::row& row : tx.exec(
           std::string("SELECT l.relation::bigint, l.mode FROM pg_locks l "
                       "LEFT JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted "
                       "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                       "AND (c.oid IS NULL OR (") +
           kUserRelation + "))")) {
    locks.emplace(row[0].as<int64_t>(), row[1].as<std::string>());
  }
  return locks;
}

// last_value of every sequence this role can read (empty text: never used).
std::map<std::string, std::string> read_sequences(pqxx::connection_base& connection) {
  std::map<std::string, std::string> sequences;
  pqxx::read_transaction tx(connection);
  for (const pqxx::row& row :
       tx.exec("SELECT format('%I.%I', schemaname, sequencename), coalesce(last_value::text, '') FROM pg_sequences "
               "WHERE has_sequence_privilege(format('%I.%I', schemaname, sequencename), 'SELECT')")) {
    sequences[row[0].as<std::string>()] = row[1].as<std::string>();
  }
  return sequences;
}

std::string one_line(const pqxx::sql_error& e) {
  std::string what = e.what();
  std::string first = what.substr(0, what.find('\n'));
  const std::string severity = "ERROR:  ";
  if (first.compare(0, severity.size(), severity) == 0) first = "ERROR: " + first.substr(severity.size());
  if (!e.sqlstate().empty()) first += " (SQLSTATE " + e.sqlstate() + ")";
  return first;
}

// Takes the same session advisory lock as lock() without creating the state schema (a dry run on
// a database the migrator never touched must leave it so).
void take_lock(pqxx::connection_base& connection, int wait_seconds) {
  auto start = std::chrono::steady_clock::now();
  pqxx::nontransaction tx(connection);
  while (!tx.exec1("SELECT pg_try_advisory_lock(" + std::to_string(PostgresDriver::kLockKey) + ")")[0].as<bool>()) {
    if (interrupt_requested()) {
      throw Error(ExitCode::kInterrupted, "interrupted while waiting for the migration lock; nothing was changed");
    }
    auto waited = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
    if (waited >= wait_seconds) {
      throw Error(ExitCode::kLockHeld, std::string("another run holds the migration lock") +
                                           (wait_seconds > 0 ? "; gave up after " + std::to_string(wait_seconds) + " s"
                                                             : "; --wait SECONDS waits for it"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

DryRunReport PostgresDriver::dry_run(const std::function<std::vector<DryRunScript>()>& plan) {
  DryRunReport report;
  report.database = "postgresql";
  pqxx::connection_base& connection = this->connection();
  try {
    take_lock(connection, options_.wait_seconds);
    std::vector<DryRunScript> scripts = plan();
    std::map<std::string, std::string> sequences_before = read_sequences(connection);
    {
      pqxx::work tx(connection);
      tx.exec("SET LOCAL lock_timeout = " + std::to_string(options_.lock_timeout_ms));
      if (options_.statement_timeout_ms > 0) {
        tx.exec("SET LOCAL statement_timeout = " + std::to_string(options_.statement_timeout_ms));
      }
      // The reading queries' own locks (on pg_locks, pg_class, ...) are held from here on: only what
      // a statement adds to this set is reported for it.
      std::map<int64_t, Relation> relations = read_relations(tx);
      std::set<std::pair<int64_t, std::string>> held = read_locks(tx);
      for (size_t next = 0; next < scripts.size(); ++next) {
        if (scripts[next].later) {
          std::vector<DryRunScript> planned = scripts[next].later(tx);
          scripts.erase(scripts.begin() + static_cast<std::ptrdiff_t>(next));
          scripts.insert(scripts.begin() + static_cast<std::ptrdiff_t>(next), planned.begin(), planned.end());
          if (next == scripts.size()) break;
        }
        const DryRunScript& script = scripts[next];
        const Migration& migration = *script.migration;
        bool up = script.action == "up";
        bool phase = !script.path.empty();  // a declarative migration's phase
        std::string path = phase ? script.path : (up ? migration.up_path() : migration.down_path()).string();
        const std::string& sql = phase ? script.sql : up ? migration.up_sql : migration.down_sql;
        DryRunMigration entry{migration.label(), script.action, {}};
        bool savepoint = phase && script.action == "abort";
        if (savepoint) tx.exec("SAVEPOINT migrator_dry_run_abort");
        for (const Statement& statement : split_postgres_script(sql, path)) {
          DryRunStatement result;
          result.file = path;
          result.line = statement.line;
          result.text = statement_preview(statement.text);
          result.not_executed_reason = why_not_in_transaction(statement.text);
          if (!result.not_executed_reason.empty()) {
            result.executed = false;
            entry.statements.push_back(std::move(result));
            continue;
          }
          if (interrupt_requested()) {
            throw Error(ExitCode::kInterrupted, "interrupted: the dry run was rolled back, nothing was changed");
          }
          auto start = std::chrono::steady_clock::now();
          pqxx::result executed;
          try {
            executed = tx.exec(statement.text);
          } catch (const pqxx::sql_error& e) {
            if (interrupt_requested()) {
              throw Error(ExitCode::kInterrupted, "interrupted: the dry run was rolled back, nothing was changed");
            }
            report.error = path + ":" + std::to_string(statement.line) + ": " + one_line(e);
            report.migrations.push_back(std::move(entry));
            break;
          }
          result.duration_ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
          result.command_tag = command_tag_of(statement.text);
          static const std::set<std::string> kCounted = {"INSERT", "UPDATE", "DELETE", "MERGE"};
          if (kCounted.count(result.command_tag) != 0) {
            result.rows = static_cast<int64_t>(executed.affected_rows());
          } else if (result.command_tag == "SELECT") {
            result.rows = static_cast<int64_t>(executed.size());
          }
          std::map<int64_t, Relation> relations_after = read_relations(tx);
          for (const auto& [oid, relation] : relations_after) {
            auto before = relations.find(oid);
            if (relation.table && before != relations.end() && before->second.relfilenode != relation.relfilenode) {
              result.rewritten.push_back(relation.name);
            }
          }
          for (const auto& lock : read_locks(tx)) {
            if (held.count(lock) != 0) continue;
            held.insert(lock);
            std::string name;
            if (relations_after.count(lock.first) != 0) {
              name = relations_after[lock.first].name;
            } else if (relations.count(lock.first) != 0) {
              name = relations[lock.first].name + " (dropped)";
            } else {
              continue;  // a TOAST relation or the transient heap of a rewrite, gone with the statement
            }
            result.locks.push_back(DryRunLock{name, lock.second});
          }
          // Names of relations dropped later stay known.
          for (auto& [oid, relation] : relations_after) relations[oid] = relation;
          entry.statements.push_back(std::move(result));
        }
        if (!report.error.empty()) break;
        if (savepoint) {
          tx.exec("ROLLBACK TO SAVEPOINT migrator_dry_run_abort");
          held = read_locks(tx);  // the abort's locks went with the savepoint
        }
        report.migrations.push_back(std::move(entry));
      }
      tx.abort();
    }
    std::map<std::string, std::string> sequences_after = read_sequences(connection);
    for (const auto& [name, before] : sequences_before) {
      auto after = sequences_after.find(name);
      if (after != sequences_after.end() && after->second != before) {
        report.sequences_advanced.push_back(DryRunSequence{name, before, after->second});
      }
    }
  } catch (const Error&) {
    throw;
  } catch (const pqxx::sql_error& e) {
    throw Error(ExitCode::kDatabase, "dry run: " + one_line(e));
  } catch (const pqxx::broken_connection& e) {
    throw Error(ExitCode::kDatabase, std::string("dry run: lost the database connection: ") + e.what());
  }
  return report;
}

}  // namespace migrator
