// Bucketing: GrowthBook's published hash vectors (sdk-js test/cases.json, "hash") and the
// properties the flag model relies on.
#include "core/bucket.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace rollout {
namespace {

std::string decimal(int64_t v) {
  char buf[kMaxDecimalLength];
  return std::string(buf, format_decimal(v, buf));
}

TEST(FormatDecimal, PrintsInt64LikePostgres) {
  EXPECT_EQ(decimal(0), "0");
  EXPECT_EQ(decimal(42), "42");
  EXPECT_EQ(decimal(-7), "-7");
  EXPECT_EQ(decimal(std::numeric_limits<int64_t>::max()), "9223372036854775807");
  EXPECT_EQ(decimal(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
}

TEST(FormatUuid, PrintsCanonicalLowerCase) {
  const unsigned char uuid[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                                  0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
  char out[kUuidTextLength];
  format_uuid(uuid, out);
  EXPECT_EQ(std::string(out, kUuidTextLength), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
}

// cases.json "hash" entries with version 2: [seed, value, 2, expected n]; bucket = n * 10000.
TEST(Bucketer, MatchesGrowthBookHashV2Vectors) {
  EXPECT_EQ(Bucketer("seed").bucket("a"), 505u);
  EXPECT_EQ(Bucketer("seed").bucket("b"), 2696u);
  EXPECT_EQ(Bucketer("foo").bucket("ab"), 2575u);
  EXPECT_EQ(Bucketer("foo").bucket("def"), 2019u);
  EXPECT_EQ(Bucketer("89123klj").bucket("8952klfjas09ujkasdf"), 1240u);
  EXPECT_EQ(Bucketer("90850943850283058242805").bucket("123"), 7516u);
  EXPECT_EQ(Bucketer("()**(%$##$%#$#").bucket("___)((*\":&"), 128u);
}

// Non-ASCII salts and values, computed with GrowthBook's JavaScript SDK, @growthbook/growthbook
// 1.8.0 (the version tests/growthbook/package-lock.json pins): `Math.round(hash(seed, value, 2)
// * 10000)` and `Math.round(hash(seed, value, 1) * 1000)` with `hash` from the package's
// dist/cjs/util.js, run under Node.js 20. The SDK hashes UTF-16 code units (`charCodeAt`).
TEST(Bucketer, MatchesGrowthBookSdkOnNonAsciiText) {
  EXPECT_EQ(Bucketer("seed").bucket(u8"josé"), 5199u);
  EXPECT_EQ(Bucketer(u8"josé").bucket("42"), 7847u);
  EXPECT_EQ(Bucketer("new_checkout").bucket(u8"Zoë"), 5464u);
  EXPECT_EQ(Bucketer("flag").bucket(u8"用户"), 9254u);
  EXPECT_EQ(Bucketer("flag").bucket(u8"😀"), 6896u);
  EXPECT_EQ(Bucketer(u8"😀").bucket("user-1"), 8470u);
  EXPECT_EQ(Bucketer("s").bucket(u8"𝔘ser\u00e9😀中"), 2590u);
  EXPECT_EQ(Bucketer("salt").bucket(u8"\uffff"), 8289u);
  EXPECT_EQ(Bucketer("salt").bucket(u8"\U00010000"), 6809u);
  EXPECT_EQ(Bucketer("salt").bucket(u8"\U0010ffff"), 719u);
  EXPECT_EQ(Bucketer(u8"ключ").bucket(u8"пользователь"), 5581u);
  EXPECT_EQ(Bucketer(u8"e\u0301").bucket(u8"cafe\u0301"), 570u);  // combining accent, not normalized
}

TEST(GrowthBookV1, MatchesGrowthBookSdkOnNonAsciiText) {
  EXPECT_EQ(growthbook_v1_numerator("", u8"josé"), 586u);
  EXPECT_EQ(growthbook_v1_numerator("seed", u8"😀"), 429u);
  EXPECT_EQ(growthbook_v1_numerator(u8"用户", "abc"), 162u);
  EXPECT_EQ(growthbook_v1_numerator("x", u8"ñandú"), 895u);
}

// cases.json "hash" entries with version 1: [seed, value, 1, expected n]; numerator = n * 1000.
TEST(GrowthBookV1, MatchesGrowthBookHashV1Vectors) {
  EXPECT_EQ(growthbook_v1_numerator("", "a"), 220u);
  EXPECT_EQ(growthbook_v1_numerator("", "b"), 77u);
  EXPECT_EQ(growthbook_v1_numerator("b", "a"), 946u);
  EXPECT_EQ(growthbook_v1_numerator("ef", "d"), 652u);
  EXPECT_EQ(growthbook_v1_numerator("asdf", "8952klfjas09ujk"), 549u);
  EXPECT_EQ(growthbook_v1_numerator("", "123"), 11u);
  EXPECT_EQ(growthbook_v1_numerator("", "___)((*\":&"), 563u);
}

TEST(Bucketer, IsDeterministicAndInRange) {
  Bucketer b("new_checkout");
  for (int64_t id = -1000; id < 1000; id++) {
    const std::string v = decimal(id);
    const uint32_t bucket = b.bucket(v);
    EXPECT_LT(bucket, kBuckets);
    EXPECT_EQ(bucket, Bucketer("new_checkout").bucket(v));
  }
}

TEST(Bucketer, SpreadsUsersEvenly) {
  Bucketer b("spread");
  int below_quarter = 0;
  const int n = 100000;
  for (int64_t id = 1; id <= n; id++) {
    if (b.bucket(decimal(id)) < 2500) below_quarter++;
  }
  // 25% of 100,000 with a binomial standard deviation of ~137: allow five of them.
  EXPECT_NEAR(below_quarter, 25000, 700);
}

}  // namespace
}  // namespace rollout
