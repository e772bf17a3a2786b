// The backfill alone, for bench/expand/run.sh: runs run_backfill() on one job and prints its result
// as one JSON line on stdout ({"rows", "batches", "seconds", "paused_seconds", "rows_per_second", "resumed"});
// progress goes to stderr as JSON lines, once a second.
//
//   backfill_bench URL VERSION SCHEMA TABLE ASSIGNMENTS PENDING [name=value ...]
//
// Options (BackfillOptions' fields): batch_rows, target_batch_us, pause_ms, nice_ratio,
// max_active_sessions, max_lock_waiters, max_replica_lag_ms.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "migrator/error.h"
#include "migrator/expand/backfill.h"
#include "migrator/expand/backfill_output.h"

namespace {

int usage() {
  std::cerr << "usage: backfill_bench URL VERSION SCHEMA TABLE ASSIGNMENTS PENDING [name=value ...]\n"
               "  options: batch_rows, target_batch_us, pause_ms, nice_ratio, max_active_sessions,\n"
               "           max_lock_waiters, max_replica_lag_ms\n";
  return 2;
}

bool set_option(migrator::expand::BackfillOptions& options, const std::string& setting) {
  size_t equals = setting.find('=');
  if (equals == std::string::npos) return false;
  std::string name = setting.substr(0, equals);
  if (name == "nice_ratio") {
    try {
      size_t used = 0;
      options.nice_ratio = std::stod(setting.substr(equals + 1), &used);
      return used == setting.size() - equals - 1 && options.nice_ratio >= 0;
    } catch (const std::exception&) {
      return false;
    }
  }
  int64_t value = 0;
  try {
    size_t used = 0;
    value = std::stoll(setting.substr(equals + 1), &used);
    if (used != setting.size() - equals - 1) return false;
  } catch (const std::exception&) {
    return false;
  }
  if (name == "batch_rows") {
    options.batch_rows = value;
  } else if (name == "target_batch_us") {
    options.target_batch_us = value;
  } else if (name == "pause_ms") {
    options.pause_ms = value;
  } else if (name == "max_active_sessions") {
    options.max_active_sessions = static_cast<int>(value);
  } else if (name == "max_lock_waiters") {
    options.max_lock_waiters = static_cast<int>(value);
  } else if (name == "max_replica_lag_ms") {
    options.max_replica_lag_ms = value;
  } else {
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) return usage();
  migrator::expand::BackfillJob job{argv[2], argv[3], argv[4], argv[5], argv[6]};
  migrator::expand::BackfillOptions options;
  for (int i = 7; i < argc; ++i) {
    if (!set_option(options, argv[i])) {
      std::cerr << "backfill_bench: bad option '" << argv[i] << "'\n";
      return usage();
    }
  }
  try {
    pqxx::connection conn(argv[1]);
    migrator::expand::BackfillProgressOutput output(STDERR_FILENO,
                                                    migrator::expand::BackfillProgressOutput::Format::kJsonLines);
    migrator::expand::BackfillResult result = migrator::expand::run_backfill(conn, {job}, options, &output);
    output.finish();
    nlohmann::json line = {
        {"rows", result.rows},
        {"batches", result.batches},
        {"seconds", result.seconds},
        {"paused_seconds", result.paused_seconds},
        {"rows_per_second", result.seconds > 0 ? static_cast<double>(result.rows) / result.seconds : 0},
        {"resumed", result.resumed}};
    std::cout << line.dump() << std::endl;
    return 0;
  } catch (const migrator::Error& e) {
    std::cerr << "backfill_bench: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "backfill_bench: " << e.what() << "\n";
    return 4;
  }
}
