#include "migrator/drivers/postgres_driver.h"

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <thread>

#include "migrator/error.h"
#include "migrator/interrupt.h"
#include "migrator/source/sql_script.h"
#include "migrator/version.h"

namespace migrator {
namespace {

constexpr int64_t fnv1a64(const char* text) {
  uint64_t hash = 14695981039346656037ull;
  for (; *text != '\0'; ++text) {
    hash ^= static_cast<unsigned char>(*text);
    hash *= 1099511628211ull;
  }
  return static_cast<int64_t>(hash);
}

constexpr const char* kCreateState = R"sql(
CREATE SCHEMA IF NOT EXISTS migrator;
CREATE TABLE IF NOT EXISTS migrator.schema_migrations (
  version bigint PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT session_user,
  execution_ms bigint NOT NULL
);
-- Upgrades in place a state table created by an earlier migrator.
ALTER TABLE migrator.schema_migrations ADD COLUMN IF NOT EXISTS directory text;
-- A migration run outside a transaction is 'running' from before its first statement until it is
-- recorded (a run that died leaves it so), and 'failed' if a statement failed; `action` is the
-- direction of that run, `ran` the lines of the statements that ran, `error` why it stopped.
ALTER TABLE migrator.schema_migrations
  ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'running', 'failed')),
  ADD COLUMN IF NOT EXISTS action text NOT NULL DEFAULT 'up' CHECK (action IN ('up', 'down')),
  ADD COLUMN IF NOT EXISTS ran text NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS error text NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS migrator.history (
  id bigserial PRIMARY KEY,
  version bigint NOT NULL,
  name text NOT NULL,
  action text NOT NULL CHECK (action IN ('up', 'down', 'baseline', 'resolve', 'backup', 'restore', 'expand',
                                         'backfill', 'complete', 'abort')),
  outcome text NOT NULL CHECK (outcome IN ('applied', 'reverted', 'failed', 'interrupted', 'completed')),
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  by text NOT NULL DEFAULT session_user,
  duration_ms bigint NOT NULL,
  migrator_version text NOT NULL,
  detail text NOT NULL DEFAULT ''
);
-- Upgrades in place a history created before `baseline`, `resolve` or the expand-contract phases
-- were actions.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'migrator.history'::regclass
                 AND conname = 'history_action_check' AND pg_get_constraintdef(oid) LIKE '%''abort''%') THEN
    ALTER TABLE migrator.history DROP CONSTRAINT IF EXISTS history_action_check;
    ALTER TABLE migrator.history ADD CONSTRAINT history_action_check
      CHECK (action IN ('up', 'down', 'baseline', 'resolve', 'backup', 'restore', 'expand', 'backfill', 'complete',
                        'abort'));
  END IF;
END $$;
CREATE OR REPLACE FUNCTION migrator.history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'migrator.history is append-only' USING ERRCODE = '55000',
    HINT = 'The history records every migration attempt; add rows, never change them.';
END $$;
CREATE OR REPLACE TRIGGER history_is_append_only BEFORE UPDATE OR DELETE ON migrator.history
  FOR EACH ROW EXECUTE FUNCTION migrator.history_is_append_only();
-- The phase of each declarative (expand-contract) migration and the plan made at its expand
-- (migrator/expand/phases.h). Before this script made it, the expand phase created it itself, in
-- this same shape.
CREATE TABLE IF NOT EXISTS migrator.expand_phases (
  version bigint PRIMARY KEY,
  name text NOT NULL,
  directory text NOT NULL,
  checksum text NOT NULL,
  phase text NOT NULL CHECK (phase IN ('expanding', 'backfilling', 'expanded', 'complete', 'aborted')),
  tables text[] NOT NULL DEFAULT '{}',
  version_schemas text[] NOT NULL DEFAULT '{}',
  plan jsonb NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text NOT NULL DEFAULT session_user,
  error text NOT NULL DEFAULT ''
);
-- The indexes expand built, each quoted name with its pg_get_indexdef: `up` (resuming) and abort
-- take an index of such a name for the migration's own only when it is the one recorded. NULL for
-- an expand of an earlier release, which kept no record.
ALTER TABLE migrator.expand_phases ADD COLUMN IF NOT EXISTS built_indexes jsonb;
)sql";

// Marks a state schema that kCreateState made: the schema's comment names the script's hash, so a
// later run whose script is the same (and whose tables have the shape it gives them) need not run it.
std::string state_marker() { return "migrator state, schema script " + std::to_string(fnv1a64(kCreateState)); }

// True when the state is as kCreateState leaves it: the marker, and the columns, check and trigger it
// adds (in case an older release's shape was restored under a newer marker).
constexpr const char* kStateIsCurrent =
    "SELECT coalesce(obj_description(to_regnamespace('migrator'), 'pg_namespace') = $1, false) "
    "AND (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('migrator.schema_migrations') "
    "     AND attname IN ('directory', 'state', 'action', 'ran', 'error') AND NOT attisdropped) = 5 "
    "AND EXISTS (SELECT FROM pg_constraint WHERE conrelid = to_regclass('migrator.history') "
    "     AND conname = 'history_action_check' AND pg_get_constraintdef(oid) LIKE '%''abort''%') "
    "AND EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass('migrator.history') "
    "     AND tgname = 'history_is_append_only') "
    "AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('migrator.expand_phases') "
    "     AND attname = 'built_indexes' AND NOT attisdropped)";

constexpr const char* kInsertHistory =
    "INSERT INTO migrator.history (version, name, action, outcome, duration_ms, migrator_version, detail) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)";

// A server error as one line: "ERROR: <message> (SQLSTATE xxxxx)". Sets *statement_line to the
// "LINE n:" the server reported within the statement, or leaves it alone.
std::string describe(const pqxx::sql_error& e, int* statement_line) {
  std::string what = e.what();
  std::string first = what.substr(0, what.find('\n'));
  const std::string severity = "ERROR:  ";
  if (first.compare(0, severity.size(), severity) == 0) first = "ERROR: " + first.substr(severity.size());
  size_t line = what.find("\nLINE ");
  if (line != std::string::npos) {
    int n = std::atoi(what.c_str() + line + 6);
    if (n > 0) *statement_line = n;
  }
  if (!e.sqlstate().empty()) first += " (SQLSTATE " + e.sqlstate() + ")";
  return first;
}

}  // namespace

const int64_t PostgresDriver::kLockKey = fnv1a64("migrator");

struct PostgresDriver::Session {
  explicit Session(const std::string& conninfo) : connection(conninfo) {}
  pqxx::connection connection;
};

PostgresDriver::PostgresDriver(const std::string& conninfo, DriverOptions options) : options_(options) {
  try {
    session_ = std::make_unique<Session>(conninfo);
  } catch (const std::exception& e) {
    std::string message = e.what();
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw Error(ExitCode::kDatabase, "cannot connect to PostgreSQL: " + message);
  }
}

PostgresDriver::~PostgresDriver() { unlock(); }

void PostgresDriver::unlock() noexcept {
  if (!locked_ || !session_) return;
  locked_ = false;
  try {
    pqxx::nontransaction tx(session_->connection);
    tx.exec("SELECT pg_advisory_unlock(" + std::to_string(kLockKey) + ")");
  } catch (const std::exception&) {
    // The connection is gone, and the lock with its backend.
  }
}

pqxx::connection_base& PostgresDriver::connection() { return session_->connection; }

void PostgresDriver::cancel() {
  try {
    session_->connection.cancel_query();
  } catch (const std::exception&) {
    // Nothing running, or the server is gone: either way there is nothing left to cancel.
  }
}

void PostgresDriver::lock() {
  if (locked_) return;  // held since an earlier call, with the state table in place
  pqxx::connection& connection = session_->connection;
  // A bigint advisory lock shows in pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid 1.
  const uint64_t key = static_cast<uint64_t>(kLockKey);
  const std::string holder_query =
      "SELECT format('pid %s, user %s, application %L, since %s', a.pid, a.usename, a.application_name, "
      "to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) "
      "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
      // Advisory locks are per database: the same key held in another database is not our holder.
      "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND l.classid = " +
      std::to_string(key >> 32) + " AND l.objid = " + std::to_string(key & 0xFFFFFFFFu) + " AND l.objsubid = 1";
  auto start = std::chrono::steady_clock::now();
  int64_t reported_seconds = 0;
  try {
    pqxx::nontransaction tx(connection);
    // If this process dies (kill -9) while a statement runs, the server notices within a second and
    // aborts it, rolling back the migration's transaction and releasing the advisory lock, instead of
    // finishing a long statement for nobody while the next run finds the lock held.
    tx.exec("SET client_connection_check_interval = 1000");
    while (!tx.exec1("SELECT pg_try_advisory_lock(" + std::to_string(kLockKey) + ")")[0].as<bool>()) {
      if (interrupt_requested()) {
        throw Error(ExitCode::kInterrupted, "interrupted while waiting for the migration lock; nothing was changed");
      }
      int64_t waited =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
      auto holder = [&] {
        pqxx::result row = tx.exec(holder_query);
        return row.empty() ? std::string("gone") : row[0][0].as<std::string>();
      };
      if (waited >= options_.wait_seconds) {
        throw Error(ExitCode::kLockHeld,
                    "another run holds the migration lock (" + holder() + ")" +
                        (options_.wait_seconds > 0 ? "; gave up after " + std::to_string(options_.wait_seconds) + " s"
                                                   : std::string("; --wait SECONDS waits for it")));
      }
      if (waited > reported_seconds && options_.notices != nullptr) {
        reported_seconds = waited;
        *options_.notices << "waiting for the migration lock, held by another run (" << holder() << "): " << waited
                          << " s" << std::endl;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const Error&) {
    throw;
  } catch (const pqxx::sql_error& e) {
    if (interrupt_requested()) {
      throw Error(ExitCode::kInterrupted, "interrupted while waiting for the migration lock; nothing was changed");
    }
    int ignored = 0;
    throw Error(ExitCode::kDatabase, "cannot take the migration lock: " + describe(e, &ignored));
  } catch (const std::exception& e) {
    throw Error(ExitCode::kDatabase, std::string("cannot take the migration lock: ") + e.what());
  }
  ensure_postgres_state(connection);
  locked_ = true;
}

void ensure_postgres_state(pqxx::connection_base& connection) {
  try {
    // The script takes ACCESS EXCLUSIVE locks and rewrites catalog rows: run it only when the state
    // is not already what it makes (one read on every later run).
    bool current = false;
    {
      pqxx::nontransaction check(connection);
      current = check.exec_params1(kStateIsCurrent, state_marker())[0].as<bool>();
    }
    if (!current) {
      pqxx::work tx(connection);
      tx.exec("SET LOCAL client_min_messages = warning");  // no "already exists, skipping" notices
      tx.exec(kCreateState);
      tx.exec("COMMENT ON SCHEMA migrator IS " + tx.quote(state_marker()));
      tx.commit();
    }
  } catch (const pqxx::sql_error& e) {
    int ignored = 0;
    throw Error(ExitCode::kDatabase, "cannot create the migrator's state (schema migrator): " + describe(e, &ignored));
  }
}

bool PostgresDriver::check(const std::string& script, const std::string& path, bool no_transaction) {
  return plan_postgres_script(script, path, no_transaction).outside_transaction;
}

std::vector<AppliedMigration> PostgresDriver::applied() { return rows(false); }

std::vector<AppliedMigration> PostgresDriver::failed() { return rows(true); }

std::vector<AppliedMigration> PostgresDriver::rows(bool failed) {
  std::vector<AppliedMigration> rows;
  try {
    pqxx::read_transaction tx(session_->connection);
    if (!locked_ && !tx.exec1("SELECT to_regclass('migrator.schema_migrations') IS NOT NULL")[0].as<bool>()) {
      return rows;
    }
    const char* columns =
        // Under the lock the state has every column (lock() made sure); otherwise to_jsonb also reads a
        // state table from before the columns existed (status never upgrades), at a cost per row.
        locked_ ? "coalesce(directory, ''), state, action, ran, error FROM migrator.schema_migrations "
                  "WHERE (state <> 'applied') = $1 ORDER BY version"
                : "coalesce(j->>'directory', ''), coalesce(j->>'state', 'applied'), coalesce(j->>'action', 'up'), "
                  "coalesce(j->>'ran', ''), coalesce(j->>'error', '') FROM migrator.schema_migrations m, to_jsonb(m) j "
                  "WHERE (coalesce(j->>'state', 'applied') <> 'applied') = $1 ORDER BY version";
    pqxx::result result = tx.exec_params(
        std::string("SELECT version, name, checksum, "
                    "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), applied_by, "
                    "execution_ms, ") +
            columns,
        failed);
    for (const pqxx::row& row : result) {
      AppliedMigration applied;
      applied.version = static_cast<uint64_t>(row[0].as<int64_t>());
      applied.name = row[1].as<std::string>();
      applied.checksum = row[2].as<std::string>();
      applied.applied_at = row[3].as<std::string>();
      applied.applied_by = row[4].as<std::string>();
      applied.execution_ms = row[5].as<int64_t>();
      applied.directory = row[6].as<std::string>();
      applied.state = row[7].as<std::string>();
      applied.action = row[8].as<std::string>();
      applied.ran = row[9].as<std::string>();
      applied.error = row[10].as<std::string>();
      rows.push_back(std::move(applied));
    }
  } catch (const pqxx::sql_error& e) {
    int ignored = 0;
    throw Error(ExitCode::kDatabase, "cannot read migrator.schema_migrations: " + describe(e, &ignored));
  }
  return rows;
}

std::vector<InvalidIndex> PostgresDriver::invalid_indexes() {
  std::vector<InvalidIndex> indexes;
  try {
    pqxx::read_transaction tx(session_->connection);
    for (const pqxx::row& row :
         tx.exec("SELECT n.nspname, c.relname, t.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                 "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class t ON t.oid = i.indrelid "
                 "WHERE NOT i.indisvalid ORDER BY 1, 2")) {
      indexes.push_back(InvalidIndex{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
  } catch (const pqxx::sql_error& e) {
    int ignored = 0;
    throw Error(ExitCode::kDatabase, "cannot read pg_index: " + describe(e, &ignored));
  }
  return indexes;
}

std::vector<HistoryEntry> PostgresDriver::history() {
  std::vector<HistoryEntry> rows;
  try {
    pqxx::read_transaction tx(session_->connection);
    if (!tx.exec1("SELECT to_regclass('migrator.history') IS NOT NULL")[0].as<bool>()) return rows;
    for (const pqxx::row& row : tx.exec(
             "SELECT version, name, action, outcome, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
             "by, duration_ms, migrator_version, detail FROM migrator.history ORDER BY id")) {
      HistoryEntry entry;
      entry.version = static_cast<uint64_t>(row[0].as<int64_t>());
      entry.name = row[1].as<std::string>();
      entry.action = row[2].as<std::string>();
      entry.outcome = row[3].as<std::string>();
      entry.at = row[4].as<std::string>();
      entry.by = row[5].as<std::string>();
      entry.duration_ms = row[6].as<int64_t>();
      entry.migrator_version = row[7].as<std::string>();
      entry.detail = row[8].as<std::string>();
      rows.push_back(std::move(entry));
    }
  } catch (const pqxx::sql_error& e) {
    int ignored = 0;
    throw Error(ExitCode::kDatabase, "cannot read migrator.history: " + describe(e, &ignored));
  }
  return rows;
}

void PostgresDriver::record_failure(const Migration& migration, const std::string& action, const std::string& outcome,
                                    const std::string& detail) noexcept {
  try {
    pqxx::work tx(session_->connection);
    tx.exec_params(kInsertHistory, static_cast<int64_t>(migration.version), migration.name, action, outcome, 0,
                   std::string(kMigratorVersion), detail);
    tx.commit();
  } catch (const std::exception&) {
    // The connection may be gone (that may be why the migration failed): the error itself is reported.
  }
}

namespace {

// A statement gave up waiting for a lock (SQLSTATE 55P03): the migration may be retried.
struct LockTimedOut {
  std::string message;  // "<path>:<line>: ERROR: canceling statement due to lock timeout (SQLSTATE 55P03)"
};

struct Timeouts {
  int64_t lock_ms;
  int64_t statement_ms;
};

// How a migration's run is recorded: one statement writing its state and history rows (see
// PostgresDriver::apply and revert), given the milliseconds its statements took. Plain SQL with quoted
// literals rather than parameters, so it can share a round trip with the COMMIT after it.
struct Record {
  std::function<std::string(int64_t ms)> sql;
  // The error when the state row the record changes is not there, which the statement reports by
  // violating migrator.history's NOT NULL on version; empty if it cannot happen.
  std::string missing;
};

// Executes `sql`, which starts with the record's statement; Error(kDatabase) with `record.missing` if
// the state row was not there.
void exec_record(pqxx::transaction_base& tx, const Record& record, const std::string& sql) {
  try {
    tx.exec(sql);
  } catch (const pqxx::sql_error& e) {
    if (!record.missing.empty() && e.sqlstate() == "23502" &&
        std::string(e.what()).find("of relation \"history\"") != std::string::npos) {
      throw Error(ExitCode::kDatabase, record.missing);
    }
    throw;
  }
}

// Runs `statements` of the script at `path`, then the record of the milliseconds they took, in one
// transaction with the given timeouts; without a record, the transaction is rolled back. Throws
// LockTimedOut (after rolling back) when a lock wait timed out.
//
// Round trips: the migration's N statements take N + 1 (N + 2 without statements or a record), where
// BEGIN, each statement, the record and COMMIT one by one would take N + 3. BEGIN and the SET LOCAL
// timeouts travel with the first statement, and the record with the COMMIT. Each statement still runs
// alone in its round trip, so an error names it, with its line, and an interruption the statement it
// cancelled.
int64_t run_in_transaction(pqxx::connection& connection, const std::vector<Statement>& statements,
                           const std::string& path, Timeouts timeouts, const Record* record,
                           ProgressListener* progress = nullptr) {
  ProgressScope progress_scope(progress);
  try {
    pqxx::nontransaction tx(connection);
    // Rolls the transaction block back on every way out but the COMMIT (a failed statement leaves it
    // aborted on the server). Never throws: the connection may be gone.
    struct Block {
      pqxx::nontransaction& tx;
      bool open = false;
      ~Block() {
        if (!open) return;
        try {
          tx.exec("ROLLBACK");
        } catch (const std::exception&) {
          // The connection is gone: the server rolls back itself.
        }
      }
    } block{tx};
    // LOCAL: the settings end with the transaction, also behind a transaction-mode pooler. With no
    // newline in them, the "LINE n" of an error in the first statement still counts within it.
    std::string begin = "BEGIN; SET LOCAL lock_timeout = " + std::to_string(timeouts.lock_ms) + "; ";
    if (timeouts.statement_ms > 0) {
      begin += "SET LOCAL statement_timeout = " + std::to_string(timeouts.statement_ms) + "; ";
    }
    auto start = std::chrono::steady_clock::now();
    if (statements.empty()) {
      block.open = true;
      tx.exec(begin);
      begin.clear();
    }
    auto interrupted = [&](const Statement& statement) {
      return Error(ExitCode::kInterrupted, "interrupted: " + path + ":" + std::to_string(statement.line) +
                                               " was cancelled and the migration rolled back, nothing of it "
                                               "remains; the migration lock is released");
    };
    for (size_t i = 0; i < statements.size(); ++i) {
      const Statement& statement = statements[i];
      if (progress != nullptr) progress->statement(path, i + 1, statements.size());
      if (interrupt_requested()) throw interrupted(statement);
      try {
        block.open = true;  // from the first round trip on: its BEGIN may run even if its statement fails
        tx.exec(begin.empty() ? statement.text : begin + statement.text);
        begin.clear();
      } catch (const pqxx::sql_error& e) {
        if (interrupt_requested()) throw interrupted(statement);
        int statement_line = 1;
        std::string message = describe(e, &statement_line);
        std::string where = path + ":" + std::to_string(statement.line + statement_line - 1) + ": ";
        if (e.sqlstate() == "55P03") throw LockTimedOut{where + message};
        throw Error(ExitCode::kMigrationFailed, where + message);
      }
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    if (record != nullptr) {
      exec_record(tx, *record, record->sql(ms) + "; COMMIT");
      block.open = false;
    }  // without a record, the block rolls back as it goes out of scope
    return ms;
  } catch (const Error&) {
    throw;
  } catch (const pqxx::sql_error& e) {
    if (interrupt_requested()) {
      throw Error(ExitCode::kInterrupted,
                  "interrupted: " + path + " was rolled back, nothing of it remains; the migration lock is released");
    }
    int ignored = 0;
    throw Error(ExitCode::kMigrationFailed, path + ": " + describe(e, &ignored));
  } catch (const pqxx::broken_connection& e) {
    throw Error(ExitCode::kDatabase, path + ": lost the database connection: " + e.what());
  }
}

// Runs the statements in one transaction with the migration's timeouts, retrying with backoff when a
// lock wait times out (see DriverOptions).
int64_t run_with_retries(pqxx::connection& connection, const DriverOptions& options, const Migration& migration,
                         const std::vector<Statement>& statements, const std::string& path, const Record& record) {
  Timeouts timeouts{migration.options.lock_timeout_ms.value_or(options.lock_timeout_ms),
                    migration.options.statement_timeout_ms.value_or(options.statement_timeout_ms)};
  int64_t backoff_ms = options.retry_backoff_ms;
  for (int attempt = 1;; ++attempt) {
    try {
      return run_in_transaction(connection, statements, path, timeouts, &record, options.progress);
    } catch (const LockTimedOut& timed_out) {
      if (attempt > options.lock_retries) {
        throw Error(ExitCode::kMigrationFailed,
                    timed_out.message + "; gave up after " + std::to_string(attempt) + " attempts (lock_timeout " +
                        std::to_string(timeouts.lock_ms) +
                        " ms): a long transaction holds a lock this migration needs, see pg_locks and "
                        "pg_stat_activity; nothing of the migration remains");
      }
      if (options.notices != nullptr) {
        *options.notices << timed_out.message << "; rolled back, retry " << attempt << " of " << options.lock_retries
                         << " in " << backoff_ms << " ms" << std::endl;
      }
      for (int64_t slept = 0; slept < backoff_ms && !interrupt_requested(); slept += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(50, backoff_ms - slept)));
      }
      if (interrupt_requested()) {
        throw Error(ExitCode::kInterrupted, "interrupted: " + path + " was rolled back, nothing of it remains");
      }
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 60000);
    }
  }
}

// Runs `statements` one by one outside a transaction block: each in autocommit, or inside the script's
// own BEGIN ... COMMIT. The timeouts are session settings here (SET LOCAL needs a transaction block),
// reset when the script ends or fails. That is safe because the migrator always owns its session: its
// advisory lock is a session lock, so it must connect directly or through a session-mode pooler, never
// a transaction-mode one where a session SET would leak to other clients.
//
// The state row says 'running' (with the `action`) before the first statement and, after each one,
// which statements ran (`ran`: their lines), each write committed at once, so a run killed at any
// point leaves a trace. A failure marks it 'failed' with the error; then the version is refused until
// `resolve`. On success the record replaces the marker in a transaction of its own. A statement run in
// autocommit whose lock wait times out is retried alone, like a transactional migration (see
// DriverOptions), unless it is one PostgreSQL refuses in a transaction block.
int64_t run_outside_transaction(pqxx::connection& connection, const Migration& migration, const std::string& action,
                                const std::vector<Statement>& statements, const std::string& path, Timeouts timeouts,
                                const Record& record, const DriverOptions& options) {
  ProgressListener* progress = options.progress;
  ProgressScope progress_scope(progress);
  const int64_t version = static_cast<int64_t>(migration.version);
  size_t done = 0;
  size_t done_before_block = 0;  // statements that stay in effect if the script's open block rolls back
  bool in_block = false;         // inside the script's own BEGIN ... COMMIT
  auto lines = [&] {
    std::string text;
    for (size_t i = 0; i < done; ++i) text += (i == 0 ? "" : ", ") + std::to_string(statements[i].line);
    return text;
  };
  auto ran = [&] {
    if (done == 0) return std::string("no statement of it ran");
    return std::to_string(done) + " of " + std::to_string(statements.size()) +
           " statements ran outside a transaction and remain (lines " + lines() + ")";
  };
  // Marks the migration failed; never throws (the connection may be gone: the marker then stays 'running').
  auto mark_failed = [&](const std::string& error) {
    // Tried again a few times: after SIGINT the signal watcher keeps cancelling whatever runs for a while.
    for (int attempt = 0; attempt < 5; ++attempt) {
      try {
        pqxx::work tx(connection);
        tx.exec_params(
            "UPDATE migrator.schema_migrations SET state = 'failed', ran = $2, error = $3 WHERE version = $1", version,
            lines(), error);
        tx.commit();
        return;
      } catch (const pqxx::broken_connection&) {
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  };
  auto start = std::chrono::steady_clock::now();
  std::optional<Error> failure;  // set inside, recorded once the nontransaction has ended (one at a time)
  try {
    pqxx::nontransaction tx(connection);
    if (action == "up") {
      tx.exec_params("DELETE FROM migrator.schema_migrations WHERE version = $1 AND state <> 'applied'", version);
      tx.exec_params(
          "INSERT INTO migrator.schema_migrations (version, name, checksum, execution_ms, directory, state, action) "
          "VALUES ($1, $2, $3, 0, $4, 'running', 'up')",
          version, migration.name, migration.checksum, migration.label());
    } else {
      tx.exec_params(
          "UPDATE migrator.schema_migrations SET state = 'running', action = $2, ran = '', error = '' "
          "WHERE version = $1",
          version, action);
    }
    tx.exec("SET lock_timeout = " + std::to_string(timeouts.lock_ms));
    if (timeouts.statement_ms > 0) tx.exec("SET statement_timeout = " + std::to_string(timeouts.statement_ms));
    auto reset = [&] {
      if (in_block) {
        tx.exec("ROLLBACK");  // the script's own block, aborted by the failure
        done = done_before_block;
      }
      in_block = false;
      tx.exec("RESET lock_timeout; RESET statement_timeout");
    };
    for (const Statement& statement : statements) {
      if (progress != nullptr) progress->statement(path, done + 1, statements.size());
      std::string where = path + ":" + std::to_string(statement.line);
      if (interrupt_requested()) {
        reset();
        failure = Error(ExitCode::kInterrupted, "interrupted before " + where + ": " + ran());
      } else {
        // A statement run on its own (autocommit) that gave up waiting for a lock did nothing, so it is
        // run again after a backoff, as a transactional migration is. Not inside the script's own block
        // (the failure aborts the block), nor a statement PostgreSQL runs in several transactions of its
        // own (CREATE INDEX CONCURRENTLY and the others refused in a block may leave work behind).
        const bool retryable = !in_block && statement.refused_in_transaction.empty();
        int64_t backoff_ms = options.retry_backoff_ms;
        for (int attempt = 1;; ++attempt) {
          try {
            tx.exec(statement.text);
            break;
          } catch (const pqxx::sql_error& e) {
            bool interrupted = interrupt_requested();
            bool timed_out = e.sqlstate() == "55P03";
            if (timed_out && retryable && !interrupted && attempt <= options.lock_retries) {
              if (options.notices != nullptr) {
                int line = 1;
                std::string message = describe(e, &line);
                *options.notices << path << ":" << statement.line + line - 1 << ": " << message
                                 << "; the statement did nothing, retry " << attempt << " of " << options.lock_retries
                                 << " in " << backoff_ms << " ms" << std::endl;
              }
              for (int64_t slept = 0; slept < backoff_ms && !interrupt_requested(); slept += 50) {
                std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(50, backoff_ms - slept)));
              }
              backoff_ms = std::min<int64_t>(backoff_ms * 2, 60000);
              if (!interrupt_requested()) continue;
              interrupted = true;
            }
            try {
              reset();
            } catch (const std::exception&) {
              // The connection is gone; the error below says what ran.
            }
            int statement_line = 1;
            std::string message = describe(e, &statement_line);
            if (timed_out && retryable && attempt > 1) {
              message += "; gave up after " + std::to_string(attempt) + " attempts (lock_timeout " +
                         std::to_string(timeouts.lock_ms) + " ms)";
            }
            failure = interrupted ? Error(ExitCode::kInterrupted, "interrupted: " + where + " was cancelled; " + ran())
                                  : Error(ExitCode::kMigrationFailed,
                                          path + ":" + std::to_string(statement.line + statement_line - 1) + ": " +
                                              message + "; " + ran());
            break;
          }
        }
      }
      if (failure) break;
      const std::string& kind = statement.transaction_kind;
      if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") {
        in_block = true;
        done_before_block = done;
      }
      if ((kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK") && !statement.chained) in_block = false;
      ++done;
      // Inside the script's own block this update commits or rolls back with the block, as its statements do.
      tx.exec_params("UPDATE migrator.schema_migrations SET ran = $2 WHERE version = $1", version, lines());
    }
    if (!failure) reset();
  } catch (const pqxx::broken_connection& e) {
    throw Error(ExitCode::kDatabase, path + ": lost the database connection: " + e.what() + "; " + ran());
  } catch (const pqxx::sql_error& e) {
    int ignored = 0;
    failure = Error(ExitCode::kMigrationFailed, path + ": " + describe(e, &ignored) + "; " + ran());
  }
  if (failure) {
    mark_failed(failure->what());
    throw *failure;
  }
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  try {
    pqxx::work tx(connection);
    if (action == "up") {
      tx.exec_params("DELETE FROM migrator.schema_migrations WHERE version = $1 AND state <> 'applied'", version);
    }
    exec_record(tx, record, record.sql(ms));
    tx.commit();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ExitCode::kDatabase, path + ": every statement ran, but recording the migration failed: " + e.what());
  }
  return ms;
}

// Runs the script as `plan` says: in one transaction with retries, or outside a transaction.
int64_t run_planned(pqxx::connection& connection, const DriverOptions& options, const Migration& migration,
                    const std::string& action, const ScriptPlan& plan, const std::string& path, const Record& record) {
  if (!plan.outside_transaction) return run_with_retries(connection, options, migration, plan.statements, path, record);
  Timeouts timeouts{migration.options.lock_timeout_ms.value_or(options.lock_timeout_ms),
                    migration.options.statement_timeout_ms.value_or(options.statement_timeout_ms)};
  return run_outside_transaction(connection, migration, action, plan.statements, path, timeouts, record, options);
}

}  // namespace

namespace {

// The record of an apply: the state row and the history row in one statement. The arguments are
// SQL: literals, or the parameters $1 to $6 of a prepared statement.
std::string apply_record(const std::string& version, const std::string& name, const std::string& checksum,
                         const std::string& ms, const std::string& directory, const std::string& migrator_version) {
  return "WITH state AS (INSERT INTO migrator.schema_migrations (version, name, checksum, execution_ms, directory) "
         "VALUES (" +
         version + ", " + name + ", " + checksum + ", " + ms + ", " + directory +
         ")) INSERT INTO migrator.history (version, name, action, outcome, duration_ms, migrator_version, detail) "
         "VALUES (" +
         version + ", " + name + ", 'up', 'applied', " + ms + ", " + migrator_version + ", '')";
}

// The record of a revert: one statement, whose history row takes its version from the state row
// deleted, so without one it violates NOT NULL (Record::missing). The arguments as above ($1 to $4).
std::string revert_record(const std::string& version, const std::string& name, const std::string& ms,
                          const std::string& migrator_version) {
  return "WITH state AS (DELETE FROM migrator.schema_migrations WHERE version = " + version +
         " RETURNING version) INSERT INTO migrator.history (version, name, action, outcome, duration_ms, "
         "migrator_version, detail) VALUES ((SELECT version FROM state), " +
         name + ", 'down', 'reverted', " + ms + ", " + migrator_version + ", '')";
}

// Whether a script deallocates prepared statements (DEALLOCATE, DISCARD).
bool deallocates_prepared(const ScriptPlan& plan) {
  return std::any_of(plan.statements.begin(), plan.statements.end(), [](const Statement& s) {
    return s.node == "DeallocateStmt" || s.node == "DiscardStmt";
  });
}

}  // namespace

// The records are prepared once per session and run with EXECUTE in the COMMIT's round trip: the
// server parses and plans a record once per run, not once per migration. A script that deallocates
// prepared statements gets its record spelled out, and the next migration prepares them again.
bool PostgresDriver::record_prepared(const std::string& name, const std::string& statement, bool deallocates,
                                     bool* prepared, const std::string& path) {
  if (deallocates) {
    apply_record_prepared_ = false;
    revert_record_prepared_ = false;
    return false;
  }
  if (*prepared) return true;
  try {
    pqxx::nontransaction tx(session_->connection);
    tx.exec("PREPARE " + name + " " + statement);
  } catch (const pqxx::sql_error& e) {
    // Already there (SQLSTATE 42P05): a script before deallocated other prepared statements only.
    if (e.sqlstate() != "42P05") {
      int ignored = 0;
      throw Error(ExitCode::kDatabase, path + ": cannot prepare the record of the migration: " + describe(e, &ignored));
    }
  }
  *prepared = true;
  return true;
}

int64_t PostgresDriver::apply(const Migration& migration) {
  std::string path = migration.up_path().string();
  ScriptPlan plan = plan_postgres_script(migration.up_sql, path, migration.options.no_transaction);
  pqxx::connection& connection = session_->connection;
  bool prepared = record_prepared(
      "migrator_apply_record",
      "(bigint, text, text, bigint, text, text) AS " + apply_record("$1", "$2", "$3", "$4", "$5", "$6"),
      deallocates_prepared(plan), &apply_record_prepared_, path);
  const std::string version = std::to_string(migration.version);
  const std::string name = connection.quote(migration.name);
  const std::string checksum = connection.quote(migration.checksum);
  const std::string directory = connection.quote(migration.label());
  const std::string migrator_version = connection.quote(std::string(kMigratorVersion));
  Record record{[&](int64_t ms) {
                  if (!prepared) {
                    return apply_record(version, name, checksum, std::to_string(ms), directory, migrator_version);
                  }
                  return "EXECUTE migrator_apply_record(" + version + ", " + name + ", " + checksum + ", " +
                         std::to_string(ms) + ", " + directory + ", " + migrator_version + ")";
                },
                ""};
  return run_planned(connection, options_, migration, "up", plan, path, record);
}

int64_t PostgresDriver::revert(const Migration& migration) {
  std::string path = migration.down_path().string();
  ScriptPlan plan = plan_postgres_script(migration.down_sql, path, migration.options.no_transaction);
  pqxx::connection& connection = session_->connection;
  bool prepared = record_prepared("migrator_revert_record",
                                  "(bigint, text, bigint, text) AS " + revert_record("$1", "$2", "$3", "$4"),
                                  deallocates_prepared(plan), &revert_record_prepared_, path);
  const std::string version = std::to_string(migration.version);
  const std::string name = connection.quote(migration.name);
  const std::string migrator_version = connection.quote(std::string(kMigratorVersion));
  Record record{[&](int64_t ms) {
                  if (!prepared) return revert_record(version, name, std::to_string(ms), migrator_version);
                  return "EXECUTE migrator_revert_record(" + version + ", " + name + ", " + std::to_string(ms) + ", " +
                         migrator_version + ")";
                },
                migration.label() + " is not recorded as applied (changed concurrently?)"};
  return run_planned(connection, options_, migration, "down", plan, path, record);
}

void PostgresDriver::verify(const Migration& migration) {
  std::string path = migration.verify_path().string();
  std::vector<Statement> statements = split_postgres_script(migration.verify_sql, path);
  Timeouts timeouts{migration.options.lock_timeout_ms.value_or(options_.lock_timeout_ms),
                    migration.options.statement_timeout_ms.value_or(options_.statement_timeout_ms)};
  try {
    run_in_transaction(session_->connection, statements, path, timeouts, /*record=*/nullptr);
  } catch (const LockTimedOut& timed_out) {
    throw Error(ExitCode::kMigrationFailed, timed_out.message);
  }
}

void PostgresDriver::resolve(const Migration& migration, bool applied, const std::vector<InvalidIndex>& drop_indexes) {
  const int64_t version = static_cast<int64_t>(migration.version);
  try {
    for (const InvalidIndex& index : drop_indexes) {
      pqxx::nontransaction tx(session_->connection);  // DROP INDEX CONCURRENTLY refuses a transaction block
      tx.exec("DROP INDEX CONCURRENTLY IF EXISTS " + tx.quote_name(index.schema) + "." + tx.quote_name(index.name));
    }
    pqxx::work tx(session_->connection);
    pqxx::result row = tx.exec_params(
        "SELECT action, ran, error FROM migrator.schema_migrations WHERE version = $1 AND state <> 'applied' "
        "FOR UPDATE",
        version);
    if (row.empty()) {
      throw Error(ExitCode::kInvalidMigrations,
                  migration.label() + " is not recorded as failed (changed concurrently?)");
    }
    std::string detail = "was " + row[0][0].as<std::string>() + " outside a transaction; statements at lines " +
                         row[0][1].as<std::string>() + " ran; " + row[0][2].as<std::string>();
    if (applied) {
      tx.exec_params(
          "UPDATE migrator.schema_migrations SET state = 'applied', action = 'up', ran = '', error = '', "
          "name = $2, checksum = $3, directory = $4 WHERE version = $1",
          version, migration.name, migration.checksum, migration.label());
    } else {
      tx.exec_params("DELETE FROM migrator.schema_migrations WHERE version = $1", version);
    }
    tx.exec_params(kInsertHistory, version, migration.name, "resolve", applied ? "applied" : "reverted", 0,
                   std::string(kMigratorVersion), detail);
    tx.commit();
  } catch (const pqxx::sql_error& e) {
    int ignored = 0;
    throw Error(ExitCode::kDatabase, "cannot resolve " + migration.label() + ": " + describe(e, &ignored));
  } catch (const pqxx::broken_connection& e) {
    throw Error(ExitCode::kDatabase, "lost the database connection resolving " + migration.label() + ": " + e.what());
  }
}

void PostgresDriver::baseline(const std::vector<Migration>& migrations) {
  try {
    pqxx::work tx(session_->connection);
    for (const Migration& migration : migrations) {
      tx.exec_params(
          "INSERT INTO migrator.schema_migrations (version, name, checksum, execution_ms, directory) "
          "VALUES ($1, $2, $3, 0, $4)",
          static_cast<int64_t>(migration.version), migration.name, migration.checksum, migration.label());
      tx.exec_params(kInsertHistory, static_cast<int64_t>(migration.version), migration.name, "baseline", "applied", 0,
                     std::string(kMigratorVersion), "");
    }
    tx.commit();
  } catch (const pqxx::sql_error& e) {
    int ignored = 0;
    throw Error(ExitCode::kDatabase, "cannot record the baseline, nothing was recorded: " + describe(e, &ignored));
  } catch (const pqxx::broken_connection& e) {
    throw Error(ExitCode::kDatabase, std::string("lost the database connection during the baseline: ") + e.what());
  }
}

}  // namespace migrator
