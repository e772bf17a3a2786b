// The experiment model and its evaluation: GrowthBook's `run()` for one user. Pure C++: the
// PostgreSQL layer hands the core the `experiments` array of the environment document (built by
// SQL from rollout.experiments and rollout.experiment_variations) and asks the compiled
// ExperimentSet for answers.
//
// Evaluation follows GrowthBook's JavaScript SDK (@growthbook/growthbook 1.8.0, `runExperiment`
// in dist/cjs/core.js), step by step; the first step that decides wins (ExperimentStep says which):
//   status draft or paused (GrowthBook: draft, or active = false), or the evaluation time outside
//     [starts_at, ends_at)                                   -> kInactive: not in the experiment
//   the hash value (the user id, or the hash attribute) is empty -> kNoHashValue
//   a namespace is set and hash("__" + namespace, value, v1) is outside [start, end) -> kNamespace
//   a targeting constraint fails (the flags' constraint format) -> kTargeting
//   n = hash(seed, value, hash_version); no variation's bucket range [cumulative weight,
//     cumulative weight + coverage * weight) holds n        -> kCoverage
//   a forced variation is set                               -> kForced: that variation (GrowthBook's
//     `force`: users who pass everything above get it without being assigned)
//   status stopped                                          -> kStopped: not in the experiment
//   otherwise                                               -> kAssigned: the variation whose range holds n
// Hashes (over the UTF-16 code units of the strings, as the SDK's `hashFnv32a`):
//   v1 = fnv1a32(value + seed) % 1000 / 1000, v2 = fnv1a32(decimal(fnv1a32(seed + value))) % 10000 / 10000.
// Ranges and comparisons are GrowthBook's double arithmetic, evaluated once per experiment at
// compile time into integer bucket bounds (n is k / 1000 or k / 10000 for an integer k, and k / D
// grows with k, so `lo <= k < hi` decides exactly what `a <= k / D < b` does).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/attribute.h"
#include "core/bucket.h"
#include "core/constraint.h"
#include "core/status.h"

namespace rollout {

enum class ExperimentStatus : uint8_t { kDraft, kRunning, kPaused, kStopped };

// "draft", "running", "paused", "stopped".
const char* experiment_status_name(ExperimentStatus status) noexcept;
// Parses a status name; false for anything else.
bool parse_experiment_status(std::string_view name, ExperimentStatus* out) noexcept;
// The transitions the management API and the table's trigger allow: draft -> running,
// running <-> paused, running | paused -> stopped (and staying in the same status).
bool experiment_transition_allowed(ExperimentStatus from, ExperimentStatus to) noexcept;

enum class ExperimentStep : uint8_t {
  kInactive,
  kNoHashValue,
  kNamespace,
  kTargeting,
  kCoverage,
  kForced,
  kStopped,
  kAssigned,
};
// "INACTIVE", "NO_HASH_VALUE", "NAMESPACE", "TARGETING", "COVERAGE", "FORCED", "STOPPED", "ASSIGNED".
const char* experiment_step_name(ExperimentStep step) noexcept;

struct ExperimentDecision {
  ExperimentStep step = ExperimentStep::kInactive;
  int variation = -1;  // index of the variation served (kForced, kAssigned), else -1
};

// The attribute name that means "the evaluated user id" as a hash attribute (GrowthBook's default
// hashAttribute) and, as in flag rules, `user_id` in constraints.
inline constexpr std::string_view kExperimentIdAttribute = "id";

// Who is being evaluated: the user id as text, and the attributes the experiment reads
// (CompiledExperiment::attribute_names), in that order; absent ones are Absent.
struct ExperimentSubject {
  std::string_view user_id;
  const AttributeValue* attributes = nullptr;  // attribute_names().size() values
};

class CompiledExperiment {
 public:
  struct Variation {
    std::string key;
    double weight;
    uint32_t lo;  // buckets [lo, hi) of the hash's denominator (1000 or 10000) pick this variation
    uint32_t hi;
  };

  const std::string& key() const noexcept { return key_; }
  int64_t id() const noexcept { return id_; }
  ExperimentStatus status() const noexcept { return status_; }
  const std::vector<Variation>& variations() const noexcept { return variations_; }
  int forced_variation() const noexcept { return forced_; }  // index, or -1
  int hash_version() const noexcept { return hash_version_; }

  // Attribute names evaluation reads, in the order ExperimentSubject::attributes holds them.
  const std::vector<std::string>& attribute_names() const noexcept { return attribute_names_; }

  // Whether a schedule bounds the experiment (else active() ignores `now_us`).
  bool scheduled() const noexcept {
    return starts_at_us_ != std::numeric_limits<int64_t>::min() || ends_at_us_ != std::numeric_limits<int64_t>::max();
  }

  // Whether the experiment takes part at `now_us` at all (status draft/paused, time window).
  bool active(int64_t now_us) const noexcept {
    if (status_ == ExperimentStatus::kDraft || status_ == ExperimentStatus::kPaused) return false;
    return now_us >= starts_at_us_ && now_us < ends_at_us_;
  }

  // The value the user is hashed by (empty: the user is not in the experiment).
  std::string_view hash_value(const ExperimentSubject& subject) const noexcept {
    if (hash_slot_ < 0) return subject.user_id;
    const AttributeValue& v = subject.attributes[hash_slot_];
    // JavaScript truthiness, as the SDK's `if (attributes[hashAttribute])`: false and 0 are empty.
    if (!v.present() || (v.kind == AttributeValue::Kind::kBool && v.number == 0) ||
        (v.kind == AttributeValue::Kind::kNumber && v.number == 0)) {
      return {};
    }
    return v.text;
  }

  // GrowthBook's `run()` without sticky bucketing. No allocation.
  ExperimentDecision evaluate(const ExperimentSubject& subject, int64_t now_us) const noexcept;

  // The hash numerator of a value: k of n = k / 1000 (v1) or k / 10000 (v2).
  uint32_t bucket(std::string_view value) const noexcept {
    return hash_version_ == 2 ? bucketer_.bucket(value) : growthbook_v1_numerator(seed_, value);
  }
  // chooseVariation(): the variation whose range holds bucket k, or -1.
  int choose(uint32_t k) const noexcept {
    for (size_t i = 0; i < variations_.size(); i++) {
      if (k >= variations_[i].lo && k < variations_[i].hi) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  friend class ExperimentSet;
  friend struct ExperimentCompiler;

  std::string key_;
  int64_t id_ = 0;
  ExperimentStatus status_ = ExperimentStatus::kDraft;
  std::string seed_;
  Bucketer bucketer_{""};
  int hash_version_ = 2;
  int hash_slot_ = -1;  // -1: the user id; else an index into attribute_names_
  bool has_namespace_ = false;
  std::string namespace_seed_;  // "__" + namespace
  uint32_t namespace_lo_ = 0;   // numerators [lo, hi) of 1000 are in the namespace range
  uint32_t namespace_hi_ = 1000;
  std::vector<Constraint> constraints_;
  std::vector<int> constraint_slots_;  // -1: the user id
  int64_t starts_at_us_ = std::numeric_limits<int64_t>::min();
  int64_t ends_at_us_ = std::numeric_limits<int64_t>::max();
  int forced_ = -1;
  std::vector<Variation> variations_;
  std::vector<std::string> attribute_names_;
};

// Every experiment of a configuration, looked up by key.
class ExperimentSet {
 public:
  ExperimentSet();
  ~ExperimentSet();
  ExperimentSet(const ExperimentSet&) = delete;
  ExperimentSet& operator=(const ExperimentSet&) = delete;

  // Compiles the "experiments" array of an environment document (a missing array means none).
  // On error `*set` is unchanged.
  static Status Compile(std::string_view document_json, ExperimentSet* set);

  // The experiment named `key`, or nullptr. No allocation.
  const CompiledExperiment* find(std::string_view key) const noexcept;
  size_t size() const noexcept { return experiments_.size(); }

 private:
  std::vector<std::unique_ptr<CompiledExperiment>> experiments_;  // sorted by key
};

// Validation of the parts the management API and the tables' triggers receive, with the messages
// Compile gives. Weights: as many as variations, none negative or non-finite, summing to 1 within
// 1e-9; at least 2 variations with unique non-empty keys.
Status ValidateExperimentVariations(const std::vector<std::string>& keys, const std::vector<double>& weights);
// Coverage in [0, 1]; hash version 1 or 2; namespace range within [0, 1] with start < end.
Status ValidateExperimentSettings(double coverage, int hash_version, double namespace_start, double namespace_end);

// The equal weights GrowthBook uses when none are given: 1 / n each.
std::vector<double> equal_experiment_weights(size_t n);

// GrowthBook's getBucketRanges() for valid weights: [cumulative, cumulative + coverage * weight).
std::vector<std::pair<double, double>> experiment_bucket_ranges(const std::vector<double>& weights, double coverage);

}  // namespace rollout
