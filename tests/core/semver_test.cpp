#include "core/semver.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rollout {
namespace {

SemVer parsed(std::string_view text) {
  SemVer v;
  EXPECT_TRUE(parse_semver(text, &v)) << text;
  return v;
}

int compare(std::string_view a, std::string_view b) { return compare_semver(parsed(a), parsed(b)); }

TEST(SemVer, ParsesAllParts) {
  SemVer v = parsed("1.22.333-rc.1+build.7");
  EXPECT_EQ(v.major, 1u);
  EXPECT_EQ(v.minor, 22u);
  EXPECT_EQ(v.patch, 333u);
  EXPECT_EQ(v.prerelease, "rc.1");
  EXPECT_EQ(v.build, "build.7");
}

TEST(SemVer, AcceptsLeadingV) {
  SemVer v = parsed("v2.1.0");
  EXPECT_EQ(v.major, 2u);
  EXPECT_EQ(v.minor, 1u);
  EXPECT_EQ(v.patch, 0u);
  EXPECT_EQ(v.prerelease, "");
}

TEST(SemVer, AcceptsHyphensInsidePrereleaseAndBuild) {
  SemVer v = parsed("1.0.0-x-y-z.--+b-1");
  EXPECT_EQ(v.prerelease, "x-y-z.--");
  EXPECT_EQ(v.build, "b-1");
  EXPECT_EQ(parsed("1.0.0+001").build, "001");  // build identifiers may have leading zeros
}

TEST(SemVer, AcceptsTheLargestNumbers) { EXPECT_EQ(parsed("18446744073709551615.0.0").major, UINT64_MAX); }

TEST(SemVer, RejectsMalformedVersions) {
  const std::vector<std::string> bad = {
      "",       "v",      "1",        "1.2",        "1.2.3.4",  "01.2.3",  "1.02.3",    "1.2.03",
      "1.2.3-", "1.2.3+", "1.2.3-01", "1.2.3-a..b", "1.2.3-a.", "1.2.3-é", "1.2.3+a+b", " 1.2.3",
      "1.2.3 ", "V1.2.3", "vv1.2.3",  "-1.2.3",     "1.-2.3",   "a.b.c",   "1..3",      "18446744073709551616.0.0",
      "1.2.3_4"};
  for (const std::string& text : bad) {
    SemVer v;
    EXPECT_FALSE(parse_semver(text, &v)) << '"' << text << '"';
  }
}

TEST(SemVer, OrdersBySpecificationExample) {
  // semver.org 2.0.0, section 11.4.
  const std::vector<std::string> ascending = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                              "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                              "1.0.0-rc.1",  "1.0.0",         "2.0.0",
                                              "2.1.0",       "2.1.1",         "10.0.0"};
  for (size_t i = 0; i < ascending.size(); i++) {
    for (size_t j = 0; j < ascending.size(); j++) {
      int c = compare(ascending[i], ascending[j]);
      int expected = i < j ? -1 : (i > j ? 1 : 0);
      EXPECT_EQ((c > 0) - (c < 0), expected) << ascending[i] << " vs " << ascending[j];
    }
  }
}

TEST(SemVer, ComparesNumbersNumericallyNotAsText) {
  EXPECT_LT(compare("1.9.0", "1.10.0"), 0);
  EXPECT_LT(compare("1.0.0-rc.9", "1.0.0-rc.10"), 0);
  EXPECT_LT(compare("1.0.0-999", "1.0.0-a"), 0);  // numeric identifiers rank below alphanumeric
  EXPECT_LT(compare("1.0.0-B", "1.0.0-a"), 0);    // alphanumeric ones in ASCII order
}

TEST(SemVer, IgnoresBuildMetadataAndLeadingV) {
  EXPECT_EQ(compare("1.2.3+linux", "1.2.3+darwin.5"), 0);
  EXPECT_EQ(compare("v1.2.3", "1.2.3"), 0);
  EXPECT_EQ(compare("1.2.3-rc.1+a", "v1.2.3-rc.1"), 0);
}

}  // namespace
}  // namespace rollout
