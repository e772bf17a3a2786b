// Deterministic bucketing: which of 10,000 buckets a (salt, value) pair falls in.
//
// Follows GrowthBook's hash version 2 exactly (sdk-js `hash(seed, value, 2)`):
//   bucket = fnv1a32(decimal(fnv1a32(salt + value))) % 10000
// where, as in the SDK's `hashFnv32a`, FNV-1a runs over the UTF-16 code units of the strings
// (Fnv1a32::update_utf16): salt and value are UTF-8 here, and hash as the SDK hashes the same
// JavaScript string, non-ASCII and characters above U+FFFF (surrogate pairs) included.
// so a flag rolled out in SQL includes the same users as the equivalent GrowthBook rollout rule
// (seed = salt, hashVersion = 2). The value is the bucketing attribute as text: a bigint user id
// is bucketed as its decimal text, so 42::bigint and '42' land in the same bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/hash.h"

namespace rollout {

inline constexpr uint32_t kBuckets = 10000;

// Largest decimal text of an int64 ("-9223372036854775808") plus one spare byte.
inline constexpr size_t kMaxDecimalLength = 21;

// Writes the decimal text of `value` into `out` (no terminator) and returns its length.
// REQUIRES: `out` holds at least kMaxDecimalLength bytes.
size_t format_decimal(int64_t value, char* out) noexcept;

// The canonical text of a UUID (lower-case hex, 8-4-4-4-12, 36 bytes), as PostgreSQL prints it.
inline constexpr size_t kUuidTextLength = 36;
void format_uuid(const unsigned char (&uuid)[16], char (&out)[kUuidTextLength]) noexcept;

// Hashes values under one salt. The salt's FNV state is computed once at construction, so
// bucketing a value costs one pass over the value and one over at most 10 decimal digits.
class Bucketer {
 public:
  // REQUIRES (here and in bucket()): valid UTF-8; see Fnv1a32::update_utf16.
  explicit Bucketer(std::string_view salt) noexcept : salted_(Fnv1a32().update_utf16(salt)) {}

  // A bucket in [0, kBuckets).
  uint32_t bucket(std::string_view value) const noexcept;

 private:
  Fnv1a32 salted_;
};

// GrowthBook's rollout test for a bucket and a coverage of `basis_points` / 10000 (the SDK's
// `isIncludedInRollout`): coverage 0 includes nobody, otherwise bucket / 10000 <= coverage.
// Raising the coverage only adds buckets.
constexpr bool rollout_includes(uint32_t bucket, uint32_t basis_points) noexcept {
  return basis_points != 0 && bucket <= basis_points;
}

// GrowthBook hash v1, (fnv1a32(value + seed) % 1000) / 1000 over UTF-16 code units, kept for
// experiment compatibility; returned as the integer numerator in [0, 1000).
uint32_t growthbook_v1_numerator(std::string_view seed, std::string_view value) noexcept;

}  // namespace rollout
