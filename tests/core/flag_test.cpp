#include "core/flag.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rollout {
namespace {

using json = nlohmann::json;

// A flag as the environment document carries it: on, at `bp` basis points, no targeting.
json flag(const std::string& key, bool enabled, int bp) {
  return json{{"key", key}, {"enabled", enabled}, {"rollout_bp", bp}};
}

std::unique_ptr<FlagSet> compile(std::vector<json> flags) {
  auto set = std::make_unique<FlagSet>();
  json doc{{"environment", "test"}, {"flags", flags}};
  Status s = FlagSet::Compile(doc.dump(), set.get());
  EXPECT_TRUE(s.ok) << s.message;
  return set;
}

Status compile_error(std::vector<json> flags) {
  FlagSet set;
  json doc{{"environment", "test"}, {"flags", flags}};
  return FlagSet::Compile(doc.dump(), &set);
}

constexpr int64_t kNow = 1'800'000'000'000'000;  // 2027-01-15, in microseconds

bool on(const CompiledFlag& f, std::string_view id) {
  Subject s;
  s.user_id = id;
  return f.enabled_for(s, kNow);
}

Evaluation explain(const CompiledFlag& f, std::string_view id, std::vector<AttributeValue> attrs = {}) {
  Subject s;
  s.user_id = id;
  s.attributes = attrs.data();
  s.attribute_count = attrs.size();
  return f.evaluate(s, kNow);
}

int count_on(const CompiledFlag& f, int users) {
  int n = 0;
  for (int id = 1; id <= users; id++) n += on(f, std::to_string(id));
  return n;
}

TEST(FlagSet, FindsFlagsByKeyAndNothingElse) {
  auto set = compile({flag("b", true, 100), flag("a", false, 0), flag("c", true, 5000)});
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(set->environment(), "test");
  ASSERT_NE(set->find("a"), nullptr);
  EXPECT_EQ(set->find("c")->key(), "c");
  EXPECT_EQ(set->find("d"), nullptr);
  EXPECT_EQ(set->find(""), nullptr);
  EXPECT_EQ(set->at(0).key(), "a");  // key order
}

TEST(FlagSet, RejectsDuplicatesAndOverHundredPercentAndKeepsThePreviousSet) {
  auto set = compile({flag("keep", true, 10000)});
  json doc{{"flags", {flag("x", true, 1), flag("x", true, 2)}}};
  Status dup = FlagSet::Compile(doc.dump(), set.get());
  EXPECT_FALSE(dup.ok);
  EXPECT_EQ(dup.code, ErrorCode::kDuplicateObject);
  EXPECT_EQ(Status(compile_error({flag("big", true, 10001)})).code, ErrorCode::kInvalidParameter);
  EXPECT_FALSE(FlagSet::Compile("{not json", set.get()).ok);
  EXPECT_EQ(set->size(), 1u);
  EXPECT_NE(set->find("keep"), nullptr);
}

TEST(CompiledFlag, KillSwitchZeroAndHundredPercent) {
  auto set = compile({flag("killed", false, 10000), flag("zero", true, 0), flag("all", true, 10000)});
  EXPECT_EQ(count_on(*set->find("killed"), 1000), 0);
  EXPECT_EQ(count_on(*set->find("zero"), 1000), 0);
  EXPECT_EQ(count_on(*set->find("all"), 1000), 1000);
  EXPECT_EQ(explain(*set->find("killed"), "1").reason, Reason::kOff);
}

TEST(CompiledFlag, QuarterRolloutReachesAQuarterAndRaisingOnlyAddsUsers) {
  auto set = compile({flag("grow", true, 2500)});
  auto half = compile({flag("grow", true, 5000)});
  EXPECT_NEAR(count_on(*set->find("grow"), 100000), 25000, 700);
  for (int id = 1; id <= 20000; id++) {
    const std::string user = std::to_string(id);
    if (on(*set->find("grow"), user)) {
      EXPECT_TRUE(on(*half->find("grow"), user)) << user;
    }
  }
}

TEST(CompiledFlag, UsersWithoutAnIdAreInOnlyAFullRollout) {
  auto set = compile({flag("part", true, 9999), flag("all", true, 10000)});
  EXPECT_FALSE(on(*set->find("part"), ""));
  EXPECT_TRUE(on(*set->find("all"), ""));
}

// Bucketer("seed").bucket("a") is 505 (GrowthBook vector): in at 5.05%, out at 5.04%.
TEST(CompiledFlag, BoundaryBucketIsIncludedLikeGrowthBookAndSaltReplacesKey) {
  json in = flag("k1", true, 505), out = flag("k2", true, 504);
  in["salt"] = "seed";
  out["salt"] = "seed";
  auto set = compile({in, out});
  EXPECT_TRUE(on(*set->find("k1"), "a"));
  EXPECT_FALSE(on(*set->find("k2"), "a"));
  EXPECT_EQ(explain(*set->find("k1"), "a").bucket, 505);
}

TEST(Evaluation, OrderOverrideDenyAllowRuleFallthrough) {
  json f = flag("f", true, 0);
  f["allow"] = {"allowed", "both"};
  f["deny"] = {"denied", "both", "overridden"};
  f["overrides"] = {{{"user_id", "overridden"}, {"value", true}, {"expires_at_us", nullptr}},
                    {{"user_id", "expired"}, {"value", true}, {"expires_at_us", kNow - 1}}};
  f["rules"] = {{{"number", 3}, {"constraints", json::array({{{"attribute", "tier"}, {"op", "in"}, {"values", {"pro"}}}})},
                 {"rollout_bp", 10000}, {"value", true}}};
  auto set = compile({f});
  const CompiledFlag& c = *set->find("f");
  ASSERT_EQ(set->attribute_names(), std::vector<std::string>{"tier"});
  EXPECT_EQ(explain(c, "overridden").reason, Reason::kOverride);
  EXPECT_TRUE(explain(c, "overridden").value->on);
  EXPECT_EQ(explain(c, "both").reason, Reason::kTargetDeny);  // deny wins over allow
  EXPECT_EQ(explain(c, "allowed").reason, Reason::kTargetAllow);
  EXPECT_EQ(explain(c, "expired").reason, Reason::kFallthrough);
  Evaluation pro = explain(c, "someone", {AttributeValue::String("pro")});
  EXPECT_EQ(pro.reason, Reason::kRuleMatch);
  EXPECT_EQ(pro.rule, 3);
  EXPECT_TRUE(pro.value->on);
  Evaluation free = explain(c, "someone", {AttributeValue::String("free")});
  EXPECT_EQ(free.reason, Reason::kFallthrough);
  EXPECT_FALSE(free.value->on);
  EXPECT_EQ(std::string(openfeature_reason(Reason::kOff, false)), "DISABLED");
  EXPECT_EQ(std::string(openfeature_reason(Reason::kFallthrough, true)), "SPLIT");
}

TEST(Evaluation, PrerequisitesAreTransitiveAndCyclesRefused) {
  json a = flag("a", true, 10000), b = flag("b", true, 10000), c = flag("c", false, 10000);
  a["prerequisites"] = {{{"flag", "b"}, {"value", true}}};
  b["prerequisites"] = {{{"flag", "c"}, {"value", true}}};
  auto set = compile({a, b, c});
  EXPECT_EQ(explain(*set->find("a"), "1").reason, Reason::kPrerequisiteFailed);
  c["enabled"] = true;
  auto fixed = compile({a, b, c});
  EXPECT_EQ(explain(*fixed->find("a"), "1").reason, Reason::kFallthrough);
  c["prerequisites"] = {{{"flag", "a"}, {"value", true}}};
  Status cycle = compile_error({a, b, c});
  EXPECT_EQ(cycle.code, ErrorCode::kCycle);
  EXPECT_NE(cycle.message.find("a -> b -> c -> a"), std::string::npos) << cycle.message;
}

TEST(Evaluation, PlanStageInForceAtNow) {
  json f = flag("p", true, 0);
  f["plan"] = {{{"starts_at_us", kNow - 10}, {"rollout_bp", 10000}, {"tiers", nullptr}},
               {{"starts_at_us", kNow + 10}, {"rollout_bp", 0}, {"tiers", nullptr}}};
  auto set = compile({f});
  Subject s;
  s.user_id = "1";
  EXPECT_FALSE(set->find("p")->enabled_for(s, kNow - 11));  // before the plan: the fallthrough's 0%
  EXPECT_TRUE(set->find("p")->enabled_for(s, kNow));         // first stage: 100%
  EXPECT_FALSE(set->find("p")->enabled_for(s, kNow + 10));   // second stage: 0%
}

TEST(Evaluation, MultivariateServesWeightedVariantsStably) {
  json f = flag("mv", true, 10000);
  f["variants"] = {{{"key", "control"}, {"weight", 50}}, {{"key", "blue"}, {"weight", 50}, {"value", {{"color", "blue"}}}}};
  auto set = compile({f});
  const CompiledFlag& c = *set->find("mv");
  int blue = 0;
  for (int id = 1; id <= 10000; id++) {
    const Evaluation e = explain(c, std::to_string(id));
    ASSERT_TRUE(e.value->on);
    if (std::string(c.variant_key(*e.value)) == "blue") {
      blue++;
      EXPECT_EQ(e.value->json, R"({"color":"blue"})");
    }
  }
  EXPECT_NEAR(blue, 5000, 300);
  json bad = f;
  bad["variants"][1]["weight"] = 40;
  EXPECT_NE(compile_error({bad}).message.find("sum to 90.00"), std::string::npos);
}

TEST(Validate, ValuesAgainstVariants) {
  EXPECT_TRUE(ValidateServedValue("true", "null").ok);
  EXPECT_FALSE(ValidateServedValue("\"blue\"", "null").ok);
  EXPECT_TRUE(ValidateServedValue("\"blue\"", R"([{"key":"blue","weight":100}])").ok);
  EXPECT_EQ(ValidateServedValue("\"red\"", R"([{"key":"blue","weight":100}])").code, ErrorCode::kUndefinedObject);
  EXPECT_EQ(ValidateVariants(R"([{"key":"a","weight":50},{"key":"a","weight":50}])").code, ErrorCode::kDuplicateObject);
  EXPECT_FALSE(ValidateConstraints("{}").ok);
  EXPECT_TRUE(ValidateConstraints("[]").ok);
}

}  // namespace
}  // namespace rollout
