#include "migrator/cli/progress_line.h"

#include <unistd.h>

#include <cstdlib>

namespace migrator {

namespace {
constexpr const char* kEraseLine = "\r\033[K";
}  // namespace

bool ProgressLine::wanted() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && term != nullptr && *term != '\0' && std::string(term) != "dumb";
}

ProgressLine::ProgressLine(int fd) : fd_(fd), thread_([this] { draw_loop(); }) {}

ProgressLine::~ProgressLine() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ProgressLine::write_text(const std::string& text) {
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd_, text.data() + written, text.size() - written);
    if (n <= 0) return;  // a terminal that went away: nothing to show anyway
    written += static_cast<size_t>(n);
  }
}

void ProgressLine::statement(const std::string& path, size_t number, size_t total) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!active_ || path != path_) started_ = std::chrono::steady_clock::now();
  active_ = true;
  path_ = path;
  number_ = number;
  total_ = total;
}

void ProgressLine::finished() {
  std::lock_guard<std::mutex> guard(mutex_);
  // Erased under the lock, so nothing is drawn after it and the caller's next line starts clean.
  if (shown_) write_text(kEraseLine);
  shown_ = false;
  active_ = false;
}

void ProgressLine::draw_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_ || !active_) continue;
    auto elapsed = std::chrono::steady_clock::now() - started_;
    int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
    if (seconds < 1) continue;  // short scripts never show a line
    std::string text = std::string(kEraseLine) + "  " + path_ + ": statement " + std::to_string(number_) +
                       (total_ > 0 ? "/" + std::to_string(total_) : std::string()) + ", " + std::to_string(seconds) +
                       " s";
    write_text(text);
    shown_ = true;
  }
  if (shown_) write_text(kEraseLine);
}

}  // namespace migrator
