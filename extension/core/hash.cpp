#include "core/hash.h"

#include <cstring>

namespace rollout {

namespace {

constexpr uint32_t rotl32(uint32_t x, int r) noexcept { return (x << r) | (x >> (32 - r)); }

constexpr uint32_t fmix32(uint32_t h) noexcept {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Length of the well-formed UTF-8 sequence starting at p[0] >= 0x80 (Unicode 15, table 3-7),
// or 0 when it is not one (bad lead byte, bad or missing continuation, overlong, surrogate,
// above U+10FFFF).
size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) noexcept {
  const unsigned char lead = p[0];
  size_t length;
  unsigned char second_min = 0x80, second_max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) second_min = 0xa0;  // overlong
    if (lead == 0xed) second_max = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) second_min = 0x90;  // overlong
    if (lead == 0xf4) second_max = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < length) return 0;
  if (p[1] < second_min || p[1] > second_max) return 0;
  for (size_t i = 2; i < length; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
  }
  return length;
}

}  // namespace

void Fnv1a32::update_utf16_non_ascii(const unsigned char* p, const unsigned char* end) noexcept {
  uint32_t h = state_;
  while (p != end) {
    const unsigned char lead = *p;
    uint32_t code_point;
    if (lead < 0x80) {
      code_point = lead;
      p += 1;
    } else {
      switch (utf8_sequence_length(p, end)) {
        case 2:
          code_point = (static_cast<uint32_t>(lead & 0x1f) << 6) | (p[1] & 0x3f);
          p += 2;
          break;
        case 3:
          code_point =
              (static_cast<uint32_t>(lead & 0x0f) << 12) | (static_cast<uint32_t>(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
          p += 3;
          break;
        case 4:
          code_point = (static_cast<uint32_t>(lead & 0x07) << 18) | (static_cast<uint32_t>(p[1] & 0x3f) << 12) |
                       (static_cast<uint32_t>(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
          p += 4;
          break;
        default:
          code_point = 0xfffd;
          p += 1;
          break;
      }
    }
    if (code_point < 0x10000) {
      h = (h ^ code_point) * kPrime;
    } else {
      const uint32_t offset = code_point - 0x10000;
      h = (h ^ (0xd800 + (offset >> 10))) * kPrime;
      h = (h ^ (0xdc00 + (offset & 0x3ff))) * kPrime;
    }
  }
  state_ = h;
}

uint32_t murmur3_x86_32(const void* data, size_t len, uint32_t seed) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(data);
  constexpr uint32_t c1 = 0xcc9e2d51u;
  constexpr uint32_t c2 = 0x1b873593u;
  uint32_t h1 = seed;

  const size_t nblocks = len / 4;
  for (size_t i = 0; i < nblocks; i++) {
    // Blocks are read little-endian, as the reference does on x86; memcpy avoids unaligned UB.
    uint32_t k1;
    std::memcpy(&k1, bytes + i * 4, sizeof k1);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    k1 = __builtin_bswap32(k1);
#endif
    k1 *= c1;
    k1 = rotl32(k1, 15);
    k1 *= c2;
    h1 ^= k1;
    h1 = rotl32(h1, 13);
    h1 = h1 * 5 + 0xe6546b64u;
  }

  const unsigned char* tail = bytes + nblocks * 4;
  uint32_t k1 = 0;
  switch (len & 3) {
    case 3:
      k1 ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      k1 ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      k1 ^= tail[0];
      k1 *= c1;
      k1 = rotl32(k1, 15);
      k1 *= c2;
      h1 ^= k1;
  }

  h1 ^= static_cast<uint32_t>(len);
  return fmix32(h1);
}

}  // namespace rollout
