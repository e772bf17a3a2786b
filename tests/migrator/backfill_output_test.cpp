// The backfill's progress output: the bar's text, the JSON lines, and the period that limits both.
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "migrator/expand/backfill_output.h"

namespace migrator_test {
namespace {

using migrator::expand::BackfillProgress;
using migrator::expand::BackfillProgressOutput;
using ::testing::HasSubstr;

BackfillProgress at(int64_t done, const std::string& paused_for = "") {
  BackfillProgress p;
  p.schema = "public";
  p.table = "orders";
  p.rows_done = done;
  p.rows_total = 5000000;
  p.rows_per_second = 50000;
  p.eta_seconds = static_cast<double>(5000000 - done) / 50000;
  p.batch_rows = 12000;
  p.paused_for = paused_for;
  return p;
}

// Everything written to the write end of a pipe until it is closed.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(pipe(fds_), 0); }
  ~Pipe() {
    close_write();
    close(fds_[0]);
  }
  int fd() const { return fds_[1]; }
  void close_write() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }
  std::string read_all() {
    close_write();
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = read(fds_[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<size_t>(n));
    return text;
  }

 private:
  int fds_[2] = {-1, -1};
};

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(BackfillOutput, BarShowsPercentRowsRateAndEta) {
  EXPECT_EQ(BackfillProgressOutput::bar_text(at(2250000)),
            "  public.orders [#########...........]  45%  2250000/5000000 rows  50000 rows/s  ETA 0:55");
  EXPECT_THAT(BackfillProgressOutput::bar_text(at(0, "3 active sessions > 2")),
              HasSubstr("ETA 1:40  paused: 3 active sessions > 2"));
  BackfillProgress hours = at(0);
  hours.eta_seconds = 3 * 3600 + 62;
  EXPECT_THAT(BackfillProgressOutput::bar_text(hours), HasSubstr("ETA 3:01:02"));
}

TEST(BackfillOutput, JsonLineHasEveryField) {
  nlohmann::json line =
      nlohmann::json::parse(BackfillProgressOutput::json_text(at(1000000, "replica lag 900 ms > 500 ms")));
  EXPECT_EQ(line["event"], "backfill_progress");
  EXPECT_EQ(line["schema"], "public");
  EXPECT_EQ(line["table"], "orders");
  EXPECT_EQ(line["rows_done"], 1000000);
  EXPECT_EQ(line["rows_total"], 5000000);
  EXPECT_EQ(line["rows_per_second"], 50000.0);
  EXPECT_EQ(line["eta_seconds"], 80.0);
  EXPECT_EQ(line["batch_rows"], 12000);
  EXPECT_EQ(line["paused_for"], "replica lag 900 ms > 500 ms");
  EXPECT_TRUE(nlohmann::json::parse(BackfillProgressOutput::json_text(at(1)))["paused_for"].is_null());
}

TEST(BackfillOutput, JsonLinesAtMostOncePerPeriodPlusPausesAndTheLast) {
  Pipe pipe;
  {
    BackfillProgressOutput output(pipe.fd(), BackfillProgressOutput::Format::kJsonLines, std::chrono::hours(1));
    output.progress(at(10));                           // first: written
    output.progress(at(20));                           // within the period: held back
    output.progress(at(20, "2 active sessions > 1"));  // a pause starts: written
    output.progress(at(30));                           // the pause ends: written
    output.progress(at(40));                           // held back, written by finish()
    output.finish();
    output.finish();  // nothing more
  }
  std::vector<nlohmann::json> lines = json_lines(pipe.read_all());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["rows_done"], 10);
  EXPECT_EQ(lines[1]["paused_for"], "2 active sessions > 1");
  EXPECT_EQ(lines[2]["rows_done"], 30);
  EXPECT_EQ(lines[3]["rows_done"], 40);
}

TEST(BackfillOutput, PeriodZeroWritesEveryUpdate) {
  Pipe pipe;
  {
    BackfillProgressOutput output(pipe.fd(), BackfillProgressOutput::Format::kJsonLines, std::chrono::milliseconds(0));
    for (int i = 1; i <= 5; ++i) output.progress(at(i));
  }
  EXPECT_EQ(json_lines(pipe.read_all()).size(), 5u);
}

TEST(BackfillOutput, BarRedrawsInPlaceAndIsErasedAtTheEnd) {
  Pipe pipe;
  {
    BackfillProgressOutput output(pipe.fd(), BackfillProgressOutput::Format::kBar, std::chrono::milliseconds(0));
    output.progress(at(10));
    output.progress(at(20));
  }  // the destructor erases the line
  std::string erase = "\r\033[K";
  EXPECT_EQ(pipe.read_all(), erase + BackfillProgressOutput::bar_text(at(10)) + erase +
                                 BackfillProgressOutput::bar_text(at(20)) + erase);
}

}  // namespace
}  // namespace migrator_test
