#include "migrator/expand/backfill.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "migrator/error.h"
#include "migrator/interrupt.h"

namespace migrator::expand {

namespace {

using Clock = std::chrono::steady_clock;

// A batch waits at most this long for a lock before it is rolled back and retried, so a backfill
// never queues application sessions behind it (pgroll's complaint: a session lock_timeout lost
// behind a pooler; SET LOCAL cannot be lost).
constexpr int64_t kBatchLockTimeoutMs = 100;
constexpr int kBatchAttempts = 12;  // then the run fails; about 30 s of backoff in all
constexpr int64_t kFirstBackoffMs = 50;
constexpr int64_t kMaxBackoffMs = 5000;
constexpr int64_t kMinBatchRows = 10;
constexpr int64_t kMaxBatchRows = 1000000;
// Tables up to this size are counted exactly when a backfill starts; larger ones are estimated.
constexpr int64_t kExactCountBytes = 16 << 20;
constexpr int64_t kLoadPollMs = 100;      // how often a paused run looks at the server again
constexpr int64_t kPauseReportMs = 1000;  // how often a paused run tells its observer

struct KeyColumn {
  std::string name;    // unquoted
  std::string quoted;  // as an identifier in SQL
  std::string type;    // format_type(), for casting checkpointed text back
};

// One job's state while it runs: its key and its checkpoint.
struct JobState {
  const BackfillJob* job = nullptr;
  std::string qualified;  // "schema"."table"
  std::vector<KeyColumn> key;
  std::vector<std::string> last;   // empty: nothing done yet
  std::vector<std::string> upper;  // empty: the table was empty at the start
  int64_t rows_done = 0;
  int64_t rows_total = 0;
  bool finished = false;
  bool resumed = false;
};

std::string column_list(const std::vector<KeyColumn>& key, const char* suffix = "") {
  std::string list;
  for (size_t i = 0; i < key.size(); ++i) list += (i ? ", " : "") + key[i].quoted + suffix;
  return list;
}

// "(\"a\", \"b\")": the key as a row, for keyset comparisons, which a btree index on the key serves.
std::string key_row(const std::vector<KeyColumn>& key) { return "(" + column_list(key) + ")"; }

std::string literal_row(pqxx::transaction_base& tx, const std::vector<KeyColumn>& key,
                        const std::vector<std::string>& values) {
  std::string row = "(";
  for (size_t i = 0; i < key.size(); ++i) row += (i ? ", " : "") + tx.quote(values[i]) + "::" + key[i].type;
  return row + ")";
}

// "0007" -> "7", as the command line takes a version.
std::string unpadded(const std::string& version) {
  size_t first = version.find_first_not_of('0');
  return first == std::string::npos ? "0" : version.substr(first);
}

std::string text_array(pqxx::transaction_base& tx, const std::vector<std::string>& values) {
  if (values.empty()) return "NULL::text[]";
  std::string array = "ARRAY[";
  for (size_t i = 0; i < values.size(); ++i) array += (i ? ", " : "") + tx.quote(values[i]);
  return array + "]::text[]";
}

std::vector<std::string> parse_text_array(const pqxx::field& field) {
  std::vector<std::string> values;
  if (field.is_null()) return values;
  for (const auto& value : nlohmann::json::parse(field.c_str())) values.push_back(value.get<std::string>());
  return values;
}

std::vector<std::string> row_texts(const pqxx::row& row, size_t count) {
  std::vector<std::string> values;
  for (size_t i = 0; i < count; ++i) values.push_back(row[static_cast<int>(i)].c_str());
  return values;
}

std::string describe(const pqxx::sql_error& e) {
  std::string message = e.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (!e.sqlstate().empty()) message += " (SQLSTATE " + e.sqlstate() + ")";
  return message;
}

bool interruptible_sleep(Clock::duration pause) {
  auto until = Clock::now() + pause;
  while (Clock::now() < until) {
    if (interrupt_requested()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(20), until - Clock::now()));
  }
  return !interrupt_requested();
}

[[noreturn]] void throw_interrupted(const JobState& state) {
  throw Error(ExitCode::kInterrupted, "backfill of " + state.qualified + " interrupted after " +
                                          std::to_string(state.rows_done) + " of " + std::to_string(state.rows_total) +
                                          " rows; every committed batch is kept and a new run resumes from there");
}

// Runs that start at the same time make the table and their checkpoints one after the other
// (CREATE ... IF NOT EXISTS alone races on the catalog's unique indexes).
void lock_startup(pqxx::transaction_base& tx) {
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('migrator.backfill_progress'))");
}

void create_progress_table(pqxx::connection& conn) {
  pqxx::work tx(conn);
  lock_startup(tx);
  tx.exec(
      "CREATE SCHEMA IF NOT EXISTS migrator; "
      "CREATE TABLE IF NOT EXISTS migrator.backfill_progress ("
      " version text NOT NULL, schema_name text NOT NULL, table_name text NOT NULL,"
      " key_columns text[] NOT NULL,"
      " last_key text[],"                       // the last key of the last committed batch; NULL before the first
      " upper_key text[],"                      // the largest key when the job started; NULL: the table was empty
      " rows_done bigint NOT NULL DEFAULT 0,"   // rows of the key range walked
      " rows_total bigint NOT NULL DEFAULT 0,"  // rows when the job started (estimated if large); exact once done
      " rows_updated bigint NOT NULL DEFAULT 0,"
      " batches bigint NOT NULL DEFAULT 0,"
      " started_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),"
      " finished_at timestamptz,"
      " PRIMARY KEY (version, schema_name, table_name))");
  tx.commit();
}

// The primary key, else the unique index over NOT NULL columns with the fewest columns.
std::vector<KeyColumn> find_key(pqxx::transaction_base& tx, const BackfillJob& job, const std::string& qualified) {
  pqxx::result table = tx.exec_params(
      "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
      job.schema, job.table);
  if (table.empty()) {
    throw Error(ExitCode::kInvalidMigrations, "backfill: table " + qualified + " does not exist");
  }
  pqxx::result columns = tx.exec_params(
      "WITH candidate AS ("
      "  SELECT i.indexrelid, i.indrelid, i.indkey, i.indnkeyatts FROM pg_index i"
      "  WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indimmediate"
      "    AND i.indpred IS NULL AND i.indexprs IS NULL"
      "    AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)"
      "                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
      "                    WHERE k.n <= i.indnkeyatts AND NOT a.attnotnull)"
      "  ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid::regclass::text LIMIT 1)"
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM candidate i"
      "  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)"
      "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
      "WHERE k.n <= i.indnkeyatts ORDER BY k.n",
      table[0][0].as<int64_t>());
  if (columns.empty()) {
    throw Error(ExitCode::kInvalidMigrations,
                "backfill: table " + qualified +
                    " has no primary key and no unique index over NOT NULL columns, so it cannot be walked in "
                    "batches; add a primary key (or a unique index on NOT NULL columns) before this migration");
  }
  std::vector<KeyColumn> key;
  for (const auto& row : columns) key.push_back({row[0].c_str(), tx.quote_name(row[0].c_str()), row[1].c_str()});
  return key;
}

// Reads the job's checkpoint, or makes it: the upper bound and the row count come from one snapshot.
void load_or_start(pqxx::connection& conn, JobState& state) {
  const BackfillJob& job = *state.job;
  pqxx::work tx(conn);
  lock_startup(tx);
  state.key = find_key(tx, job, state.qualified);
  std::vector<std::string> names;
  for (const auto& column : state.key) names.push_back(column.name);

  pqxx::result saved = tx.exec_params(
      "SELECT to_json(key_columns)::text, to_json(last_key)::text, to_json(upper_key)::text, rows_done, rows_total,"
      " finished_at IS NOT NULL FROM migrator.backfill_progress WHERE version = $1 AND schema_name = $2 AND table_name "
      "= $3",
      job.version, job.schema, job.table);
  if (!saved.empty()) {
    if (parse_text_array(saved[0][0]) != names) {
      throw Error(ExitCode::kMigrationFailed, "backfill of " + state.qualified + " for version " + job.version +
                                                  " started with key (" + saved[0][0].c_str() +
                                                  ") but the table's key is now (" + column_list(state.key) +
                                                  "); its checkpoint cannot be resumed");
    }
    state.last = parse_text_array(saved[0][1]);
    state.upper = parse_text_array(saved[0][2]);
    state.rows_done = saved[0][3].as<int64_t>();
    state.rows_total = saved[0][4].as<int64_t>();
    state.finished = saved[0][5].as<bool>();
    state.resumed = true;
    tx.commit();
    return;
  }

  std::string order_desc = column_list(state.key, " DESC");
  std::string texts;
  for (size_t i = 0; i < state.key.size(); ++i) {
    texts += (i ? ", " : "") + state.key[i].quoted + "::text AS _key" + std::to_string(i);
  }
  pqxx::result top = tx.exec("WITH top AS (SELECT " + texts + " FROM " + state.qualified + " ORDER BY " + order_desc +
                             " LIMIT 1) SELECT top.*, pg_relation_size(" + tx.quote(state.qualified) +
                             "::regclass) FROM (SELECT 1) one LEFT JOIN top ON true");
  size_t width = state.key.size();
  if (!top[0][0].is_null()) state.upper = row_texts(top[0], width);
  // The row count is for progress and the ETA. Counting a large table is a scan of all of it before
  // the first batch (1.2 s for 5,000,000 rows under load, beside the application's sessions): above
  // kExactCountBytes it is the planner's estimate, as gh-ost and pt-online-schema-change show, and
  // the batches raise it when they pass it and make it exact when they finish.
  if (top[0][static_cast<int>(width)].as<int64_t>() <= kExactCountBytes) {
    state.rows_total = tx.exec1("SELECT count(*) FROM " + state.qualified)[0].as<int64_t>();
  } else {
    nlohmann::json plan =
        nlohmann::json::parse(tx.exec1("EXPLAIN (FORMAT JSON) SELECT FROM " + state.qualified)[0].c_str());
    state.rows_total = plan.at(0).at("Plan").at("Plan Rows").get<int64_t>();
  }
  state.finished = state.upper.empty();
  tx.exec(
      "INSERT INTO migrator.backfill_progress (version, schema_name, table_name, key_columns, upper_key,"
      " rows_total, finished_at) VALUES (" +
      tx.quote(job.version) + ", " + tx.quote(job.schema) + ", " + tx.quote(job.table) + ", " + text_array(tx, names) +
      ", " + text_array(tx, state.upper) + ", " + std::to_string(state.rows_total) + ", " +
      (state.finished ? "now()" : "NULL") + ")");
  tx.commit();
}

// Which limit the server is over now, or "" when none is set or none is exceeded.
std::string load_reason(pqxx::connection& conn, const BackfillOptions& options) {
  if (options.max_active_sessions <= 0 && options.max_lock_waiters <= 0 && options.max_replica_lag_ms <= 0) return "";
  pqxx::nontransaction tx(conn);
  pqxx::result load = tx.exec(
      "SELECT (SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend'"
      "        AND pid <> pg_backend_pid()),"
      " (SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted),"
      " (SELECT coalesce(max(extract(epoch FROM greatest(write_lag, flush_lag, replay_lag))) * 1000, 0)::bigint"
      "  FROM pg_stat_replication)");
  int64_t active = load[0][0].as<int64_t>();
  int64_t waiters = load[0][1].as<int64_t>();
  int64_t lag_ms = load[0][2].as<int64_t>();
  if (options.max_active_sessions > 0 && active > options.max_active_sessions) {
    return std::to_string(active) + " active sessions > " + std::to_string(options.max_active_sessions);
  }
  if (options.max_lock_waiters > 0 && waiters > options.max_lock_waiters) {
    return std::to_string(waiters) + " sessions waiting on locks > " + std::to_string(options.max_lock_waiters);
  }
  if (options.max_replica_lag_ms > 0 && lag_ms > options.max_replica_lag_ms) {
    return "replica lag " + std::to_string(lag_ms) + " ms > " + std::to_string(options.max_replica_lag_ms) + " ms";
  }
  return "";
}

class JobRunner {
 public:
  JobRunner(pqxx::connection& conn, JobState& state, const BackfillOptions& options, BackfillObserver* observer)
      : conn_(conn),
        state_(state),
        options_(options),
        observer_(observer),
        batch_rows_(std::clamp<int64_t>(options.batch_rows, kMinBatchRows, kMaxBatchRows)) {}
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;
  // The connection goes on to other work: the prepared batch goes with the job.
  ~JobRunner() {
    if (prepared_.empty()) return;
    try {
      pqxx::nontransaction tx(conn_);
      tx.exec("DEALLOCATE " + prepared_);
    } catch (const std::exception&) {
      // A broken connection takes its prepared statements with it.
    }
  }

  // Walks the key range to its end; returns the rows walked and batches committed by this run.
  void run(int64_t* rows, int64_t* batches, double* paused_seconds) {
    started_ = Clock::now();
    while (!state_.finished) {
      wait_for_quiet_server();
      int64_t walked = run_batch_with_retries();
      *rows += walked;
      if (batch_ran_) *batches += 1;
      walked_ += walked;
      if (!state_.finished) report("");
      // gh-ost's nice ratio: the busier the server, the longer a batch takes and the longer the
      // backfill then stands aside, so it takes at most 1 / (1 + ratio) of a core on average.
      // In microseconds: a batch of a millisecond or two must not round its pause down to nothing.
      std::chrono::microseconds pause(options_.pause_ms * 1000 +
                                      std::llround(options_.nice_ratio * last_batch_ms_ * 1000));
      if (!state_.finished && pause.count() > 0) {
        if (!interruptible_sleep(pause)) throw_interrupted(state_);
        *paused_seconds += std::chrono::duration<double>(pause).count();
      }
    }
    report("");
  }

 private:
  void report(const std::string& paused_for) {
    if (observer_ == nullptr) return;
    BackfillProgress p;
    p.schema = state_.job->schema;
    p.table = state_.job->table;
    p.rows_done = state_.rows_done;
    p.rows_total = state_.rows_total;
    double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    p.rows_per_second = seconds > 0 ? static_cast<double>(walked_) / seconds : 0;
    int64_t left = std::max<int64_t>(0, state_.rows_total - state_.rows_done);
    p.eta_seconds = state_.finished ? 0 : (p.rows_per_second > 0 ? static_cast<double>(left) / p.rows_per_second : 0);
    p.batch_rows = batch_rows_;
    p.paused_for = paused_for;
    observer_->progress(p);
  }

  void wait_for_quiet_server() {
    auto last_report = Clock::now() - std::chrono::milliseconds(kPauseReportMs);
    for (;;) {
      if (interrupt_requested()) throw_interrupted(state_);
      std::string reason;
      try {
        reason = load_reason(conn_, options_);
      } catch (const pqxx::broken_connection& e) {
        throw Error(ExitCode::kDatabase, "backfill of " + state_.qualified + ": lost the connection: " + e.what());
      } catch (const pqxx::sql_error& e) {
        throw Error(ExitCode::kMigrationFailed,
                    "backfill of " + state_.qualified + ": cannot read the server's load: " + describe(e));
      }
      if (reason.empty()) return;
      if (Clock::now() - last_report >= std::chrono::milliseconds(kPauseReportMs)) {
        report(reason);
        last_report = Clock::now();
      }
      if (!interruptible_sleep(std::chrono::milliseconds(kLoadPollMs))) throw_interrupted(state_);
    }
  }

  int64_t run_batch_with_retries() {
    int64_t backoff_ms = kFirstBackoffMs;
    for (int attempt = 1;; ++attempt) {
      try {
        return run_batch();
      } catch (const pqxx::broken_connection& e) {
        throw Error(ExitCode::kDatabase, "backfill of " + state_.qualified + ": lost the connection: " + e.what());
      } catch (const pqxx::sql_error& e) {
        // 55P03 lock timeout, 40P01 deadlock, 40001 serialization failure: the batch was rolled
        // back whole; wait and try the same batch again, smaller.
        const std::string& code = e.sqlstate();
        bool retryable = code == "55P03" || code == "40P01" || code == "40001";
        if (retryable && attempt >= kBatchAttempts) {
          throw Error(ExitCode::kMigrationFailed,
                      "backfill of " + state_.qualified + " failed in the batch after key " + last_text() + ": " +
                          describe(e) + "; gave up after " + std::to_string(attempt) + " attempts");
        }
        if (!retryable) {
          // A data error (class 22, 23, or a RAISE in a function the conversion calls) is one row's
          // as a rule: the message names it and says how to go on.
          std::string kind = code.substr(0, 2);
          bool data = kind == "22" || kind == "23" || kind == "P0";
          std::string row = data ? failing_row() : "";
          std::string v = unpadded(state_.job->version);
          std::string resume = "`migrator backfill " + v + "` goes on from there";
          throw Error(ExitCode::kMigrationFailed,
                      "backfill of " + state_.qualified + " failed " +
                          (row.empty() ? "in the batch after key " + last_text() : "at the row " + row) + ": " +
                          describe(e) + "\n  the batches before it are kept: " +
                          (data ? "correct " + std::string(row.empty() ? "the data" : "that row") +
                                      " (writing it through the old version's schema syncs it again) and " + resume +
                                      ", or `migrator abort " + v + "` and correct the migration's conversion"
                                : resume));
        }
        batch_rows_ = std::max(kMinBatchRows, batch_rows_ / 2);
        report("batch " + code + " (" + (code == "55P03" ? "lock timeout" : "conflict") + "), retry " +
               std::to_string(attempt) + " in " + std::to_string(backoff_ms) + " ms");
        if (!interruptible_sleep(std::chrono::milliseconds(backoff_ms))) throw_interrupted(state_);
        backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
      }
    }
  }

  // The row a failed batch stopped at, as "(id)=(500)": the batch's pending rows (at most
  // kSearchRows) updated one by one in key order, in a transaction rolled back at the end, until one
  // fails. Empty when none fails alone (the error was not one row's) or the search itself fails.
  std::string failing_row() {
    constexpr int64_t kSearchRows = 10000;
    const std::vector<KeyColumn>& key = state_.key;
    if (state_.upper.empty()) return "";
    try {
      pqxx::work tx(conn_);
      tx.exec("SET LOCAL migrator.backfill = 'on'; SET LOCAL lock_timeout = '" + std::to_string(kBatchLockTimeoutMs) +
              "ms'");
      std::string texts;
      for (size_t i = 0; i < key.size(); ++i) {  // named apart: ORDER BY "id" would sort the text
        texts += (i ? ", " : "") + key[i].quoted + "::text AS _migrator_k" + std::to_string(i);
      }
      std::string after_last =
          state_.last.empty() ? "" : key_row(key) + " > " + literal_row(tx, key, state_.last) + " AND ";
      pqxx::result rows =
          tx.exec("SELECT " + texts + " FROM " + state_.qualified + " WHERE " + after_last + key_row(key) +
                  " <= " + literal_row(tx, key, state_.upper) +
                  (state_.job->pending.empty() ? "" : " AND (" + state_.job->pending + ")") + " ORDER BY " +
                  column_list(key) + " LIMIT " + std::to_string(std::min(batch_rows_, kSearchRows)));
      for (const pqxx::row& row : rows) {
        std::vector<std::string> values = row_texts(row, key.size());
        try {
          tx.exec("UPDATE " + state_.qualified + " SET " + state_.job->assignments + " WHERE " + key_row(key) + " = " +
                  literal_row(tx, key, values));
        } catch (const pqxx::sql_error&) {
          std::string names, texts_shown;
          for (size_t i = 0; i < key.size(); ++i) {
            names += (i ? ", " : "") + key[i].name;
            texts_shown += (i ? ", " : "") + values[i];
          }
          return "(" + names + ")=(" + texts_shown + ")";
        }
      }
    } catch (const std::exception&) {  // the search is only for the message
    }
    return "";
  }

  std::string last_text() const {
    if (state_.last.empty()) return "(start)";
    std::string text = "(";
    for (size_t i = 0; i < state_.last.size(); ++i) text += (i ? ", " : "") + state_.last[i];
    return text + ")";
  }

  // One batch's statement: the next `rows` keys after `last` (a row of key values; empty: from the
  // start), never past the upper bound, the UPDATE of those of them still pending, and the new
  // checkpoint. The checkpoint row is locked first and must still be at `expected_last`: two runs
  // of the same job (one left behind, say) take turns batch by batch, and a run that finds the
  // checkpoint moved does nothing and adopts it instead of applying a batch twice. Returns no row
  // then; else the new checkpoint, rows_done, whether the job is finished, the rows walked, rows_total
  // and the milliseconds the server has spent on the batch's message so far.
  std::string batch_statement(pqxx::transaction_base& tx, const std::string& last, const std::string& expected_last,
                              const std::string& rows) const {
    const BackfillJob& job = *state_.job;
    const std::vector<KeyColumn>& key = state_.key;
    std::string where_job = " WHERE version = " + tx.quote(job.version) + " AND schema_name = " + tx.quote(job.schema) +
                            " AND table_name = " + tx.quote(job.table);
    std::string after_last = last.empty() ? "" : key_row(key) + " > " + last + " AND ";
    std::string bound_columns;  // the batch's last key, as columns of _migrator_batch
    std::string bound_row;      // ... as a row of scalar subqueries (a keyset bound an index serves)
    std::string bound_texts;    // ... as text[]
    for (size_t i = 0; i < key.size(); ++i) {
      std::string name = "_migrator_k" + std::to_string(i);
      bound_columns += key[i].quoted + " AS " + name + ", ";
      bound_row += std::string(i ? ", " : "") + "(SELECT " + name + " FROM _migrator_batch)";
      bound_texts += std::string(i ? ", " : "") + name + "::text";
    }
    std::string walked = "coalesce((SELECT _migrator_walked FROM _migrator_batch), 0)";
    std::string next = "(SELECT ARRAY[" + bound_texts + "] FROM _migrator_batch)";
    std::string finishing = "(" + walked + " < " + rows + " OR " + next + " = upper_key)";
    return "WITH _migrator_checkpoint AS (SELECT FROM migrator.backfill_progress" + where_job +
           " AND finished_at IS NULL AND last_key IS NOT DISTINCT FROM " + expected_last + " FOR UPDATE),\n"
           "_migrator_batch AS (SELECT " + bound_columns + "count(*) OVER () AS _migrator_walked FROM (SELECT " +
           column_list(key) + " FROM " + state_.qualified + " WHERE " + after_last + key_row(key) + " <= " +
           literal_row(tx, key, state_.upper) + " ORDER BY " + column_list(key) + " LIMIT " + rows +
           ") batch WHERE EXISTS (SELECT FROM _migrator_checkpoint) ORDER BY " + column_list(key, " DESC") +
           " LIMIT 1),\n"
           "_migrator_changed AS (UPDATE " + state_.qualified + " SET " + job.assignments + " WHERE " + after_last +
           key_row(key) + " <= (" + bound_row + ")" + (job.pending.empty() ? "" : " AND (" + job.pending + ")") +
           " RETURNING 1)\n"
           "UPDATE migrator.backfill_progress SET last_key = coalesce(" + next + ", upper_key), rows_done = rows_done + " +
           walked + ", rows_updated = rows_updated + (SELECT count(*) FROM _migrator_changed), batches = batches + 1,"
           " updated_at = now(), finished_at = CASE WHEN " + finishing + " THEN now() END, rows_total = CASE WHEN " +
           finishing + " THEN rows_done + " + walked + " ELSE greatest(rows_total, rows_done + " + walked + ") END" +
           where_job + " AND EXISTS (SELECT FROM _migrator_checkpoint)"
           " RETURNING to_json(last_key)::text, rows_done, finished_at IS NOT NULL, " + walked + ", rows_total,"
           " extract(epoch FROM clock_timestamp() - statement_timestamp())::float8 * 1000";
  }

  // The batch as the job's prepared statement (prepared at the first call).
  pqxx::result run_prepared(pqxx::transaction_base& tx, const std::string& settings, const std::string& rows) {
    if (prepared_.empty()) {
      static int runs = 0;
      std::string name = "_migrator_backfill_batch_" + std::to_string(++runs);
      std::string last = "(";
      for (size_t i = 0; i < state_.key.size(); ++i) {
        last += std::string(i ? ", " : "") + "($1::text[])[" + std::to_string(i + 1) + "]::" + state_.key[i].type;
      }
      tx.exec("PREPARE " + name + " (text[], bigint) AS " + batch_statement(tx, last + ")", "$1::text[]", "$2::bigint"));
      prepared_ = name;
    }
    return tx.exec(settings + "SET LOCAL plan_cache_mode = force_generic_plan; EXECUTE " + prepared_ + "(" +
                   text_array(tx, state_.last) + ", " + rows + ")");
  }

  // One batch in one transaction and one round trip: the settings and the batch's statement go as
  // one simple query, which PostgreSQL runs as one implicit transaction (SET LOCAL holds for it).
  // From the second batch on, the statement is prepared once (its key bounds and size parameters)
  // and run with its generic plan, unless the server loses it (a pooler).
  int64_t run_batch() {
    const JobState& state = state_;
    auto start = Clock::now();
    pqxx::nontransaction tx(conn_);
    std::string settings = "SET LOCAL migrator.backfill = 'on'; SET LOCAL lock_timeout = '" +
                           std::to_string(kBatchLockTimeoutMs) + "ms'; ";
    std::string rows = std::to_string(batch_rows_);
    auto planned = [&] {  // the batch planned as it runs, its bounds as literals
      std::string last = state.last.empty() ? "" : literal_row(tx, state.key, state.last);
      return tx.exec(settings + batch_statement(tx, last, text_array(tx, state.last), rows));
    };
    pqxx::result done;
    if (state.last.empty() || !prepare_) {
      done = planned();
    } else {
      try {
        done = run_prepared(tx, settings, rows);
      } catch (const pqxx::sql_error& e) {
        // 26000: the statement is gone, 42P05: its name is taken. Behind a pooler in transaction
        // mode (PgBouncer), where each transaction may get another server connection, prepared
        // statements do not hold: the job goes on with statements planned batch by batch.
        if (e.sqlstate() != "26000" && e.sqlstate() != "42P05") throw;
        prepare_ = false;
        prepared_.clear();
        done = planned();
      }
    }
    if (done.empty()) {  // finished or moved on by another run: take its checkpoint as it is
      pqxx::result checkpoint = tx.exec_params(
          "SELECT to_json(last_key)::text, rows_done, finished_at IS NOT NULL, rows_total FROM migrator.backfill_progress "
          "WHERE version = $1 AND schema_name = $2 AND table_name = $3",
          state.job->version, state.job->schema, state.job->table);
      if (checkpoint.empty()) {
        throw Error(ExitCode::kMigrationFailed,
                    "backfill of " + state.qualified + ": its checkpoint row in migrator.backfill_progress is gone");
      }
      state_.last = parse_text_array(checkpoint[0][0]);
      state_.rows_done = checkpoint[0][1].as<int64_t>();
      state_.finished = checkpoint[0][2].as<bool>();
      state_.rows_total = checkpoint[0][3].as<int64_t>();
      batch_ran_ = false;
      return 0;
    }
    batch_ran_ = true;
    state_.last = parse_text_array(done[0][0]);
    state_.rows_done = done[0][1].as<int64_t>();
    state_.finished = done[0][2].as<bool>();
    int64_t walked_rows = done[0][3].as<int64_t>();
    state_.rows_total = done[0][4].as<int64_t>();
    last_batch_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    // The size follows the batch's time on the server, the stretch its backend holds a CPU
    // without a break (what a client woken there waits for); the round trip to a server across a
    // network would otherwise shrink the batches to nothing. The pause follows the whole batch.
    adapt(walked_rows, done[0][5].as<double>());
    return walked_rows;
  }

  // gh-ost's chunk-time idea: scale the next batch toward 80% of the target duration (the batch's
  // time on the server, `elapsed_ms`), by at most a factor of two either way so one slow batch (a
  // checkpoint, a vacuum) does not collapse it.
  void adapt(int64_t walked, double elapsed_ms) {
    if (walked < batch_rows_ || elapsed_ms <= 0) return;
    double factor = 0.8 * static_cast<double>(options_.target_batch_us) / 1000.0 / elapsed_ms;
    factor = std::clamp(factor, 0.5, 2.0);
    batch_rows_ = std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(batch_rows_) * factor), kMinBatchRows,
                                      kMaxBatchRows);
  }

  pqxx::connection& conn_;
  JobState& state_;
  const BackfillOptions& options_;
  BackfillObserver* observer_;
  int64_t batch_rows_;
  double last_batch_ms_ = 0;
  int64_t walked_ = 0;
  bool batch_ran_ = false;  // the last run_batch() walked a batch (the job was not finished meanwhile)
  // The job's batch, prepared on the connection (a name of its own: a statement a failed DEALLOCATE
  // left behind cannot clash with it).
  std::string prepared_;
  bool prepare_ = true;  // false once the server (a pooler) has lost a prepared statement
  Clock::time_point started_;
};

}  // namespace

BackfillResult run_backfill(pqxx::connection& conn, const std::vector<BackfillJob>& jobs,
                            const BackfillOptions& options, BackfillObserver* observer) {
  auto start = Clock::now();
  BackfillResult result;
  std::vector<JobState> states(jobs.size());
  try {
    create_progress_table(conn);
    // Every job's key is checked and its checkpoint made before any batch runs: a table without a
    // key refuses the whole run unchanged, and backfill_done() sees every job of the version.
    for (size_t i = 0; i < jobs.size(); ++i) {
      states[i].job = &jobs[i];
      states[i].qualified = conn.quote_name(jobs[i].schema) + "." + conn.quote_name(jobs[i].table);
      load_or_start(conn, states[i]);
      if (states[i].resumed) result.resumed = true;
    }
  } catch (const pqxx::broken_connection& e) {
    throw Error(ExitCode::kDatabase, std::string("backfill: lost the connection: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    throw Error(ExitCode::kMigrationFailed, "backfill: cannot read or start its checkpoints: " + describe(e));
  }
  for (JobState& state : states) {
    JobRunner(conn, state, options, observer).run(&result.rows, &result.batches, &result.paused_seconds);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

bool backfill_done(pqxx::connection& conn, const std::string& version) {
  try {
    pqxx::nontransaction tx(conn);
    if (tx.exec("SELECT to_regclass('migrator.backfill_progress') IS NULL")[0][0].as<bool>()) return false;
    pqxx::result counts = tx.exec_params(
        "SELECT count(*), count(finished_at) FROM migrator.backfill_progress WHERE version = $1", version);
    int64_t jobs = counts[0][0].as<int64_t>();
    return jobs > 0 && counts[0][1].as<int64_t>() == jobs;
  } catch (const pqxx::broken_connection& e) {
    throw Error(ExitCode::kDatabase, std::string("backfill: lost the connection: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    throw Error(ExitCode::kMigrationFailed, "backfill: cannot read its checkpoints: " + describe(e));
  }
}

void require_backfill_key(pqxx::transaction_base& tx, const std::string& schema, const std::string& table) {
  BackfillJob job;
  job.schema = schema;
  job.table = table;
  find_key(tx, job, tx.quote_name(schema) + "." + tx.quote_name(table));
}

}  // namespace migrator::expand
