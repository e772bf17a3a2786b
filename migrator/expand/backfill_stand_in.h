// STAND-IN until helper "backfill"'s migrator/expand/backfill.h is merged: the same declarations as
// that shared contract, with a plain implementation (one UPDATE per job, in one transaction). At the
// merge, delete backfill_stand_in.{h,cpp} and include migrator/expand/backfill.h in phases.cpp.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <vector>

namespace migrator::expand {

struct BackfillJob {
  std::string version;
  std::string schema;
  std::string table;
  std::string assignments;
  std::string pending;
};
struct BackfillOptions {
  int64_t batch_rows = 10000;
  int64_t target_batch_ms = 200;
  int64_t pause_ms = 0;
  int max_active_sessions = 0;
  int max_lock_waiters = 0;
  int64_t max_replica_lag_ms = 0;
};
struct BackfillProgress {
  std::string schema, table;
  int64_t rows_done = 0, rows_total = 0;
  double rows_per_second = 0, eta_seconds = 0;
  int64_t batch_rows = 0;
  std::string paused_for;
};
class BackfillObserver {
 public:
  virtual ~BackfillObserver() = default;
  virtual void progress(const BackfillProgress& p) = 0;
};
struct BackfillResult {
  int64_t rows = 0, batches = 0;
  double seconds = 0;
  bool resumed = false;
};
BackfillResult run_backfill(pqxx::connection& conn, const std::vector<BackfillJob>& jobs,
                            const BackfillOptions& options, BackfillObserver* observer);
bool backfill_done(pqxx::connection& conn, const std::string& version);

}  // namespace migrator::expand
