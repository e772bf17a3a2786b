#include "migrator/backups/postgres_backups.h"

#include <pqxx/pqxx>

#include <chrono>

#include "migrator/backups/backup_files.h"
#include "migrator/error.h"
#include "migrator/version.h"

namespace migrator {
namespace fs = std::filesystem;

namespace {

// migrator.history's checks are widened to allow `values` next to whatever they allow already
// (kept as a union, so this and other upgrades of the same checks can run in any order).
std::string widen_check(const std::string& constraint, const std::string& column, const std::string& values) {
  return "DO $$\nDECLARE def text; vals text[];\nBEGIN\n"
         "  SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint\n"
         "   WHERE conrelid = 'migrator.history'::regclass AND conname = '" +
         constraint +
         "';\n"
         "  vals := ARRAY(SELECT DISTINCT v FROM (\n"
         "     SELECT (regexp_matches(coalesce(def, ''), '''([a-z_]+)''', 'g'))[1] AS v\n"
         "     UNION SELECT unnest(ARRAY[" +
         values +
         "])) s ORDER BY v);\n"
         "  IF def IS NULL OR EXISTS (SELECT FROM unnest(ARRAY[" +
         values +
         "]) w WHERE def NOT LIKE '%''' || w || '''%') THEN\n"
         "    ALTER TABLE migrator.history DROP CONSTRAINT IF EXISTS " +
         constraint +
         ";\n"
         "    EXECUTE format('ALTER TABLE migrator.history ADD CONSTRAINT " +
         constraint + " CHECK (" + column +
         " IN (%s))', (SELECT string_agg(quote_literal(v), ', ') FROM unnest(vals) v));\n"
         "  END IF;\nEND $$";
}

// pg_dump runs this much nicer than the migrator: compressing a large dump takes a core for
// seconds, which the application's sessions need more (the server's COPY is not affected).
constexpr int kBackupNiceIncrement = 10;

constexpr const char* kCreateBackups = R"sql(
CREATE TABLE IF NOT EXISTS migrator.backups (
  id bigserial PRIMARY KEY,
  file text NOT NULL,
  size bigint NOT NULL,
  sha256 text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  by text NOT NULL DEFAULT session_user,
  reason text NOT NULL
))sql";

constexpr const char* kSelectBackups =
    "SELECT file, size, sha256, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), by, reason "
    "FROM migrator.backups ORDER BY created_at DESC, id DESC";

BackupRecord record_from(const pqxx::row& row) {
  BackupRecord record;
  record.file = row[0].as<std::string>();
  record.size = row[1].as<int64_t>();
  record.sha256 = row[2].as<std::string>();
  record.created_at = row[3].as<std::string>();
  record.by = row[4].as<std::string>();
  record.reason = row[5].as<std::string>();
  return record;
}

std::string one_line(const std::exception& e) {
  std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

}  // namespace

struct PostgresBackups::Session {
  explicit Session(const std::string& conninfo) : connection(conninfo) {}
  pqxx::connection connection;
};

PostgresBackups::PostgresBackups(std::string conninfo, BackupOptions options)
    : conninfo_(std::move(conninfo)), options_(std::move(options)) {
  try {
    session_ = std::make_unique<Session>(conninfo_);
  } catch (const std::exception& e) {
    throw Error(ExitCode::kDatabase, "cannot connect to PostgreSQL: " + one_line(e));
  }
}

PostgresBackups::~PostgresBackups() = default;

void PostgresBackups::ensure_state() {
  try {
    pqxx::work tx(session_->connection);
    tx.exec("SET LOCAL client_min_messages = warning");
    tx.exec("CREATE SCHEMA IF NOT EXISTS migrator");
    tx.exec(kCreateBackups);
    if (tx.exec1("SELECT to_regclass('migrator.history') IS NOT NULL")[0].as<bool>()) {
      tx.exec(widen_check("history_action_check", "action", "'up', 'down', 'baseline', 'resolve', 'backup', 'restore'"));
      tx.exec(widen_check("history_outcome_check", "outcome",
                          "'applied', 'reverted', 'failed', 'interrupted', 'completed'"));
    }
    tx.commit();
  } catch (const std::exception& e) {
    throw Error(ExitCode::kBackupFailed, "cannot create migrator.backups: " + one_line(e));
  }
}

BackupRecord PostgresBackups::backup(const std::string& reason, const fs::path& out) {
  ensure_state();
  auto start = std::chrono::steady_clock::now();
  std::string database;
  try {
    pqxx::read_transaction tx(session_->connection);
    database = tx.exec1("SELECT current_database()")[0].as<std::string>();
  } catch (const std::exception& e) {
    throw Error(ExitCode::kBackupFailed, "backup: " + one_line(e));
  }
  fs::path file = out.empty() ? new_backup_path(options_.directory, database, ".dump") : fs::absolute(out);
  if (!out.empty() && fs::exists(file)) {
    throw Error(ExitCode::kBackupFailed, "backup: " + file.string() + " exists already; nothing was written");
  }
  std::string errors;
  std::string pg_dump = pg_program(options_.pg_bindir, "pg_dump");
  int status = run_program(pg_dump,
                           {"--format=custom", "--compress=" + std::to_string(options_.compression), "--file",
                            file.string(), "--dbname", conninfo_},
                           &errors, kBackupNiceIncrement);
  if (status != 0) {
    remove_backup_files(file);
    throw Error(ExitCode::kBackupFailed, "backup failed: " + pg_dump + " exited " + std::to_string(status) + ": " +
                                             errors + "; nothing was kept");
  }
  std::string pg_restore = pg_program(options_.pg_bindir, "pg_restore");
  status = run_program(pg_restore, {"--list", file.string()}, &errors);
  if (status != 0) {
    remove_backup_files(file);
    throw Error(ExitCode::kBackupFailed, "backup failed verification (" + pg_restore + " --list exited " +
                                             std::to_string(status) + ": " + errors + "); the file was removed");
  }
  BackupRecord record;
  record.file = file.string();
  record.size = static_cast<int64_t>(fs::file_size(file));
  record.sha256 = sha256_of_file(file);
  record.reason = reason;
  try {
    write_sidecar(file, record.sha256);
    int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    pqxx::work tx(session_->connection);
    pqxx::row row = tx.exec_params1(
        "INSERT INTO migrator.backups (file, size, sha256, reason) VALUES ($1, $2, $3, $4) "
        "RETURNING to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), by",
        record.file, record.size, record.sha256, record.reason);
    record.created_at = row[0].as<std::string>();
    record.by = row[1].as<std::string>();
    if (tx.exec1("SELECT to_regclass('migrator.history') IS NOT NULL")[0].as<bool>()) {
      tx.exec_params(
          "INSERT INTO migrator.history (version, name, action, outcome, duration_ms, migrator_version, detail) "
          "VALUES ((SELECT coalesce(max(version), 0) FROM migrator.schema_migrations), $1, 'backup', 'completed', $2, "
          "$3, $4)",
          file.filename().string(), ms, std::string(kMigratorVersion),
          reason + "; " + record.file + " (" + std::to_string(record.size) + " bytes, sha256 " + record.sha256 + ")");
    }
    tx.commit();
  } catch (const Error&) {
    remove_backup_files(file);
    throw;
  } catch (const std::exception& e) {
    remove_backup_files(file);
    throw Error(ExitCode::kBackupFailed, "backup: cannot record it: " + one_line(e) + "; the file was removed");
  }
  apply_retention();
  return record;
}

void PostgresBackups::apply_retention() {
  std::vector<BackupRecord> records = list();
  for (size_t i = static_cast<size_t>(options_.keep); i < records.size(); ++i) {
    remove_backup_files(records[i].file);
    try {
      pqxx::work tx(session_->connection);
      tx.exec_params("DELETE FROM migrator.backups WHERE file = $1", records[i].file);
      tx.commit();
    } catch (const std::exception& e) {
      throw Error(ExitCode::kBackupFailed, "backup retention: " + one_line(e));
    }
  }
}

std::vector<BackupRecord> PostgresBackups::list() {
  std::vector<BackupRecord> records;
  try {
    pqxx::read_transaction tx(session_->connection);
    if (!tx.exec1("SELECT to_regclass('migrator.backups') IS NOT NULL")[0].as<bool>()) return records;
    for (const pqxx::row& row : tx.exec(kSelectBackups)) records.push_back(record_from(row));
  } catch (const std::exception& e) {
    throw Error(ExitCode::kDatabase, "cannot read migrator.backups: " + one_line(e));
  }
  return records;
}

BackupRecord PostgresBackups::restore(const fs::path& given, const std::function<void()>& confirm) {
  fs::path file = fs::absolute(given);
  BackupRecord record = check_backup_file(file, list(), "migrator.backups");
  confirm();

  // What happened since the backup stays on record: the history and the backup records, read now
  // and added back after the restore (which brings the tables back as they were at the backup).
  std::string history;
  std::string backups;
  try {
    pqxx::read_transaction tx(session_->connection);
    if (tx.exec1("SELECT to_regclass('migrator.history') IS NOT NULL")[0].as<bool>()) {
      history =
          tx.exec1("SELECT coalesce(json_agg(h ORDER BY id), '[]')::text FROM migrator.history h")[0].as<std::string>();
    }
    if (tx.exec1("SELECT to_regclass('migrator.backups') IS NOT NULL")[0].as<bool>()) {
      backups =
          tx.exec1("SELECT coalesce(json_agg(b ORDER BY id), '[]')::text FROM migrator.backups b")[0].as<std::string>();
    }
  } catch (const std::exception& e) {
    throw Error(ExitCode::kDatabase, "restore: cannot read the state: " + one_line(e) + "; nothing was changed");
  }

  auto start = std::chrono::steady_clock::now();
  std::string errors;
  std::string pg_restore = pg_program(options_.pg_bindir, "pg_restore");
  int status = run_program(
      pg_restore, {"--clean", "--if-exists", "--single-transaction", "--dbname", conninfo_, file.string()}, &errors);
  if (status != 0) {
    while (!errors.empty() && (errors.back() == ';' || errors.back() == ' ')) errors.pop_back();
    std::string hint = errors.find("cannot drop schema") != std::string::npos
                           ? " (objects created after the backup in a schema the backup holds keep pg_restore "
                             "--clean from dropping that schema: drop them first)"
                           : "";
    throw Error(ExitCode::kBackupFailed, "restore failed: " + pg_restore + " exited " + std::to_string(status) + ": " +
                                             errors + hint + "; it ran in one transaction, so nothing was changed");
  }
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  ensure_state();
  try {
    pqxx::work tx(session_->connection);
    if (!history.empty() && tx.exec1("SELECT to_regclass('migrator.history') IS NOT NULL")[0].as<bool>()) {
      tx.exec_params(
          "INSERT INTO migrator.history SELECT * FROM json_populate_recordset(NULL::migrator.history, $1::json) r "
          "WHERE r.id > (SELECT coalesce(max(id), 0) FROM migrator.history)",
          history);
      tx.exec(
          "SELECT setval(pg_get_serial_sequence('migrator.history', 'id'), max(id)) FROM migrator.history "
          "HAVING max(id) IS NOT NULL");
    }
    if (!backups.empty()) {
      tx.exec_params(
          "INSERT INTO migrator.backups SELECT * FROM json_populate_recordset(NULL::migrator.backups, $1::json) r "
          "WHERE NOT EXISTS (SELECT FROM migrator.backups b WHERE b.file = r.file)",
          backups);
      tx.exec(
          "SELECT setval(pg_get_serial_sequence('migrator.backups', 'id'), max(id)) FROM migrator.backups "
          "HAVING max(id) IS NOT NULL");
    }
    if (tx.exec1("SELECT to_regclass('migrator.history') IS NOT NULL")[0].as<bool>()) {
      tx.exec_params(
          "INSERT INTO migrator.history (version, name, action, outcome, duration_ms, migrator_version, detail) "
          "VALUES ((SELECT coalesce(max(version), 0) FROM migrator.schema_migrations), $1, 'restore', 'completed', "
          "$2, $3, $4)",
          file.filename().string(), ms, std::string(kMigratorVersion),
          "restored " + file.string() + " (sha256 " + record.sha256 + "); the state is the backup's");
    }
    tx.commit();
  } catch (const std::exception& e) {
    throw Error(ExitCode::kBackupFailed, "restore: the database was restored, but recording it failed: " + one_line(e));
  }
  return record;
}

}  // namespace migrator
