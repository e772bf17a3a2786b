#include "core/semver.h"

namespace rollout {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_identifier_char(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool all_digits(std::string_view s) noexcept {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// A numeric part: digits, no leading zero unless it is "0", no overflow.
bool parse_number(std::string_view s, uint64_t* out) noexcept {
  if (s.empty() || !all_digits(s) || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t n = 0;
  for (char c : s) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return false;
    n = n * 10 + digit;
  }
  *out = n;
  return true;
}

// Dot-separated non-empty identifiers; numeric ones without leading zeros when `strict_numbers`
// (prerelease), any digits otherwise (build metadata).
bool valid_identifiers(std::string_view s, bool strict_numbers) noexcept {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view id = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (id.empty()) return false;
    for (char c : id) {
      if (!is_identifier_char(c)) return false;
    }
    if (strict_numbers && id.size() > 1 && id[0] == '0' && all_digits(id)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Splits off the next dot-separated identifier of `rest`.
std::string_view next_identifier(std::string_view* rest) noexcept {
  size_t dot = rest->find('.');
  std::string_view id = rest->substr(0, dot);
  *rest = dot == std::string_view::npos ? std::string_view() : rest->substr(dot + 1);
  return id;
}

int compare_identifiers(std::string_view a, std::string_view b) noexcept {
  bool a_numeric = all_digits(a);
  bool b_numeric = all_digits(b);
  if (a_numeric && b_numeric) {
    // No leading zeros, so the longer number is the larger; equal lengths compare as text.
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b);
  }
  if (a_numeric != b_numeric) return a_numeric ? -1 : 1;
  return a.compare(b);
}

int compare_numbers(uint64_t a, uint64_t b) noexcept { return a < b ? -1 : (a > b ? 1 : 0); }

}  // namespace

bool parse_semver(std::string_view text, SemVer* out) noexcept {
  if (!text.empty() && text[0] == 'v') text.remove_prefix(1);
  SemVer v;
  size_t plus = text.find('+');
  if (plus != std::string_view::npos) {
    v.build = text.substr(plus + 1);
    if (!valid_identifiers(v.build, false)) return false;
    text = text.substr(0, plus);
  }
  size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    v.prerelease = text.substr(dash + 1);
    if (!valid_identifiers(v.prerelease, true)) return false;
    text = text.substr(0, dash);
  }
  size_t dot1 = text.find('.');
  if (dot1 == std::string_view::npos) return false;
  size_t dot2 = text.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return false;
  if (!parse_number(text.substr(0, dot1), &v.major) ||
      !parse_number(text.substr(dot1 + 1, dot2 - dot1 - 1), &v.minor) ||
      !parse_number(text.substr(dot2 + 1), &v.patch)) {
    return false;
  }
  *out = v;
  return true;
}

int compare_semver(const SemVer& a, const SemVer& b) noexcept {
  if (int c = compare_numbers(a.major, b.major)) return c;
  if (int c = compare_numbers(a.minor, b.minor)) return c;
  if (int c = compare_numbers(a.patch, b.patch)) return c;
  if (a.prerelease.empty() || b.prerelease.empty()) {
    // A release ranks above any of its prereleases.
    return a.prerelease.empty() == b.prerelease.empty() ? 0 : (a.prerelease.empty() ? 1 : -1);
  }
  std::string_view ra = a.prerelease;
  std::string_view rb = b.prerelease;
  while (!ra.empty() && !rb.empty()) {
    if (int c = compare_identifiers(next_identifier(&ra), next_identifier(&rb))) return c;
  }
  return ra.empty() == rb.empty() ? 0 : (ra.empty() ? -1 : 1);
}

}  // namespace rollout
