// The backfill of an expand phase: fills the new physical columns of rows that existed when the
// expand started, in keyset batches, each batch its own short transaction that also records a
// checkpoint, so a run killed anywhere resumes from the last committed batch and no batch is ever
// applied twice. Rows written after the expand need no backfill: expand's triggers keep them in
// sync, which is why the upper key bound is fixed when a job first starts and a job finishes under
// a steady insert load (pgroll's backfill chased new rows and could run forever).
//
// Throttling follows gh-ost and pt-online-schema-change: the batch size adapts so that each batch
// stays under a target duration, a batch that cannot get its locks quickly (short lock_timeout) is
// rolled back and retried with backoff instead of queueing other sessions behind it, and the run
// pauses while the server is loaded (active sessions, lock waiters, replica lag), reporting why.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <vector>

namespace migrator::expand {

struct BackfillJob {
  std::string version;  // migration version as on disk ("0007"); checkpoint key with schema.table
  std::string schema;   // physical table, unquoted
  std::string table;
  std::string assignments;  // SQL SET list over the row, e.g. "\"_migrator_new_price\" = (\"price\")::integer"
  std::string pending;      // SQL predicate of rows that still need it (empty: every row),
                            // e.g. "\"_migrator_new_price\" IS NULL AND \"price\" IS NOT NULL"
};

struct BackfillOptions {
  int64_t batch_rows = 10000;      // first batch size; then adapts
  int64_t target_batch_us = 200000;  // batch size adapts to keep each batch under this (µs)
  int64_t pause_ms = 0;            // least pause between batches
  double nice_ratio = 0;           // and a pause of this many times the last batch's duration
  int max_active_sessions = 0;     // >0: pause while more other sessions are active
  int max_lock_waiters = 0;        // >0: pause while more sessions wait on a lock
  int64_t max_replica_lag_ms = 0;  // >0: pause while a replica lags more
};

// What an observer is told after every batch and every second of a pause.
struct BackfillProgress {
  std::string schema, table;
  int64_t rows_done = 0, rows_total = 0;  // rows of the job's key range walked so far / in all
  double rows_per_second = 0, eta_seconds = 0;
  int64_t batch_rows = 0;  // the size of the next batch
  std::string paused_for;  // why the run waits ("4 active sessions > 2"); empty while it runs
};

class BackfillObserver {
 public:
  virtual ~BackfillObserver() = default;
  virtual void progress(const BackfillProgress& p) = 0;
  // Called once run_backfill() is over (returned or about to throw), before anything else is printed.
  virtual void done() {}
};

// rows: rows of the key ranges walked by this run's batches; batches: batches committed by this
// run; seconds: wall time of this run, of which paused_seconds it stood aside between batches
// (pause_ms and nice_ratio; not the waits for a quiet server); resumed: some job had a checkpoint
// from an earlier run.
struct BackfillResult {
  int64_t rows = 0, batches = 0;
  double seconds = 0, paused_seconds = 0;
  bool resumed = false;
};

// Runs every job to the end on `conn` (no transaction open): keyset batches by primary key (or
// a unique NOT NULL column set), each batch one short transaction that does
// SET LOCAL migrator.backfill = 'on', the UPDATE, and the checkpoint row in
// migrator.backfill_progress (created if missing); resumes from the last checkpoint; the upper
// key bound is fixed when a job first starts, so it finishes under insert load. Throws
// migrator::Error (kInvalidMigrations naming the table if it has no usable key; kMigrationFailed on
// SQL errors; kDatabase if the connection is lost; kInterrupted, with every committed batch kept,
// once interrupt_requested()).
BackfillResult run_backfill(pqxx::connection& conn, const std::vector<BackfillJob>& jobs,
                            const BackfillOptions& options, BackfillObserver* observer);

// Throws what run_backfill() would (kInvalidMigrations, naming the table) if the table has no key
// the backfill can walk in batches: checked before expand changes anything.
void require_backfill_key(pqxx::transaction_base& tx, const std::string& schema, const std::string& table);

// Whether every job of `version` has finished (false if never started).
bool backfill_done(pqxx::connection& conn, const std::string& version);

}  // namespace migrator::expand
