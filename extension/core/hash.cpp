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

}  // namespace

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
