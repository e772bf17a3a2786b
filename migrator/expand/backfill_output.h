// How a backfill's progress reaches the person running it: on a terminal a progress bar redrawn in
// place ("\r" and erase-line), elsewhere with --json one JSON object per line. Either way at most one
// update per period, plus one whenever a pause starts or ends and whenever the table changes.
//
//   public.orders [#########...........]  45%  2250000/5000000 rows  61234 rows/s  ETA 0:45
//   {"event":"backfill_progress","schema":"public","table":"orders","rows_done":2250000,
//    "rows_total":5000000,"rows_per_second":61234.5,"eta_seconds":44.9,"batch_rows":12000,"paused_for":null}
//
// The CLI passes one to run_backfill() and calls finish() after it returns (or throws). The JSON
// lines go to the file descriptor given (stderr in the CLI: stdout holds the one --json document).
#pragma once

#include <chrono>
#include <string>

#include "migrator/expand/backfill.h"

namespace migrator::expand {

class BackfillProgressOutput : public BackfillObserver {
 public:
  enum class Format { kBar, kJsonLines };

  // Whether stderr is a terminal that understands "\r" and erase-line (TERM set and not "dumb").
  static bool bar_wanted();

  BackfillProgressOutput(int fd, Format format, std::chrono::milliseconds period = std::chrono::seconds(1));
  ~BackfillProgressOutput() override;
  BackfillProgressOutput(const BackfillProgressOutput&) = delete;
  BackfillProgressOutput& operator=(const BackfillProgressOutput&) = delete;

  void progress(const BackfillProgress& p) override;
  // JSON: writes the last progress if it was held back by the period. Bar: erases the line.
  // Idempotent; the destructor calls it.
  void finish();
  void done() override { finish(); }

  // The texts written, exposed for tests.
  static std::string bar_text(const BackfillProgress& p);
  static std::string json_text(const BackfillProgress& p);

 private:
  void write_text(const std::string& text);

  int fd_;
  Format format_;
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point last_written_;
  bool written_any_ = false;
  bool held_back_ = false;  // `last_` has not been written
  bool bar_shown_ = false;
  BackfillProgress last_;
};

}  // namespace migrator::expand
