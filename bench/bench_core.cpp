// Core evaluation cost per user, as ratios against a floor measured in the same run.
//
// Floor: formatting the user id as decimal text, which any text-keyed evaluation must do.
// Then: the salted bucket (two FNV-1a passes) of an ASCII id and of a non-ASCII one (hashed as
// UTF-16 code units, like GrowthBook's SDK), a full flag evaluation, and a flag lookup by key in
// a set of 1,000 flags (the per-row cost when the flag argument varies by row).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/bucket.h"
#include "core/flag.h"

namespace {

using rollout::Bucketer;
using rollout::CompiledFlag;
using rollout::FlagSet;

// A set of flags compiled from an environment document; `extra` is JSON members added to each.
FlagSet* compile(const std::vector<std::string>& keys, int rollout_bp, const std::string& extra = "") {
  std::string doc = "{\"environment\":\"bench\",\"flags\":[";
  for (size_t i = 0; i < keys.size(); i++) {
    if (i > 0) doc += ",";
    doc += "{\"key\":\"" + keys[i] + "\",\"enabled\":true,\"rollout_bp\":" + std::to_string(rollout_bp) + extra + "}";
  }
  doc += "]}";
  auto* set = new FlagSet();
  if (!FlagSet::Compile(doc, set).ok) {
    std::fprintf(stderr, "compile failed\n");
    std::abort();
  }
  return set;
}

void BM_Floor_FormatDecimal(benchmark::State& state) {
  int64_t id = 1;
  char buf[rollout::kMaxDecimalLength];
  for (auto _ : state) {
    size_t n = rollout::format_decimal(id++, buf);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(buf[0]);
  }
}
BENCHMARK(BM_Floor_FormatDecimal);

void BM_Bucket(benchmark::State& state) {
  Bucketer bucketer("new_checkout");
  int64_t id = 1;
  char buf[rollout::kMaxDecimalLength];
  for (auto _ : state) {
    size_t n = rollout::format_decimal(id++, buf);
    benchmark::DoNotOptimize(bucketer.bucket(std::string_view(buf, n)));
  }
}
BENCHMARK(BM_Bucket);

// The same decimal id behind a non-ASCII prefix ("josé-"), so the whole value goes through the
// UTF-8 decoding loop.
void BM_BucketNonAscii(benchmark::State& state) {
  Bucketer bucketer("new_checkout");
  int64_t id = 1;
  char buf[6 + rollout::kMaxDecimalLength] = "jos\xc3\xa9-";
  for (auto _ : state) {
    size_t n = rollout::format_decimal(id++, buf + 6);
    benchmark::DoNotOptimize(bucketer.bucket(std::string_view(buf, 6 + n)));
  }
}
BENCHMARK(BM_BucketNonAscii);

void BM_EnabledFor(benchmark::State& state) {
  static FlagSet* set = compile({"new_checkout"}, 2500);
  const CompiledFlag& flag = *set->find("new_checkout");
  int64_t id = 1;
  char buf[rollout::kMaxDecimalLength];
  rollout::Subject subject;
  for (auto _ : state) {
    size_t n = rollout::format_decimal(id++, buf);
    subject.user_id = std::string_view(buf, n);
    benchmark::DoNotOptimize(flag.enabled_for(subject, 0));
  }
}
BENCHMARK(BM_EnabledFor);

void BM_FindAmong1000Flags(benchmark::State& state) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; i++) keys.push_back("feature_flag_" + std::to_string(i));
  static FlagSet* set = compile(keys, 0);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(set->find(keys[i++ % keys.size()]));
  }
}
BENCHMARK(BM_FindAmong1000Flags);

// Prints the usual table, then each benchmark's time as a multiple of the floor's.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        ns_per_op_[run.benchmark_name()] = run.GetAdjustedCPUTime();
      }
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto floor = ns_per_op_.find("BM_Floor_FormatDecimal");
    if (floor == ns_per_op_.end() || floor->second <= 0) return;
    std::printf("\nratio to floor (BM_Floor_FormatDecimal = %.2f ns):\n", floor->second);
    for (const auto& [name, ns] : ns_per_op_) {
      std::printf("  %-28s %8.2f ns  x%.2f\n", name.c_str(), ns, ns / floor->second);
    }
  }

 private:
  std::map<std::string, double> ns_per_op_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
