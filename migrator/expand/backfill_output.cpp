#include "migrator/expand/backfill_output.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace migrator::expand {

namespace {

constexpr const char* kEraseLine = "\r\033[K";
constexpr int kBarWidth = 20;

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  }
  return text;
}

}  // namespace

bool BackfillProgressOutput::bar_wanted() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && term != nullptr && *term != '\0' && std::string(term) != "dumb";
}

BackfillProgressOutput::BackfillProgressOutput(int fd, Format format, std::chrono::milliseconds period)
    : fd_(fd), format_(format), period_(period) {}

BackfillProgressOutput::~BackfillProgressOutput() { finish(); }

std::string BackfillProgressOutput::bar_text(const BackfillProgress& p) {
  double fraction = p.rows_total > 0 ? static_cast<double>(p.rows_done) / static_cast<double>(p.rows_total) : 1.0;
  fraction = std::min(1.0, std::max(0.0, fraction));
  int filled = static_cast<int>(fraction * kBarWidth);
  std::string text =
      "  " + p.schema + "." + p.table + " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "] ";
  char numbers[160];
  std::snprintf(numbers, sizeof numbers, "%3d%%  %lld/%lld rows  %.0f rows/s  ETA %s", static_cast<int>(fraction * 100),
                static_cast<long long>(p.rows_done), static_cast<long long>(p.rows_total), p.rows_per_second,
                duration_text(p.eta_seconds).c_str());
  text += numbers;
  if (!p.paused_for.empty()) text += "  paused: " + p.paused_for;
  return text;
}

std::string BackfillProgressOutput::json_text(const BackfillProgress& p) {
  nlohmann::json line = {{"event", "backfill_progress"},
                         {"schema", p.schema},
                         {"table", p.table},
                         {"rows_done", p.rows_done},
                         {"rows_total", p.rows_total},
                         {"rows_per_second", std::round(p.rows_per_second * 10) / 10},
                         {"eta_seconds", std::round(p.eta_seconds * 10) / 10},
                         {"batch_rows", p.batch_rows},
                         {"paused_for", nullptr}};
  if (!p.paused_for.empty()) line["paused_for"] = p.paused_for;
  return line.dump();
}

void BackfillProgressOutput::write_text(const std::string& text) {
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd_, text.data() + written, text.size() - written);
    if (n <= 0) return;  // a closed pipe or a terminal that went away: progress is only a courtesy
    written += static_cast<size_t>(n);
  }
}

void BackfillProgressOutput::progress(const BackfillProgress& p) {
  auto now = std::chrono::steady_clock::now();
  bool changed =
      !written_any_ || p.paused_for != last_.paused_for || p.schema != last_.schema || p.table != last_.table;
  last_ = p;
  if (!changed && now - last_written_ < period_) {
    held_back_ = true;
    return;
  }
  last_written_ = now;
  written_any_ = true;
  held_back_ = false;
  if (format_ == Format::kJsonLines) {
    write_text(json_text(p) + "\n");
  } else {
    write_text(kEraseLine + bar_text(p));
    bar_shown_ = true;
  }
}

void BackfillProgressOutput::finish() {
  if (format_ == Format::kJsonLines) {
    if (held_back_) write_text(json_text(last_) + "\n");
  } else if (bar_shown_) {
    write_text(kEraseLine);
    bar_shown_ = false;
  }
  held_back_ = false;
}

}  // namespace migrator::expand
