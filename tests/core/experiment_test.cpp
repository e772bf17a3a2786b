// Experiments: GrowthBook's run() for one user. The hash values used below are checked by hand
// against bucket_test.cpp's vectors (GrowthBook's cases.json): hash("seed", "a", 2) = 0.0505,
// hash("seed", "b", 2) = 0.2696, hash("b", "a", 1) = 0.946; the namespace hashes
// hash("__checkout", v, 1) = 0.766 ("a") and 0.183 ("b") were computed with GrowthBook's
// JavaScript SDK 1.8.0 (dist/cjs/util.js `hash`), as were the run() answers quoted in comments.
#include "core/experiment.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace rollout {
namespace {

using json = nlohmann::json;

json experiment(const std::string& key, const std::vector<std::string>& keys, const std::vector<double>& weights) {
  json variations = json::array();
  for (size_t i = 0; i < keys.size(); i++) variations.push_back({{"key", keys[i]}, {"weight", weights[i]}});
  return {{"id", 7},           {"key", key},      {"status", "running"},     {"seed", "seed"},
          {"hash_version", 2}, {"coverage", 1.0}, {"variations", variations}};
}

// Compiles one experiment (ASSERTs it compiles) into `set` and returns it.
const CompiledExperiment& compile(const json& e, ExperimentSet* set) {
  const Status s = ExperimentSet::Compile(json{{"experiments", json::array({e})}}.dump(), set);
  EXPECT_TRUE(s.ok) << s.message;
  const CompiledExperiment* x = set->find(e["key"].get<std::string>());
  EXPECT_NE(x, nullptr);
  return *x;
}

Status compile_error(const json& e) {
  ExperimentSet set;
  return ExperimentSet::Compile(json{{"experiments", json::array({e})}}.dump(), &set);
}

ExperimentDecision run(const CompiledExperiment& x, std::string_view id, const AttributeValue* attributes = nullptr,
                       int64_t now = 0) {
  return x.evaluate(ExperimentSubject{id, attributes}, now);
}

TEST(Experiment, EqualSplitPicksTheRangeHoldingTheHash) {
  ExperimentSet set;
  const auto& x = compile(experiment("x", {"control", "treatment"}, {0.5, 0.5}), &set);
  // 0.0505 is in [0, 0.5): control; 0.2696 too.
  EXPECT_EQ(run(x, "a").step, ExperimentStep::kAssigned);
  EXPECT_EQ(run(x, "a").variation, 0);
  EXPECT_EQ(run(x, "b").variation, 0);
  EXPECT_EQ(x.id(), 7);
}

TEST(Experiment, UnevenWeightsMoveTheBoundaries) {
  ExperimentSet set;
  // [0, 0.05) and [0.05, 1): 0.0505 is the treatment (the SDK's run() says variationId 1).
  EXPECT_EQ(run(compile(experiment("x", {"c", "t"}, {0.05, 0.95}), &set), "a").variation, 1);
  ExperimentSet set3;
  // [0, 0.25), [0.25, 0.5), [0.5, 1): 0.2696 is the second variation.
  EXPECT_EQ(run(compile(experiment("y", {"c", "t1", "t2"}, {0.25, 0.25, 0.5}), &set3), "b").variation, 1);
}

TEST(Experiment, RangesUseGrowthBooksDoubleArithmetic) {
  ExperimentSet set;
  // getBucketRanges(3, 1, [0.1, 0.2, 0.7]) is [0, 0.1), [0.1, 0.30000000000000004), [0.30000000000000004, 1):
  // bucket 3000 (n = 0.3) is still the second variation, not the third.
  const auto& x = compile(experiment("x", {"a", "b", "c"}, {0.1, 0.2, 0.7}), &set);
  EXPECT_EQ(x.choose(999), 0);
  EXPECT_EQ(x.choose(1000), 1);
  EXPECT_EQ(x.choose(3000), 1);
  EXPECT_EQ(x.choose(3001), 2);
  EXPECT_EQ(x.choose(9999), 2);
}

TEST(Experiment, CoverageShrinksEachRangeFromItsStart) {
  ExperimentSet set;
  json e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["coverage"] = 0.1;  // [0, 0.05) and [0.5, 0.55): 0.0505 is in neither (SDK: inExperiment false)
  EXPECT_EQ(run(compile(e, &set), "a").step, ExperimentStep::kCoverage);
  ExperimentSet set2;
  e["key"] = "y";
  e["coverage"] = 0.102;  // [0, 0.051): 0.0505 is in
  EXPECT_EQ(run(compile(e, &set2), "a").variation, 0);
  ExperimentSet set3;
  e["key"] = "z";
  e["coverage"] = 0.0;  // nobody
  const auto& z = compile(e, &set3);
  for (uint32_t k = 0; k < kBuckets; k++) EXPECT_EQ(z.choose(k), -1);
}

TEST(Experiment, HashVersionOneUsesValuePlusSeedOverAThousand) {
  ExperimentSet set;
  json e = experiment("x", {"a", "b", "c"}, equal_experiment_weights(3));
  e["seed"] = "b";
  e["hash_version"] = 1;
  // hash("b", "a", 1) = 0.946 is in [2/3, 1).
  const auto& x = compile(e, &set);
  EXPECT_EQ(x.bucket("a"), 946u);
  EXPECT_EQ(run(x, "a").variation, 2);
}

TEST(Experiment, SeedDefaultsToTheKey) {
  ExperimentSet set;
  json e = experiment("seed", {"c", "t"}, {0.05, 0.95});
  e.erase("seed");
  EXPECT_EQ(compile(e, &set).bucket("a"), 505u);  // hash("seed", "a", 2)
}

TEST(Experiment, NamespaceHashesWithVersionOneAndItsOwnSeed) {
  ExperimentSet set;
  json e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["namespace"] = "checkout";
  e["namespace_start"] = 0.0;
  e["namespace_end"] = 0.5;
  const auto& x = compile(e, &set);
  EXPECT_EQ(run(x, "a").step, ExperimentStep::kNamespace);  // 0.766
  EXPECT_EQ(run(x, "b").step, ExperimentStep::kAssigned);   // 0.183
  ExperimentSet other;
  e["key"] = "y";
  e["namespace_start"] = 0.5;
  e["namespace_end"] = 1.0;
  const auto& y = compile(e, &other);
  EXPECT_EQ(run(y, "a").step, ExperimentStep::kAssigned);
  EXPECT_EQ(run(y, "b").step, ExperimentStep::kNamespace);
}

TEST(Experiment, OnlyRunningAndStoppedExperimentsGetPastTheStatus) {
  for (const char* status : {"draft", "paused"}) {
    ExperimentSet set;
    json e = experiment("x", {"c", "t"}, {0.5, 0.5});
    e["status"] = status;
    e["forced_variation"] = "t";  // forcing does not reach users of an inactive experiment
    EXPECT_EQ(run(compile(e, &set), "a").step, ExperimentStep::kInactive) << status;
  }
  ExperimentSet set;
  json e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["status"] = "stopped";
  EXPECT_EQ(run(compile(e, &set), "a").step, ExperimentStep::kStopped);
}

TEST(Experiment, ForcedVariationServesCoveredUsersEvenWhenStopped) {
  ExperimentSet set;
  json e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["status"] = "stopped";
  e["forced_variation"] = "t";  // SDK: status stopped with force 1 gives variationId 1, inExperiment
  const auto& x = compile(e, &set);
  EXPECT_EQ(run(x, "a").step, ExperimentStep::kForced);
  EXPECT_EQ(run(x, "a").variation, 1);
  ExperimentSet set2;
  e["key"] = "y";
  e["coverage"] = 0.1;  // SDK: coverage 0.1 with force 1 leaves "a" out
  EXPECT_EQ(run(compile(e, &set2), "a").step, ExperimentStep::kCoverage);
}

TEST(Experiment, TimeWindowIsHalfOpen) {
  ExperimentSet set;
  json e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["starts_at_us"] = 100;
  e["ends_at_us"] = 200;
  const auto& x = compile(e, &set);
  EXPECT_TRUE(x.scheduled());
  EXPECT_EQ(run(x, "a", nullptr, 99).step, ExperimentStep::kInactive);
  EXPECT_EQ(run(x, "a", nullptr, 100).step, ExperimentStep::kAssigned);
  EXPECT_EQ(run(x, "a", nullptr, 199).step, ExperimentStep::kAssigned);
  EXPECT_EQ(run(x, "a", nullptr, 200).step, ExperimentStep::kInactive);
}

TEST(Experiment, EmptyHashValueIsNotInTheExperiment) {
  ExperimentSet set;
  const auto& x = compile(experiment("x", {"c", "t"}, {0.5, 0.5}), &set);
  EXPECT_FALSE(x.scheduled());  // so evaluation needs no clock
  EXPECT_EQ(run(x, "").step, ExperimentStep::kNoHashValue);
}

TEST(Experiment, HashAttributeComesFromTheAttributes) {
  ExperimentSet set;
  json e = experiment("x", {"c", "t"}, {0.05, 0.95});
  e["hash_attribute"] = "company";
  e["constraints"] = json::parse(R"([{"attribute": "tier", "op": "in", "values": ["pro"]}])");
  const auto& x = compile(e, &set);
  ASSERT_EQ(x.attribute_names(), (std::vector<std::string>{"company", "tier"}));
  AttributeValue attributes[2] = {AttributeValue::String("a"), AttributeValue::String("pro")};
  EXPECT_EQ(run(x, "some user", attributes).variation, 1);  // hashed by "a": 0.0505
  attributes[1] = AttributeValue::String("free");
  EXPECT_EQ(run(x, "some user", attributes).step, ExperimentStep::kTargeting);
  attributes[0] = AttributeValue::Absent();
  EXPECT_EQ(run(x, "some user", attributes).step, ExperimentStep::kNoHashValue);
  attributes[0] = AttributeValue::Number(0, "0");  // falsy in JavaScript
  EXPECT_EQ(run(x, "some user", attributes).step, ExperimentStep::kNoHashValue);
}

TEST(Experiment, UserIdConstraintTestsTheEvaluatedId) {
  ExperimentSet set;
  json e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["constraints"] = json::parse(R"([{"attribute": "user_id", "op": "in", "values": ["a"]}])");
  const auto& x = compile(e, &set);
  EXPECT_TRUE(x.attribute_names().empty());
  EXPECT_EQ(run(x, "a").step, ExperimentStep::kAssigned);
  EXPECT_EQ(run(x, "b").step, ExperimentStep::kTargeting);
}

TEST(ExperimentValidation, RefusesBadVariationsAndWeights) {
  EXPECT_TRUE(ValidateExperimentVariations({"a", "b"}, {0.5, 0.5}).ok);
  EXPECT_TRUE(ValidateExperimentVariations({"a", "b", "c"}, equal_experiment_weights(3)).ok);
  EXPECT_FALSE(ValidateExperimentVariations({"a"}, {1.0}).ok);
  EXPECT_FALSE(ValidateExperimentVariations({"a", "b"}, {0.5}).ok);
  EXPECT_FALSE(ValidateExperimentVariations({"a", "b"}, {0.6, 0.5}).ok);
  EXPECT_FALSE(ValidateExperimentVariations({"a", "b"}, {1.5, -0.5}).ok);
  EXPECT_FALSE(ValidateExperimentVariations({"a", ""}, {0.5, 0.5}).ok);
  EXPECT_TRUE(ValidateExperimentVariations({"a", "b"}, {0.5, 0.5 + 1e-10}).ok);
  EXPECT_FALSE(ValidateExperimentVariations({"a", "b"}, {0.5, 0.5 + 1e-8}).ok);
  const Status dup = ValidateExperimentVariations({"a", "a"}, {0.5, 0.5});
  EXPECT_EQ(dup.code, ErrorCode::kDuplicateObject);
  EXPECT_NE(dup.message.find("\"a\" appears twice"), std::string::npos);
}

TEST(ExperimentValidation, RefusesBadSettings) {
  EXPECT_TRUE(ValidateExperimentSettings(1, 2, 0, 1).ok);
  EXPECT_TRUE(ValidateExperimentSettings(0, 1, 0.2, 0.3).ok);
  EXPECT_FALSE(ValidateExperimentSettings(1.01, 2, 0, 1).ok);
  EXPECT_FALSE(ValidateExperimentSettings(-0.1, 2, 0, 1).ok);
  EXPECT_FALSE(ValidateExperimentSettings(1, 3, 0, 1).ok);
  EXPECT_FALSE(ValidateExperimentSettings(1, 2, 0.5, 0.5).ok);
  EXPECT_FALSE(ValidateExperimentSettings(1, 2, 0.6, 0.5).ok);
  EXPECT_FALSE(ValidateExperimentSettings(1, 2, -0.1, 0.5).ok);
  EXPECT_FALSE(ValidateExperimentSettings(1, 2, 0, 1.5).ok);
}

TEST(ExperimentSet, CompileRefusesBadDocuments) {
  json e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["forced_variation"] = "nope";
  EXPECT_EQ(compile_error(e).code, ErrorCode::kUndefinedObject);
  e = experiment("x", {"c", "t"}, {0.5, 0.6});
  EXPECT_FALSE(compile_error(e).ok);
  e = experiment("x", {"c", "t"}, {0.5, 0.5});
  e["constraints"] = json::parse(R"([{"attribute": "tier", "op": "nope"}])");
  const Status s = compile_error(e);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("experiment \"x\": constraint 1"), std::string::npos) << s.message;
  ExperimentSet set;
  EXPECT_FALSE(ExperimentSet::Compile("not json", &set).ok);
  EXPECT_TRUE(ExperimentSet::Compile(R"({"flags": []})", &set).ok);  // no experiments at all
  EXPECT_EQ(set.size(), 0u);
}

TEST(ExperimentStatus, TransitionsFollowTheLifecycle) {
  using S = ExperimentStatus;
  EXPECT_TRUE(experiment_transition_allowed(S::kDraft, S::kRunning));
  EXPECT_TRUE(experiment_transition_allowed(S::kRunning, S::kPaused));
  EXPECT_TRUE(experiment_transition_allowed(S::kPaused, S::kRunning));
  EXPECT_TRUE(experiment_transition_allowed(S::kRunning, S::kStopped));
  EXPECT_TRUE(experiment_transition_allowed(S::kPaused, S::kStopped));
  EXPECT_FALSE(experiment_transition_allowed(S::kDraft, S::kPaused));
  EXPECT_FALSE(experiment_transition_allowed(S::kDraft, S::kStopped));
  EXPECT_FALSE(experiment_transition_allowed(S::kStopped, S::kRunning));
  EXPECT_FALSE(experiment_transition_allowed(S::kRunning, S::kDraft));
  ExperimentStatus parsed;
  EXPECT_TRUE(parse_experiment_status("paused", &parsed));
  EXPECT_EQ(parsed, S::kPaused);
  EXPECT_FALSE(parse_experiment_status("archived", &parsed));
}

}  // namespace
}  // namespace rollout
