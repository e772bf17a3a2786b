#include "core/bucket.h"

namespace rollout {

namespace {

// "00" "01" ... "99": the inner digest's digits two at a time, which halves the chain of
// (32-bit) divisions on the bucketing path.
constexpr char kDigitPairs[] =
    "00010203040506070809"
    "10111213141516171819"
    "20212223242526272829"
    "30313233343536373839"
    "40414243444546474849"
    "50515253545556575859"
    "60616263646566676869"
    "70717273747576777879"
    "80818283848586878889"
    "90919293949596979899";

// Writes the decimal digits of `v` so that they end just before `end`; returns the first.
// REQUIRES: room for 10 digits before `end`.
inline char* digits_backwards(uint32_t v, char* end) noexcept {
  char* p = end;
  while (v >= 100) {
    const uint32_t pair = (v % 100) * 2;
    v /= 100;
    *--p = kDigitPairs[pair + 1];
    *--p = kDigitPairs[pair];
  }
  if (v >= 10) {
    *--p = kDigitPairs[v * 2 + 1];
    *--p = kDigitPairs[v * 2];
  } else {
    *--p = static_cast<char>('0' + v);
  }
  return p;
}

}  // namespace

size_t format_decimal(int64_t value, char* out) noexcept {
  // Work on the magnitude as unsigned so INT64_MIN does not overflow.
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  char reversed[20];
  size_t n = 0;
  do {
    reversed[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  size_t len = 0;
  if (value < 0) out[len++] = '-';
  while (n > 0) out[len++] = reversed[--n];
  return len;
}

void format_uuid(const unsigned char (&uuid)[16], char (&out)[kUuidTextLength]) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t pos = 0;
  for (size_t i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[pos++] = '-';
    out[pos++] = kHex[uuid[i] >> 4];
    out[pos++] = kHex[uuid[i] & 0xf];
  }
}

uint32_t Bucketer::bucket(std::string_view value) const noexcept {
  const uint32_t inner = Fnv1a32(salted_).update_utf16(value).digest();
  // decimal(inner), written back to front straight into place, then hashed (ASCII: bytes are
  // its code units).
  char digits[10];
  const char* start = digits_backwards(inner, digits + sizeof digits);
  return fnv1a32(std::string_view(start, static_cast<size_t>(digits + sizeof digits - start))) % kBuckets;
}

uint32_t growthbook_v1_numerator(std::string_view seed, std::string_view value) noexcept {
  return Fnv1a32().update_utf16(value).update_utf16(seed).digest() % 1000;
}

}  // namespace rollout
