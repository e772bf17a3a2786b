#include "core/timestamp.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace rollout {
namespace {

constexpr int64_t kSecond = 1000000;

int64_t parsed(std::string_view text) {
  int64_t micros = -1;
  EXPECT_TRUE(parse_timestamp(text, &micros)) << text;
  return micros;
}

TEST(Timestamp, ReadsUtcInstants) {
  EXPECT_EQ(parsed("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parsed("2024-02-29T12:30:15Z"), 1709209815 * kSecond);
  EXPECT_EQ(parsed("1969-12-31T23:59:59Z"), -1 * kSecond);
  EXPECT_EQ(parsed("2000-03-01T00:00:00Z"), 951868800 * kSecond);
  EXPECT_EQ(parsed("1900-03-01T00:00:00Z"), -2203891200 * kSecond);
  EXPECT_EQ(parsed("9999-12-31T23:59:59Z"), 253402300799 * kSecond);
  EXPECT_EQ(parsed("0000-01-01T00:00:00Z"), -62167219200 * kSecond);
}

TEST(Timestamp, NoOffsetMeansUtc) {
  EXPECT_EQ(parsed("2024-02-29T12:30:15"), parsed("2024-02-29T12:30:15Z"));
  EXPECT_EQ(parsed("2024-02-29"), parsed("2024-02-29T00:00:00Z"));
  EXPECT_EQ(parsed("2024-02-29T12:30"), parsed("2024-02-29T12:30:00Z"));
}

TEST(Timestamp, AppliesOffsetsInEveryForm) {
  int64_t utc = parsed("2024-06-01T10:00:00Z");
  EXPECT_EQ(parsed("2024-06-01T12:00:00+02:00"), utc);
  EXPECT_EQ(parsed("2024-06-01T12:00:00+0200"), utc);
  EXPECT_EQ(parsed("2024-06-01T12:00:00+02"), utc);
  EXPECT_EQ(parsed("2024-06-01T04:30:00-05:30"), utc);
  EXPECT_EQ(parsed("2024-06-01T10:00:00-00:00"), utc);
  EXPECT_EQ(parsed("2024-06-01T10:00:00z"), utc);
  // Crossing a day and a year boundary.
  EXPECT_EQ(parsed("2025-01-01T01:00:00+02:00"), parsed("2024-12-31T23:00:00Z"));
}

TEST(Timestamp, ReadsPostgresTimestamptzOutput) {
  EXPECT_EQ(parsed("2024-06-01 12:00:00+02"), parsed("2024-06-01T10:00:00Z"));
  EXPECT_EQ(parsed("2024-06-01 12:00:00.25+05:30"), parsed("2024-06-01T06:30:00.25Z"));
}

TEST(Timestamp, ReadsFractionsToTheMicrosecond) {
  EXPECT_EQ(parsed("1970-01-01T00:00:00.5Z"), 500000);
  EXPECT_EQ(parsed("1970-01-01T00:00:00,5Z"), 500000);
  EXPECT_EQ(parsed("1970-01-01T00:00:01.000001Z"), kSecond + 1);
  EXPECT_EQ(parsed("1970-01-01T00:00:01.0000019Z"), kSecond + 1);  // beyond microseconds: truncated
}

TEST(Timestamp, CountsLeapYearsAndLeapSeconds) {
  EXPECT_EQ(parsed("2024-03-01") - parsed("2024-02-28"), 2 * 86400 * kSecond);
  EXPECT_EQ(parsed("2023-03-01") - parsed("2023-02-28"), 86400 * kSecond);
  EXPECT_EQ(parsed("2000-03-01") - parsed("2000-02-28"), 2 * 86400 * kSecond);
  EXPECT_EQ(parsed("2100-03-01") - parsed("2100-02-28"), 86400 * kSecond);
  EXPECT_EQ(parsed("2016-12-31T23:59:60Z"), parsed("2017-01-01T00:00:00Z"));
  // Whole years over four centuries: 97 leap years in every 400.
  int leap_years = 0;
  for (int year = 1600; year < 2000; year++) {
    std::string a = std::to_string(year) + "-01-01";
    std::string b = std::to_string(year + 1) + "-01-01";
    int64_t days = (parsed(b) - parsed(a)) / (86400 * kSecond);
    ASSERT_TRUE(days == 365 || days == 366) << year;
    leap_years += days == 366;
  }
  EXPECT_EQ(leap_years, 97);
}

TEST(Timestamp, RejectsMalformedText) {
  const std::vector<std::string> bad = {"",
                                        "2024",
                                        "2024-06",
                                        "24-06-01",
                                        "2024-6-01",
                                        "2024-13-01",
                                        "2024-00-10",
                                        "2023-02-29",
                                        "2024-04-31",
                                        "2024-06-00",
                                        "2024-06-01T",
                                        "2024-06-01T24:00:00Z",
                                        "2024-06-01T12:60:00Z",
                                        "2024-06-01T12:00:61Z",
                                        "2024-06-01T12Z",
                                        "2024-06-01T12:00:00.Z",
                                        "2024-06-01T12:00:00+2",
                                        "2024-06-01T12:00:00+24:00",
                                        "2024-06-01T12:00:00+02:60",
                                        "2024-06-01T12:00:00+02:00:00",
                                        "2024-06-01T12:00:00ZZ",
                                        "2024-06-01T12:00:00 UTC",
                                        "2024-06-01X12:00:00",
                                        " 2024-06-01",
                                        "2024-06-01 ",
                                        "1717243200",
                                        "June 1, 2024"};
  for (const std::string& text : bad) {
    int64_t micros = 0;
    EXPECT_FALSE(parse_timestamp(text, &micros)) << '"' << text << '"';
  }
}

TEST(Timestamp, ConvertsEpochSeconds) {
  int64_t micros = 0;
  ASSERT_TRUE(epoch_seconds_to_micros(1709209815, &micros));
  EXPECT_EQ(micros, parsed("2024-02-29T12:30:15Z"));
  ASSERT_TRUE(epoch_seconds_to_micros(-0.25, &micros));
  EXPECT_EQ(micros, -250000);
  ASSERT_TRUE(epoch_seconds_to_micros(1.0000004, &micros));
  EXPECT_EQ(micros, kSecond);
  EXPECT_FALSE(epoch_seconds_to_micros(1e300, &micros));
  EXPECT_FALSE(epoch_seconds_to_micros(-1e12, &micros));
  EXPECT_FALSE(epoch_seconds_to_micros(std::numeric_limits<double>::infinity(), &micros));
  EXPECT_FALSE(epoch_seconds_to_micros(std::numeric_limits<double>::quiet_NaN(), &micros));
}

}  // namespace
}  // namespace rollout
