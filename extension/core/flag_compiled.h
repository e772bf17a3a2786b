// A compiled flag: the evaluation hot path, inline where it pays. Included by core/flag.h.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/bucket.h"
#include "core/constraint.h"
#include "core/id_index.h"

namespace rollout {

// The attribute name that always means the evaluated user id (in constraints and bucket_by).
inline constexpr std::string_view kUserIdAttribute = "user_id";
inline constexpr int kUserIdSlot = -1;
inline constexpr int kNoSlot = -2;

// What a step serves before it is resolved into a value: off, on (for a multivariate flag: the
// variant the user's bucket picks by weight), or one named variant.
struct Outcome {
  enum class Kind : uint8_t { kOff, kOn, kVariant };
  Kind kind = Kind::kOff;
  int variant = -1;
};

class CompiledFlag {
 public:
  const std::string& key() const noexcept { return key_; }

  // feature_enabled(): whether the flag serves an "on" value. No allocation.
  bool enabled_for(const Subject& subject, int64_t now_us) const noexcept {
    if (plain_) return plain_enabled_for(subject.user_id);
    return evaluate(subject, now_us).value->on;
  }

  // A flag that is on with nothing but a percentage: its answer needs neither attributes nor the
  // evaluation time, so callers can skip preparing them.
  bool plain() const noexcept { return plain_; }
  bool plain_enabled_for(std::string_view user_id) const noexcept { return in_rollout(fallthrough_bp_, user_id); }

  // The full decision with its reason (feature_value, feature_explain). No allocation.
  Evaluation evaluate(const Subject& subject, int64_t now_us) const noexcept;

  // Attribute slots evaluation may read, including those of prerequisites (transitively), so the
  // caller fills only these.
  const std::vector<int>& attribute_slots() const noexcept { return attribute_slots_; }

  bool multivariate() const noexcept { return !variants_.empty(); }

  // The key of the variant a served value belongs to, or nullptr (boolean flags, off).
  const char* variant_key(const ServedValue& value) const noexcept {
    return value.variant >= 0 ? variants_[static_cast<size_t>(value.variant)].key.c_str() : nullptr;
  }

 private:
  friend class FlagSet;
  friend struct FlagCompiler;

  struct Variant {
    std::string key;
    uint32_t end_bp;  // cumulative weight: the variant owns buckets [previous end, end_bp)
    ServedValue value;
  };
  struct Rule {
    int number;
    std::vector<Constraint> constraints;
    std::vector<int> constraint_slots;
    uint32_t bp;
    int bucket_slot;    // kUserIdSlot or an attribute slot
    int fallback_slot;  // kNoSlot, kUserIdSlot or an attribute slot
    Outcome outcome;
  };
  struct Stage {
    int64_t starts_at_us;
    uint32_t bp;
    std::vector<std::string> tiers;  // empty: every tier
  };
  struct Prerequisite {
    const CompiledFlag* flag;  // nullptr: the required flag does not exist (never met)
    Outcome required;          // kOn: served on; kOff: served off; kVariant: that variant
  };
  struct Override {
    Outcome outcome;
    int64_t expires_at_us;
  };

  // Whether a bucketing value is in a rollout of `bp` basis points (GrowthBook coverage).
  bool in_rollout(uint32_t bp, std::string_view value) const noexcept {
    if (bp == 0) return false;
    if (bp >= kBuckets) return true;
    if (value.empty()) return false;
    return bucketer_.bucket(value) <= bp;
  }
  std::string_view bucketing_value(const Subject& subject, int slot) const noexcept {
    if (slot == kUserIdSlot) return subject.user_id;
    if (slot == kNoSlot) return {};
    const AttributeValue& v = subject.attribute(slot);
    return v.present() ? v.text : std::string_view();
  }
  bool tier_allowed(const Subject& subject, const std::vector<std::string>& tiers) const noexcept;
  bool rule_matches(const Rule& rule, const Subject& subject) const noexcept;
  const ServedValue* serve(const Outcome& outcome, std::string_view bucketing_value) const noexcept;
  bool prerequisites_met(const Subject& subject, int64_t now_us) const noexcept;

  std::string key_;
  Bucketer bucketer_{""};
  Bucketer variant_bucketer_{""};
  bool enabled_ = false;
  bool plain_ = false;  // enabled, no targeting of any kind: only the fallthrough percentage
  uint32_t fallthrough_bp_ = 0;
  std::vector<std::string> fallthrough_tiers_;
  int tier_slot_ = kNoSlot;
  std::vector<Variant> variants_;
  ServedValue off_value_;
  ServedValue on_value_;  // boolean flags only
  std::vector<Prerequisite> prerequisites_;
  IdIndex targets_;  // allow/deny lists and overrides, by user id
  std::vector<Override> overrides_;
  std::vector<Rule> rules_;
  std::vector<Stage> plan_;  // by starts_at
  std::vector<int> attribute_slots_;
};

}  // namespace rollout
