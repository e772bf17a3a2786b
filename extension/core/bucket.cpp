#include "core/bucket.h"

namespace rollout {

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
  uint32_t inner = Fnv1a32(salted_).update_utf16(value).digest();
  // decimal(inner), written back to front straight into place, then hashed (ASCII: bytes are
  // its code units).
  char digits[10];
  size_t start = sizeof digits;
  do {
    digits[--start] = static_cast<char>('0' + inner % 10);
    inner /= 10;
  } while (inner != 0);
  return fnv1a32(std::string_view(digits + start, sizeof digits - start)) % kBuckets;
}

uint32_t growthbook_v1_numerator(std::string_view seed, std::string_view value) noexcept {
  return Fnv1a32().update_utf16(value).update_utf16(seed).digest() % 1000;
}

}  // namespace rollout
