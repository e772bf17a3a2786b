// The live progress line of a long migration on a terminal: once a migration's script has run for a
// second, stderr shows "  <path>: statement 3/5, 12 s" redrawn about once a second, and the line is
// erased when the script ends, before the engine prints its "applied ..." line. Only for a terminal
// (see wanted()): never in pipes, logs or CI.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

#include "migrator/drivers/driver.h"

namespace migrator {

class ProgressLine : public ProgressListener {
 public:
  // Whether stderr is a terminal that understands "\r" and erase-line (TERM is set and not "dumb").
  static bool wanted();

  // Draws on file descriptor `fd` (stderr) from a thread of its own until destroyed.
  explicit ProgressLine(int fd);
  ~ProgressLine() override;
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void statement(const std::string& path, size_t number, size_t total) override;
  void finished() override;

 private:
  void draw_loop();
  void write_text(const std::string& text);

  int fd_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool active_ = false;  // a script runs
  bool shown_ = false;   // the line is on the screen
  std::string path_;
  size_t number_ = 0;
  size_t total_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::thread thread_;
};

}  // namespace migrator
