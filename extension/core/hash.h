// Hash functions used for bucketing. Pure C++, no PostgreSQL headers.
//
// - FNV-1a 32-bit (http://www.isthe.com/chongo/tech/comp/fnv/): GrowthBook's hash family, used
//   for flag rollouts and experiments. Streaming, so a flag's salt prefix is hashed once.
//   Over bytes (`update`) or, as GrowthBook's JavaScript SDK hashes strings (`charCodeAt`), over
//   the UTF-16 code units of a UTF-8 text (`update_utf16`); the two agree on ASCII.
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

  // One FNV-1a step per UTF-16 code unit of `utf8`, each unit XORed in whole (a character
  // above U+FFFF as its two surrogates), which is what JavaScript's `hval ^= s.charCodeAt(i)`
  // loop computes for the same string. ASCII bytes are their own code units, so the loop stays
  // a plain byte loop until the first byte >= 0x80 and only then decodes.
  // REQUIRES: `utf8` is valid UTF-8 (PostgreSQL text always is). Invalid input is still hashed
  // without reading out of bounds: each byte that does not begin a well-formed sequence counts
  // as U+FFFD.
  Fnv1a32& update_utf16(std::string_view utf8) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
    const auto* end = p + utf8.size();
    for (; p != end; ++p) {
      if (*p >= 0x80) {
        update_utf16_non_ascii(p, end);
        break;
      }
      state_ = (state_ ^ *p) * kPrime;
    }
    return *this;
  }

  constexpr uint32_t digest() const noexcept { return state_; }

 private:
  // The decoding loop of update_utf16, from the first non-ASCII byte `p` to `end`.
  void update_utf16_non_ascii(const unsigned char* p, const unsigned char* end) noexcept;

  uint32_t state_ = kOffsetBasis;
};

constexpr uint32_t fnv1a32(std::string_view bytes) noexcept { return Fnv1a32().update(bytes).digest(); }

// FNV-1a 32 of the UTF-16 code units of `utf8`: GrowthBook's `hashFnv32a(str)`.
inline uint32_t fnv1a32_utf16(std::string_view utf8) noexcept { return Fnv1a32().update_utf16(utf8).digest(); }

// MurmurHash3_x86_32 over `len` bytes at `data` (may be null when len == 0).
uint32_t murmur3_x86_32(const void* data, size_t len, uint32_t seed) noexcept;

inline uint32_t murmur3_x86_32(std::string_view bytes, uint32_t seed) noexcept {
  return murmur3_x86_32(bytes.data(), bytes.size(), seed);
}

}  // namespace rollout
