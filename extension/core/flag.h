// The flag model and its evaluation. Pure C++: the PostgreSQL layer reads rows into
// FlagDefinition values and asks a compiled FlagSet for answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bucket.h"

namespace rollout {

// A flag as stored: the kill switch and a percentage rollout with 1/10000 resolution.
struct FlagDefinition {
  std::string key;
  bool enabled = false;
  // Share of users who get the flag, in basis points of a percent: 2500 = 25.00%.
  uint32_t rollout_basis_points = 0;
  // Bucketing salt; empty means "the flag key", so different flags bucket independently.
  std::string salt;
};

// Result of compiling definitions: ok, or the first problem found, in words for the user.
struct Status {
  bool ok = true;
  std::string message;

  static Status Ok() { return {}; }
  static Status Error(std::string message) { return {false, std::move(message)}; }
};

// A flag ready for evaluation.
class CompiledFlag {
 public:
  explicit CompiledFlag(const FlagDefinition& definition);

  const std::string& key() const noexcept { return key_; }

  // Whether the user whose bucketing value is `value` (its text form) gets the flag.
  // Matches a GrowthBook rollout rule with coverage = rollout/100, seed = salt, hashVersion 2:
  // coverage 0 includes nobody; otherwise a user is in when bucket/10000 <= coverage.
  // Raising the percentage only ever adds users.
  bool enabled_for(std::string_view value) const noexcept {
    if (!enabled_ || rollout_basis_points_ == 0) return false;
    return bucketer_.bucket(value) <= rollout_basis_points_;
  }

 private:
  std::string key_;
  bool enabled_;
  uint32_t rollout_basis_points_;
  Bucketer bucketer_;
};

// An immutable set of compiled flags, looked up by key.
class FlagSet {
 public:
  FlagSet() = default;

  // Validates and compiles. On error `*set` is left unchanged.
  // Errors: empty key, duplicate key, rollout above 100%.
  static Status Compile(std::vector<FlagDefinition> definitions, FlagSet* set);

  // The flag named `key`, or nullptr when there is none. No allocation.
  const CompiledFlag* find(std::string_view key) const noexcept;

  size_t size() const noexcept { return flags_.size(); }

 private:
  std::vector<CompiledFlag> flags_;  // sorted by key
};

}  // namespace rollout
