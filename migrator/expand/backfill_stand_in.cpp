// STAND-IN (see backfill_stand_in.h): every job as one UPDATE in one transaction, then a row in
// migrator.backfill_stand_in_done. Not batched, not resumable, not throttled.
#include "migrator/expand/backfill_stand_in.h"

#include <chrono>

#include "migrator/error.h"

namespace migrator::expand {

BackfillResult run_backfill(pqxx::connection& conn, const std::vector<BackfillJob>& jobs, const BackfillOptions&,
                            BackfillObserver*) {
  BackfillResult result;
  auto start = std::chrono::steady_clock::now();
  try {
    pqxx::work tx(conn);
    tx.exec("SET LOCAL migrator.backfill = 'on'");
    tx.exec("CREATE TABLE IF NOT EXISTS migrator.backfill_stand_in_done (version text PRIMARY KEY)");
    for (const BackfillJob& job : jobs) {
      pqxx::result r = tx.exec("UPDATE " + tx.quote_name(job.schema) + "." + tx.quote_name(job.table) + " SET " +
                               job.assignments + (job.pending.empty() ? "" : " WHERE " + job.pending));
      result.rows += r.affected_rows();
      ++result.batches;
    }
    if (!jobs.empty()) {
      tx.exec_params("INSERT INTO migrator.backfill_stand_in_done VALUES ($1) ON CONFLICT DO NOTHING",
                     jobs.front().version);
    }
    tx.commit();
  } catch (const pqxx::sql_error& e) {
    throw Error(ExitCode::kMigrationFailed, std::string("backfill failed: ") + e.what());
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

bool backfill_done(pqxx::connection& conn, const std::string& version) {
  pqxx::read_transaction tx(conn);
  if (!tx.exec1("SELECT to_regclass('migrator.backfill_stand_in_done') IS NOT NULL")[0].as<bool>()) return false;
  return !tx.exec_params("SELECT 1 FROM migrator.backfill_stand_in_done WHERE version = $1", version).empty();
}

}  // namespace migrator::expand
