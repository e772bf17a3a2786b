#include "core/experiment.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/flag.h"

namespace rollout {

using json = nlohmann::json;

const char* experiment_status_name(ExperimentStatus status) noexcept {
  switch (status) {
    case ExperimentStatus::kDraft:
      return "draft";
    case ExperimentStatus::kRunning:
      return "running";
    case ExperimentStatus::kPaused:
      return "paused";
    case ExperimentStatus::kStopped:
      return "stopped";
  }
  return "draft";
}

bool parse_experiment_status(std::string_view name, ExperimentStatus* out) noexcept {
  for (ExperimentStatus s :
       {ExperimentStatus::kDraft, ExperimentStatus::kRunning, ExperimentStatus::kPaused, ExperimentStatus::kStopped}) {
    if (name == experiment_status_name(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

bool experiment_transition_allowed(ExperimentStatus from, ExperimentStatus to) noexcept {
  if (from == to) return true;
  switch (from) {
    case ExperimentStatus::kDraft:
      return to == ExperimentStatus::kRunning;
    case ExperimentStatus::kRunning:
      return to == ExperimentStatus::kPaused || to == ExperimentStatus::kStopped;
    case ExperimentStatus::kPaused:
      return to == ExperimentStatus::kRunning || to == ExperimentStatus::kStopped;
    case ExperimentStatus::kStopped:
      return false;
  }
  return false;
}

const char* experiment_step_name(ExperimentStep step) noexcept {
  switch (step) {
    case ExperimentStep::kInactive:
      return "INACTIVE";
    case ExperimentStep::kNoHashValue:
      return "NO_HASH_VALUE";
    case ExperimentStep::kNamespace:
      return "NAMESPACE";
    case ExperimentStep::kTargeting:
      return "TARGETING";
    case ExperimentStep::kCoverage:
      return "COVERAGE";
    case ExperimentStep::kForced:
      return "FORCED";
    case ExperimentStep::kStopped:
      return "STOPPED";
    case ExperimentStep::kAssigned:
      return "ASSIGNED";
  }
  return "INACTIVE";
}

// ---------------------------------------------------------------------------------------------
// Evaluation

ExperimentDecision CompiledExperiment::evaluate(const ExperimentSubject& subject, int64_t now_us) const noexcept {
  ExperimentDecision d;
  if (!active(now_us)) return d;
  const std::string_view value = hash_value(subject);
  if (value.empty()) {
    d.step = ExperimentStep::kNoHashValue;
    return d;
  }
  if (has_namespace_) {
    const uint32_t k = growthbook_v1_numerator(namespace_seed_, value);
    if (k < namespace_lo_ || k >= namespace_hi_) {
      d.step = ExperimentStep::kNamespace;
      return d;
    }
  }
  for (size_t i = 0; i < constraints_.size(); i++) {
    const int slot = constraint_slots_[i];
    const AttributeValue v = slot >= 0                 ? subject.attributes[slot]
                             : subject.user_id.empty() ? AttributeValue::Absent()
                                                       : AttributeValue::String(subject.user_id);
    if (!constraints_[i].matches(v)) {
      d.step = ExperimentStep::kTargeting;
      return d;
    }
  }
  const int assigned = choose(bucket(value));
  if (assigned < 0) {
    d.step = ExperimentStep::kCoverage;
    return d;
  }
  if (forced_ >= 0) {
    d.step = ExperimentStep::kForced;
    d.variation = forced_;
    return d;
  }
  if (status_ == ExperimentStatus::kStopped) {
    d.step = ExperimentStep::kStopped;
    return d;
  }
  d.step = ExperimentStep::kAssigned;
  d.variation = assigned;
  return d;
}

// ---------------------------------------------------------------------------------------------
// Validation

namespace {

Status invalid(std::string message, std::string hint) {
  return Status::Error(ErrorCode::kInvalidParameter, std::move(message), std::move(hint));
}

std::string number_text(double v) {
  json j = v;
  return j.dump();
}

// The smallest k in [0, denominator] with k / denominator >= x (denominator + 1 if none): the
// first bucket at or above a GrowthBook range bound, computed with the SDK's double division.
uint32_t first_bucket_at_or_above(double x, uint32_t denominator) {
  uint32_t lo = 0, hi = denominator + 1;
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (static_cast<double>(mid) / static_cast<double>(denominator) >= x) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace

std::vector<double> equal_experiment_weights(size_t n) { return std::vector<double>(n, 1.0 / static_cast<double>(n)); }

std::vector<std::pair<double, double>> experiment_bucket_ranges(const std::vector<double>& weights, double coverage) {
  std::vector<std::pair<double, double>> ranges;
  double cumulative = 0;
  for (double w : weights) {
    const double start = cumulative;
    cumulative += w;
    ranges.emplace_back(start, start + coverage * w);
  }
  return ranges;
}

Status ValidateExperimentVariations(const std::vector<std::string>& keys, const std::vector<double>& weights) {
  if (keys.size() < 2) {
    return invalid("an experiment needs at least 2 variations, not " + std::to_string(keys.size()),
                   "Give the control and at least one treatment, e.g. ARRAY['control', 'treatment'].");
  }
  std::set<std::string_view> seen;
  for (const std::string& k : keys) {
    if (k.empty()) {
      return invalid("a variation key is empty", "Variation keys are non-empty text, e.g. 'control'.");
    }
    if (!seen.insert(k).second) {
      return Status::Error(ErrorCode::kDuplicateObject, "variation key \"" + k + "\" appears twice",
                           "Variation keys must be unique within an experiment.");
    }
  }
  if (weights.size() != keys.size()) {
    return invalid(std::to_string(weights.size()) + " weights for " + std::to_string(keys.size()) + " variations",
                   "Give one weight per variation, in the same order, or NULL for equal weights.");
  }
  double sum = 0;
  for (size_t i = 0; i < weights.size(); i++) {
    if (!std::isfinite(weights[i]) || weights[i] < 0) {
      return invalid(
          "weight " + number_text(weights[i]) + " of variation \"" + keys[i] + "\" is negative or not a number",
          "Weights are fractions from 0 to 1 that sum to 1, e.g. {0.5,0.5} or {0.8,0.1,0.1}.");
    }
    sum += weights[i];
  }
  if (std::fabs(sum - 1.0) > 1e-9) {
    return invalid("weights sum to " + number_text(sum) + ", not 1",
                   "Weights are fractions that sum to 1 (within 1e-9), e.g. {0.5,0.5} or {0.8,0.1,0.1}.");
  }
  return Status::Ok();
}

Status ValidateExperimentSettings(double coverage, int hash_version, double namespace_start, double namespace_end) {
  if (!(coverage >= 0 && coverage <= 1)) {
    return invalid("coverage " + number_text(coverage) + " is outside 0 to 1",
                   "Coverage is the fraction of users in the experiment, from 0 to 1, e.g. 0.2 for 20%.");
  }
  if (hash_version != 1 && hash_version != 2) {
    return invalid(
        "hash version " + std::to_string(hash_version) + " is not 1 or 2",
        "Use 2 (GrowthBook's unbiased hash, the default), or 1 to match experiments created with hash version 1.");
  }
  if (!(namespace_start >= 0 && namespace_start <= 1 && namespace_end >= 0 && namespace_end <= 1) ||
      !(namespace_start < namespace_end)) {
    return invalid(
        "namespace range [" + number_text(namespace_start) + ", " + number_text(namespace_end) + ") is invalid",
        "A namespace range is a part of 0 to 1 with start < end, e.g. 0 and 0.5; experiments with "
        "disjoint ranges of one namespace never share a user.");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Compilation

struct ExperimentCompiler {
  static Status shape(const std::string& where, const std::string& what) {
    return invalid(where + ": " + what, "Build the document with rollout._environment_document().");
  }

  static const json* field(const json& o, const char* name) {
    auto it = o.find(name);
    return it == o.end() || it->is_null() ? nullptr : &*it;
  }

  static Status compile(const json& e, CompiledExperiment* x) {
    const json* key = field(e, "key");
    if (key == nullptr || !key->is_string() || key->get_ref<const std::string&>().empty()) {
      return shape("experiment", "has no key");
    }
    x->key_ = key->get<std::string>();
    if (const json* id = field(e, "id"); id != nullptr && id->is_number_integer()) x->id_ = id->get<int64_t>();
    const json* status = field(e, "status");
    if (status == nullptr || !status->is_string() ||
        !parse_experiment_status(status->get<std::string>(), &x->status_)) {
      return shape("experiment", "has no valid status");
    }
    const json* seed = field(e, "seed");
    x->seed_ = seed != nullptr && seed->is_string() && !seed->get_ref<const std::string&>().empty()
                   ? seed->get<std::string>()
                   : x->key_;
    x->bucketer_ = Bucketer(x->seed_);
    const json* version = field(e, "hash_version");
    x->hash_version_ = version != nullptr && version->is_number_integer() ? version->get<int>() : 2;
    const json* coverage = field(e, "coverage");
    const double cov = coverage != nullptr && coverage->is_number() ? coverage->get<double>() : 1.0;
    const json* ns = field(e, "namespace");
    const json* ns_start = field(e, "namespace_start");
    const json* ns_end = field(e, "namespace_end");
    const double start = ns_start != nullptr && ns_start->is_number() ? ns_start->get<double>() : 0.0;
    const double end = ns_end != nullptr && ns_end->is_number() ? ns_end->get<double>() : 1.0;
    if (Status s = ValidateExperimentSettings(cov, x->hash_version_, start, end); !s.ok) return s;
    if (ns != nullptr) {
      if (!ns->is_string()) return shape("experiment", "namespace is not text");
      x->has_namespace_ = true;
      x->namespace_seed_ = "__" + ns->get<std::string>();
      x->namespace_lo_ = first_bucket_at_or_above(start, 1000);
      x->namespace_hi_ = first_bucket_at_or_above(end, 1000);
    }

    std::vector<std::string> keys;
    std::vector<double> weights;
    const json* variations = field(e, "variations");
    if (variations == nullptr || !variations->is_array()) return shape("experiment", "has no variations array");
    for (const json& v : *variations) {
      const json* k = v.is_object() ? field(v, "key") : nullptr;
      const json* w = v.is_object() ? field(v, "weight") : nullptr;
      if (k == nullptr || !k->is_string() || w == nullptr || !w->is_number()) {
        return shape("experiment", "a variation needs a key and a numeric weight");
      }
      keys.push_back(k->get<std::string>());
      weights.push_back(w->get<double>());
    }
    if (Status s = ValidateExperimentVariations(keys, weights); !s.ok) return s;
    const uint32_t denominator = x->hash_version_ == 2 ? kBuckets : 1000;
    const auto ranges = experiment_bucket_ranges(weights, cov);
    for (size_t i = 0; i < keys.size(); i++) {
      x->variations_.push_back({keys[i], weights[i], first_bucket_at_or_above(ranges[i].first, denominator),
                                first_bucket_at_or_above(ranges[i].second, denominator)});
    }

    auto slot_for = [x](const std::string& name) {
      for (size_t i = 0; i < x->attribute_names_.size(); i++) {
        if (x->attribute_names_[i] == name) return static_cast<int>(i);
      }
      x->attribute_names_.push_back(name);
      return static_cast<int>(x->attribute_names_.size() - 1);
    };
    const json* hash_attribute = field(e, "hash_attribute");
    if (hash_attribute != nullptr) {
      if (!hash_attribute->is_string() || hash_attribute->get_ref<const std::string&>().empty()) {
        return shape("experiment", "hash_attribute is not a non-empty text");
      }
      if (hash_attribute->get_ref<const std::string&>() != kExperimentIdAttribute) {
        x->hash_slot_ = slot_for(hash_attribute->get<std::string>());
      }
    }
    if (const json* constraints = field(e, "constraints"); constraints != nullptr) {
      if (!constraints->is_array()) return shape("experiment", "constraints is not an array");
      for (size_t i = 0; i < constraints->size(); i++) {
        Constraint c;
        Status s = Constraint::Parse((*constraints)[i], &c);
        if (!s.ok) return s.within("constraint " + std::to_string(i + 1));
        x->constraint_slots_.push_back(c.attribute() == kUserIdAttribute ? -1 : slot_for(c.attribute()));
        x->constraints_.push_back(std::move(c));
      }
    }
    if (const json* t = field(e, "starts_at_us"); t != nullptr && t->is_number_integer())
      x->starts_at_us_ = t->get<int64_t>();
    if (const json* t = field(e, "ends_at_us"); t != nullptr && t->is_number_integer())
      x->ends_at_us_ = t->get<int64_t>();
    if (const json* forced = field(e, "forced_variation"); forced != nullptr) {
      if (!forced->is_string()) return shape("experiment", "forced_variation is not text");
      for (size_t i = 0; i < keys.size(); i++) {
        if (keys[i] == forced->get_ref<const std::string&>()) x->forced_ = static_cast<int>(i);
      }
      if (x->forced_ < 0) {
        return Status::Error(ErrorCode::kUndefinedObject,
                             "forced variation \"" + forced->get<std::string>() + "\" is not a variation",
                             "Force one of the experiment's variation keys, or NULL to clear.");
      }
    }
    return Status::Ok();
  }
};

ExperimentSet::ExperimentSet() = default;
ExperimentSet::~ExperimentSet() = default;

const CompiledExperiment* ExperimentSet::find(std::string_view key) const noexcept {
  auto it =
      std::lower_bound(experiments_.begin(), experiments_.end(), key,
                       [](const std::unique_ptr<CompiledExperiment>& e, std::string_view k) { return e->key() < k; });
  if (it == experiments_.end() || (*it)->key() != key) return nullptr;
  return it->get();
}

Status ExperimentSet::Compile(std::string_view text, ExperimentSet* set) {
  json document = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return Status::Error(ErrorCode::kInvalidJson, "the environment document is not valid JSON",
                         "Build it with rollout._environment_document().");
  }
  std::vector<std::unique_ptr<CompiledExperiment>> compiled;
  if (document.is_object()) {
    auto experiments = document.find("experiments");
    if (experiments != document.end() && !experiments->is_null()) {
      if (!experiments->is_array())
        return ExperimentCompiler::shape("environment document", "experiments is not an array");
      for (const json& e : *experiments) {
        if (!e.is_object())
          return ExperimentCompiler::shape("environment document", "an experiment is not a JSON object");
        auto x = std::make_unique<CompiledExperiment>();
        if (Status s = ExperimentCompiler::compile(e, x.get()); !s.ok)
          return s.within("experiment \"" + x->key_ + "\"");
        compiled.push_back(std::move(x));
      }
    }
  }
  std::sort(compiled.begin(), compiled.end(), [](const auto& a, const auto& b) { return a->key() < b->key(); });
  for (size_t i = 1; i < compiled.size(); i++) {
    if (compiled[i]->key() == compiled[i - 1]->key()) {
      return Status::Error(ErrorCode::kDuplicateObject, "experiment \"" + compiled[i]->key() + "\" appears twice",
                           "Experiment keys are unique.");
    }
  }
  set->experiments_ = std::move(compiled);
  return Status::Ok();
}

}  // namespace rollout
