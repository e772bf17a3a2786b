// Semantic versions as semver.org 2.0.0 defines them, for the semver_* constraint operators.
//
// Parsing never allocates: a SemVer holds views into the text it was parsed from, so the text
// must outlive it. Precedence follows section 11 of the specification: major, minor and patch
// numerically; a version with a prerelease is lower than the same version without one;
// prerelease identifiers compare one by one (numeric ones numerically and below alphanumeric
// ones, alphanumeric ones in ASCII order), and a shorter list of equal identifiers is lower.
// Build metadata ("+build.5") is checked for syntax and ignored for precedence.
#pragma once

#include <cstdint>
#include <string_view>

namespace rollout {

struct SemVer {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  std::string_view prerelease;  // without the '-'; empty when there is none
  std::string_view build;       // without the '+'; empty when there is none
};

// Parses `text` as MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], with an optional leading 'v'
// ("v1.2.3"). Numbers and numeric prerelease identifiers have no leading zeros, numbers fit in
// 64 bits, identifiers are non-empty [0-9A-Za-z-]. Returns false (leaving `*out` unspecified)
// when `text` is not such a version.
bool parse_semver(std::string_view text, SemVer* out) noexcept;

// Precedence: negative when a < b, zero when equal, positive when a > b.
int compare_semver(const SemVer& a, const SemVer& b) noexcept;

}  // namespace rollout
