// Hash functions against the published reference vectors of each algorithm.
#include "core/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace rollout {
namespace {

// FNV-1a 32-bit: test vectors from the FNV reference test suite (Landon Curt Noll, test_fnv.c).
TEST(Fnv1a32, MatchesReferenceVectors) {
  EXPECT_EQ(fnv1a32(""), 0x811c9dc5u);
  EXPECT_EQ(fnv1a32("a"), 0xe40c292cu);
  EXPECT_EQ(fnv1a32("b"), 0xe70c2de5u);
  EXPECT_EQ(fnv1a32("c"), 0xe60c2c52u);
  EXPECT_EQ(fnv1a32("foo"), 0xa9f37ed7u);
  EXPECT_EQ(fnv1a32("foob"), 0x3f5076efu);
  EXPECT_EQ(fnv1a32("fooba"), 0x39aaa18au);
  EXPECT_EQ(fnv1a32("foobar"), 0xbf9cf968u);
}

TEST(Fnv1a32, StreamingEqualsOneShot) {
  Fnv1a32 prefix;
  prefix.update("foo");
  Fnv1a32 copy = prefix;
  EXPECT_EQ(copy.update("bar").digest(), fnv1a32("foobar"));
  EXPECT_EQ(prefix.update("b").digest(), fnv1a32("foob"));
}

// The definition update_utf16 must meet: one FNV-1a step per UTF-16 code unit, computed here
// from the compiler's own UTF-16 encoding of the same literal (u"...").
uint32_t fnv1a32_of_code_units(std::u16string_view units) {
  uint32_t h = Fnv1a32::kOffsetBasis;
  for (char16_t unit : units) h = (h ^ unit) * Fnv1a32::kPrime;
  return h;
}

TEST(Fnv1a32Utf16, AsciiEqualsTheByteHash) {
  for (const char* s : {"", "a", "foobar", "42", "new_checkout", "user-1@example.com"}) {
    EXPECT_EQ(fnv1a32_utf16(s), fnv1a32(s)) << s;
  }
}

TEST(Fnv1a32Utf16, HashesEachCodeUnitOfTwoAndThreeByteCharacters) {
  EXPECT_EQ(fnv1a32_utf16(u8"é"), (Fnv1a32::kOffsetBasis ^ 0xe9u) * Fnv1a32::kPrime);
  EXPECT_EQ(fnv1a32_utf16(u8"josé"), fnv1a32_of_code_units(u"josé"));
  EXPECT_EQ(fnv1a32_utf16(u8"用户"), fnv1a32_of_code_units(u"用户"));
  EXPECT_EQ(fnv1a32_utf16(u8"пользователь"), fnv1a32_of_code_units(u"пользователь"));
  EXPECT_EQ(fnv1a32_utf16(u8"\u0080\u07ff\u0800\uffff"), fnv1a32_of_code_units(u"\u0080\u07ff\u0800\uffff"));
  EXPECT_NE(fnv1a32_utf16(u8"josé"), fnv1a32(u8"josé"));  // the bytes differ from the code units
}

TEST(Fnv1a32Utf16, HashesAstralCharactersAsSurrogatePairs) {
  EXPECT_EQ(fnv1a32_utf16(u8"😀"), fnv1a32_of_code_units(u"\xd83d\xde00"));
  EXPECT_EQ(fnv1a32_utf16(u8"\U00010000\U0010ffff"), fnv1a32_of_code_units(u"\xd800\xdc00\xdbff\xdfff"));
  EXPECT_EQ(fnv1a32_utf16(u8"id-😀-用户-é-x"), fnv1a32_of_code_units(u"id-😀-用户-é-x"));
}

TEST(Fnv1a32Utf16, StreamingEqualsOneShotAcrossNonAscii) {
  Fnv1a32 prefix;
  prefix.update_utf16(u8"sé");
  EXPECT_EQ(prefix.update_utf16(u8"😀x").digest(), fnv1a32_utf16(u8"sé😀x"));
}

// Not reachable from PostgreSQL (its text is valid UTF-8), but the core must not read past the
// end or hash garbage differently from run to run: each offending byte counts as U+FFFD.
TEST(Fnv1a32Utf16, HashesInvalidBytesAsReplacementCharacters) {
  // A truncated 2-byte sequence, a stray continuation byte.
  EXPECT_EQ(fnv1a32_utf16(std::string("a\xc3", 2)), fnv1a32_of_code_units(u"a\xfffd"));
  EXPECT_EQ(fnv1a32_utf16(std::string("a\x80", 2)), fnv1a32_of_code_units(u"a\xfffd"));
  // A truncated 4-byte sequence: three offending bytes.
  EXPECT_EQ(fnv1a32_utf16(std::string("a\xf0\x9f\x98", 4)), fnv1a32_of_code_units(u"a\xfffd\xfffd\xfffd"));
  // An overlong '/', an encoded surrogate, a code point above U+10FFFF.
  EXPECT_EQ(fnv1a32_utf16(std::string("a\xc0\xaf", 3)), fnv1a32_of_code_units(u"a\xfffd\xfffd"));
  EXPECT_EQ(fnv1a32_utf16(std::string("a\xed\xa0\x80", 4)), fnv1a32_of_code_units(u"a\xfffd\xfffd\xfffd"));
  EXPECT_EQ(fnv1a32_utf16(std::string("a\xf4\x90\x80\x80", 5)), fnv1a32_of_code_units(u"a\xfffd\xfffd\xfffd\xfffd"));
  // Decoding resumes at the next well-formed sequence.
  EXPECT_EQ(fnv1a32_utf16(std::string("\xff\xc3\xa9z", 4)), fnv1a32_of_code_units(u"\xfffd\x00e9z"));
}

// MurmurHash3 x86 32: the widely cross-checked vectors for the smhasher reference
// implementation (empty input with several seeds, every tail length, UTF-8, long input).
TEST(Murmur3x86_32, MatchesReferenceVectors) {
  EXPECT_EQ(murmur3_x86_32("", 0), 0u);
  EXPECT_EQ(murmur3_x86_32("", 1), 0x514e28b7u);
  EXPECT_EQ(murmur3_x86_32("", 0xffffffffu), 0x81f16f39u);
  EXPECT_EQ(murmur3_x86_32(std::string("\0\0\0\0", 4), 0), 0x2362f9deu);
  EXPECT_EQ(murmur3_x86_32(std::string("\xff\xff\xff\xff", 4), 0), 0x76293b50u);
  EXPECT_EQ(murmur3_x86_32(std::string("\x21\x43\x65\x87", 4), 0), 0xf55b516bu);
  EXPECT_EQ(murmur3_x86_32(std::string("\x21\x43\x65\x87", 4), 0x5082edeeu), 0x2362f9deu);
  EXPECT_EQ(murmur3_x86_32(std::string("\x21\x43\x65", 3), 0), 0x7e4a8634u);
  EXPECT_EQ(murmur3_x86_32(std::string("\x21\x43", 2), 0), 0xa0f7b07au);
  EXPECT_EQ(murmur3_x86_32(std::string("\x21", 1), 0), 0x72661cf4u);
  EXPECT_EQ(murmur3_x86_32(std::string("\0\0\0", 3), 0), 0x85f0b427u);
  EXPECT_EQ(murmur3_x86_32(std::string("\0\0", 2), 0), 0x30f4c306u);
  EXPECT_EQ(murmur3_x86_32(std::string("\0", 1), 0), 0x514e28b7u);
  EXPECT_EQ(murmur3_x86_32("aaaa", 0x9747b28cu), 0x5a97808au);
  EXPECT_EQ(murmur3_x86_32("aaa", 0x9747b28cu), 0x283e0130u);
  EXPECT_EQ(murmur3_x86_32("aa", 0x9747b28cu), 0x5d211726u);
  EXPECT_EQ(murmur3_x86_32("a", 0x9747b28cu), 0x7fa09ea6u);
  EXPECT_EQ(murmur3_x86_32("abcd", 0x9747b28cu), 0xf0478627u);
  EXPECT_EQ(murmur3_x86_32("abc", 0x9747b28cu), 0xc84a62ddu);
  EXPECT_EQ(murmur3_x86_32("ab", 0x9747b28cu), 0x74875592u);
  EXPECT_EQ(murmur3_x86_32("Hello, world!", 0x9747b28cu), 0x24884cbau);
  EXPECT_EQ(murmur3_x86_32("\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80\xcf\x80", 0x9747b28cu),
            0xd58063c1u);  // "ππππππππ" in UTF-8
  EXPECT_EQ(murmur3_x86_32(std::string(256, 'a'), 0x9747b28cu), 0x37405bdcu);
  EXPECT_EQ(murmur3_x86_32("abc", 0), 0xb3dd93fau);
  EXPECT_EQ(murmur3_x86_32("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0), 0xee925b90u);
  EXPECT_EQ(murmur3_x86_32("The quick brown fox jumps over the lazy dog", 0x9747b28cu), 0x2fa826cdu);
}

TEST(Murmur3x86_32, NullPointerWithZeroLengthIsTheEmptyInput) { EXPECT_EQ(murmur3_x86_32(nullptr, 0, 1), 0x514e28b7u); }

}  // namespace
}  // namespace rollout
