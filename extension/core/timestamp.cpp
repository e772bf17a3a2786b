#include "core/timestamp.h"

#include <cmath>

namespace rollout {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kSecondsPerDay = 86400;

bool is_leap_year(int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t year, int month) noexcept {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Days from 1970-01-01 to year-month-day of the proleptic Gregorian calendar.
int64_t days_since_epoch(int64_t year, int month, int day) noexcept {
  // Count years from March, so the leap day is the last day of a counted year, and add 400
  // years (146097 days, one whole cycle of the calendar) so that January and February of year 0
  // count from a non-negative year and every division below truncates the same as floor.
  int64_t y = (month <= 2 ? year - 1 : year) + 400;
  int64_t m = month <= 2 ? month + 9 : month - 3;  // March = 0 ... February = 11
  int64_t day_of_year = (153 * m + 2) / 5 + day - 1;
  int64_t days = 365 * y + y / 4 - y / 100 + y / 400 + day_of_year - 146097;
  constexpr int64_t kEpoch = 719468;  // 1970-01-01 counted the same way from 0000-03-01
  return days - kEpoch;
}

// Reads exactly `n` digits at `*pos`, advancing it.
bool digits(std::string_view text, size_t* pos, size_t n, int* out) noexcept {
  if (text.size() - *pos < n) return false;
  int value = 0;
  for (size_t i = 0; i < n; i++) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *pos += n;
  *out = value;
  return true;
}

bool expect(std::string_view text, size_t* pos, char c) noexcept {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

bool parse_timestamp(std::string_view text, int64_t* micros) noexcept {
  size_t pos = 0;
  int year, month, day;
  if (!digits(text, &pos, 4, &year) || !expect(text, &pos, '-') || !digits(text, &pos, 2, &month) ||
      !expect(text, &pos, '-') || !digits(text, &pos, 2, &day)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return false;
  int64_t seconds = days_since_epoch(year, month, day) * kSecondsPerDay;
  int64_t fraction_micros = 0;
  if (pos < text.size()) {
    char sep = text[pos++];
    if (sep != 'T' && sep != 't' && sep != ' ') return false;
    int hour, minute, second = 0;
    if (!digits(text, &pos, 2, &hour) || !expect(text, &pos, ':') || !digits(text, &pos, 2, &minute)) return false;
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!digits(text, &pos, 2, &second)) return false;
      if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {  // ISO 8601 allows both
        ++pos;
        size_t start = pos;
        int64_t scale = 100000;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          fraction_micros += (text[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return false;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return false;
    seconds += hour * 3600 + minute * 60 + second;
    if (pos < text.size()) {
      char sign = text[pos++];
      if (sign == 'Z' || sign == 'z') {
        if (pos != text.size()) return false;
      } else if (sign == '+' || sign == '-') {
        int offset_hours, offset_minutes = 0;
        if (!digits(text, &pos, 2, &offset_hours)) return false;
        if (pos < text.size()) {
          if (text[pos] == ':') ++pos;
          if (!digits(text, &pos, 2, &offset_minutes)) return false;
        }
        if (pos != text.size() || offset_hours > 23 || offset_minutes > 59) return false;
        // Local time = UTC + offset, so UTC = local time - offset.
        int64_t offset = offset_hours * 3600 + offset_minutes * 60;
        seconds += sign == '+' ? -offset : offset;
      } else {
        return false;
      }
    }
  }
  *micros = seconds * kMicrosPerSecond + fraction_micros;
  return true;
}

bool epoch_seconds_to_micros(double seconds, int64_t* micros) noexcept {
  // The range parse_timestamp covers, 0000-01-01 to 9999-12-31T23:59:59.
  constexpr double kMin = -62167219200.0;
  constexpr double kMax = 253402300799.0;
  if (!std::isfinite(seconds) || seconds < kMin || seconds >= kMax + 1) return false;
  *micros = static_cast<int64_t>(std::llround(seconds * kMicrosPerSecond));
  return true;
}

}  // namespace rollout
