// The flag model and its evaluation. Pure C++: the PostgreSQL layer hands the core one JSON
// document per environment (built by SQL from the rollout tables) and asks the compiled FlagSet
// for answers.
//
// Evaluation order, first match wins (feature_explain reports the step as `Reason`):
//   flag missing            -> FLAG_NOT_FOUND (the caller applies rollout.missing_flag)
//   kill switch off         -> OFF
//   a prerequisite flag (transitively) not at its required value -> PREREQUISITE_FAILED
//   an unexpired per-user override -> OVERRIDE (its value)
//   user on the deny list   -> TARGET_DENY
//   user on the allow list  -> TARGET_ALLOW
//   first rule whose constraints all match -> RULE_MATCH (the rule's rollout decides: in its
//                              percentage the rule's value, outside it the off value)
//   otherwise               -> FALLTHROUGH: the fallthrough rollout (percentage, optional
//                              tiers), or the rollout plan's stage in force at `now`
//
// Bucketing is GrowthBook's hash version 2 over the flag's salt and the bucketing value (the
// user id, or a rule's bucket_by attribute): a value is in a rollout of p basis points when
// p > 0 and bucket <= p, exactly GrowthBook's `n <= coverage` with coverage = p / 10000. A user
// without a bucketing value (NULL or empty id) is in only a 100% rollout, as GrowthBook leaves a
// user without the hash attribute out of every partial rollout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/attribute.h"
#include "core/bucket.h"
#include "core/status.h"

namespace rollout {

enum class Reason : uint8_t {
  kFlagNotFound,
  kOff,
  kPrerequisiteFailed,
  kOverride,
  kTargetDeny,
  kTargetAllow,
  kRuleMatch,
  kFallthrough,
};

// "FLAG_NOT_FOUND", "OFF", ... as feature_explain reports them.
const char* reason_name(Reason reason) noexcept;
// The OpenFeature resolution reason the step reads as: DISABLED, TARGETING_MATCH, SPLIT,
// DEFAULT or ERROR. A step decided by a partial percentage is a SPLIT.
const char* openfeature_reason(Reason reason, bool decided_by_split) noexcept;

// A value a flag serves: the JSON text handed back by feature_value(), and whether it counts as
// "on" for feature_enabled(). Boolean flags serve `true`/`false`; multivariate flags serve a
// variant's payload (on) or `null` (off: no variant).
struct ServedValue {
  bool on = false;
  int variant = -1;  // index into the flag's variants, or -1
  std::string json;  // canonical JSON text
};

// Who is being evaluated. `attributes` is indexed by the FlagSet's attribute slots (see
// FlagSet::attribute_names); slots the caller did not fill must be Absent.
struct Subject {
  std::string_view user_id;  // the id as text; empty when the user has none
  const AttributeValue* attributes = nullptr;
  size_t attribute_count = 0;

  const AttributeValue& attribute(int slot) const noexcept {
    static const AttributeValue kAbsent{};
    return slot >= 0 && static_cast<size_t>(slot) < attribute_count ? attributes[slot] : kAbsent;
  }
};

struct Evaluation {
  Reason reason = Reason::kFlagNotFound;
  const ServedValue* value = nullptr;  // never null for a found flag
  int rule = 0;                        // the matching rule's number (1-based) for RULE_MATCH, else 0
  int32_t bucket = -1;                 // 0..9999 when a percentage was consulted, else -1
  bool split = false;                  // decided by a partial (0 < p < 100%) percentage
};

class CompiledFlag;

// An immutable, compiled environment: every flag of one environment, looked up by key.
class FlagSet {
 public:
  FlagSet();
  ~FlagSet();
  FlagSet(const FlagSet&) = delete;
  FlagSet& operator=(const FlagSet&) = delete;

  // Validates and compiles an environment document (its format is what SQL's
  // rollout._environment_document() builds). On error `*set` is unchanged.
  static Status Compile(std::string_view json, FlagSet* set);

  // The flag named `key`, or nullptr. No allocation.
  const CompiledFlag* find(std::string_view key) const noexcept;

  size_t size() const noexcept;
  const CompiledFlag& at(size_t i) const noexcept;  // in key order
  const std::string& environment() const noexcept { return environment_; }

  // Every attribute any rule, tier list or bucket_by of this set reads, by slot.
  const std::vector<std::string>& attribute_names() const noexcept { return attribute_names_; }
  // The slot of `name`, or -1.
  int attribute_slot(std::string_view name) const noexcept;

 private:
  std::string environment_;
  std::vector<std::unique_ptr<CompiledFlag>> flags_;  // sorted by key
  std::vector<std::string> attribute_names_;
};

// Validation of single parts as the management API and the table triggers receive them, with
// the same messages Compile gives.
Status ValidateConstraints(std::string_view json);                   // a rule's constraints array
Status ValidateVariants(std::string_view json);                      // a flag's variants array
Status ValidateServedValue(std::string_view json, std::string_view variants_json);  // rule/override value

}  // namespace rollout

#include "core/flag_compiled.h"
