// Hash functions used for bucketing. Pure C++, no PostgreSQL headers.
//
// - FNV-1a 32-bit (http://www.isthe.com/chongo/tech/comp/fnv/): GrowthBook's hash family, used
//   for flag rollouts and experiments. Streaming, so a flag's salt prefix is hashed once.
// - MurmurHash3 x86 32-bit (Austin Appleby, public domain reference smhasher/MurmurHash3.cpp):
//   the hash Unleash SDKs use for gradual rollouts and variants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rollout {

// FNV-1a 32-bit as a value type: copy a state that has consumed a prefix, then feed the suffix.
class Fnv1a32 {
 public:
  static constexpr uint32_t kOffsetBasis = 0x811c9dc5u;
  static constexpr uint32_t kPrime = 0x01000193u;

  constexpr Fnv1a32() noexcept = default;

  constexpr Fnv1a32& update(std::string_view bytes) noexcept {
    for (unsigned char c : bytes) {
      state_ = (state_ ^ c) * kPrime;
    }
    return *this;
  }

  constexpr uint32_t digest() const noexcept { return state_; }

 private:
  uint32_t state_ = kOffsetBasis;
};

constexpr uint32_t fnv1a32(std::string_view bytes) noexcept { return Fnv1a32().update(bytes).digest(); }

// MurmurHash3_x86_32 over `len` bytes at `data` (may be null when len == 0).
uint32_t murmur3_x86_32(const void* data, size_t len, uint32_t seed) noexcept;

inline uint32_t murmur3_x86_32(std::string_view bytes, uint32_t seed) noexcept {
  return murmur3_x86_32(bytes.data(), bytes.size(), seed);
}

}  // namespace rollout
