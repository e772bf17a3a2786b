#include "core/flag.h"

#include <gtest/gtest.h>

#include <string>

namespace rollout {
namespace {

FlagDefinition def(std::string key, bool enabled, uint32_t bp, std::string salt = "") {
  FlagDefinition d;
  d.key = std::move(key);
  d.enabled = enabled;
  d.rollout_basis_points = bp;
  d.salt = std::move(salt);
  return d;
}

int count_enabled(const CompiledFlag& flag, int users) {
  int on = 0;
  for (int id = 1; id <= users; id++) on += flag.enabled_for(std::to_string(id));
  return on;
}

TEST(FlagSet, FindsFlagsByKeyAndNothingElse) {
  FlagSet set;
  ASSERT_TRUE(FlagSet::Compile({def("b", true, 100), def("a", false, 0), def("c", true, 5000)}, &set).ok);
  EXPECT_EQ(set.size(), 3u);
  ASSERT_NE(set.find("a"), nullptr);
  EXPECT_EQ(set.find("a")->key(), "a");
  EXPECT_EQ(set.find("c")->key(), "c");
  EXPECT_EQ(set.find("d"), nullptr);
  EXPECT_EQ(set.find(""), nullptr);
  EXPECT_EQ(set.find("aa"), nullptr);
}

TEST(FlagSet, RejectsDuplicateEmptyAndOverHundredPercent) {
  FlagSet set;
  ASSERT_TRUE(FlagSet::Compile({def("keep", true, 10000)}, &set).ok);

  Status dup = FlagSet::Compile({def("x", true, 1), def("x", true, 2)}, &set);
  EXPECT_FALSE(dup.ok);
  EXPECT_EQ(dup.message, "duplicate flag key \"x\"");

  Status empty = FlagSet::Compile({def("", true, 1)}, &set);
  EXPECT_FALSE(empty.ok);

  Status over = FlagSet::Compile({def("big", true, 10001)}, &set);
  EXPECT_FALSE(over.ok);
  EXPECT_NE(over.message.find("above 10000"), std::string::npos);

  // A failed compile leaves the previous set intact.
  EXPECT_EQ(set.size(), 1u);
  EXPECT_NE(set.find("keep"), nullptr);
}

TEST(CompiledFlag, KillSwitchOffMeansOffForEveryone) {
  CompiledFlag flag(def("killed", false, 10000));
  EXPECT_EQ(count_enabled(flag, 1000), 0);
}

TEST(CompiledFlag, ZeroPercentIsNobodyAndHundredIsEveryone) {
  EXPECT_EQ(count_enabled(CompiledFlag(def("zero", true, 0)), 10000), 0);
  EXPECT_EQ(count_enabled(CompiledFlag(def("all", true, 10000)), 10000), 10000);
}

TEST(CompiledFlag, QuarterRolloutReachesAboutAQuarter) {
  const int on = count_enabled(CompiledFlag(def("quarter", true, 2500)), 100000);
  EXPECT_NEAR(on, 25000, 700);
}

TEST(CompiledFlag, RaisingThePercentageOnlyAddsUsers) {
  CompiledFlag at10(def("grow", true, 1000));
  CompiledFlag at50(def("grow", true, 5000));
  for (int id = 1; id <= 20000; id++) {
    const std::string user = std::to_string(id);
    if (at10.enabled_for(user)) {
      EXPECT_TRUE(at50.enabled_for(user)) << "user " << id;
    }
  }
}

TEST(CompiledFlag, DifferentFlagsBucketIndependently) {
  CompiledFlag a(def("flag_a", true, 5000));
  CompiledFlag b(def("flag_b", true, 5000));
  int both = 0;
  for (int id = 1; id <= 20000; id++) {
    const std::string user = std::to_string(id);
    both += a.enabled_for(user) && b.enabled_for(user);
  }
  // Independent halves overlap on about a quarter (5000); identical bucketing would give 10000.
  EXPECT_NEAR(both, 5000, 400);
}

TEST(CompiledFlag, SaltReplacesTheKeyInBucketing) {
  CompiledFlag salted(def("renamed_flag", true, 5000, "original_key"));
  CompiledFlag original(def("original_key", true, 5000));
  for (int id = 1; id <= 2000; id++) {
    const std::string user = std::to_string(id);
    EXPECT_EQ(salted.enabled_for(user), original.enabled_for(user));
  }
}

// A rollout of coverage c includes bucket b exactly when b/10000 <= c (GrowthBook's rule).
TEST(CompiledFlag, BoundaryBucketIsIncludedLikeGrowthBook) {
  // Bucketer("seed").bucket("a") is 505 (GrowthBook vector).
  EXPECT_TRUE(CompiledFlag(def("k", true, 505, "seed")).enabled_for("a"));
  EXPECT_FALSE(CompiledFlag(def("k", true, 504, "seed")).enabled_for("a"));
}

}  // namespace
}  // namespace rollout
