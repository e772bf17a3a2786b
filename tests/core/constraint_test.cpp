#include "core/constraint.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// Counts heap allocations, so a test can show that matching allocates nothing. Replacing the
// global operator new affects this whole test program, which only ever reads the counter.
namespace {
thread_local size_t allocations = 0;
}  // namespace

// GCC pairs the inlined operator new with these free() calls and warns of a mismatch that is
// not one: both sides of this replacement use malloc and free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace rollout {
namespace {

using nlohmann::json;

Constraint parse(const std::string& text) {
  Constraint c;
  Status s = Constraint::Parse(json::parse(text), &c);
  EXPECT_TRUE(s.ok) << text << ": " << s.message;
  return c;
}

Status error_of(const std::string& text) {
  Constraint c;
  Status s = Constraint::Parse(json::parse(text), &c);
  EXPECT_FALSE(s.ok) << text;
  return s;
}

AttributeValue str(std::string_view s) { return AttributeValue::String(s); }
AttributeValue num(double v, std::string_view text) { return AttributeValue::Number(v, text); }
const AttributeValue kAbsent = AttributeValue::Absent();

// ---- in, not_in, eq, neq ----

TEST(ConstraintIn, MatchesAnyListedString) {
  Constraint c = parse(R"({"attribute": "tier", "op": "in", "values": ["pro", "enterprise"]})");
  EXPECT_EQ(c.attribute(), "tier");
  EXPECT_TRUE(c.matches(str("pro")));
  EXPECT_TRUE(c.matches(str("enterprise")));
  EXPECT_FALSE(c.matches(str("free")));
  EXPECT_FALSE(c.matches(str("Pro")));  // case-sensitive unless asked
  EXPECT_FALSE(c.matches(str("")));
}

TEST(ConstraintIn, NotInIsTheComplementForPresentAttributes) {
  Constraint c = parse(R"({"attribute": "country", "op": "not_in", "values": ["DE", "FR"]})");
  EXPECT_TRUE(c.matches(str("US")));
  EXPECT_FALSE(c.matches(str("DE")));
  EXPECT_FALSE(c.matches(str("FR")));
}

TEST(ConstraintIn, EqAndNeqCompareOneValue) {
  Constraint eq = parse(R"({"attribute": "tier", "op": "eq", "value": "pro"})");
  EXPECT_TRUE(eq.matches(str("pro")));
  EXPECT_FALSE(eq.matches(str("pro ")));
  Constraint neq = parse(R"({"attribute": "tier", "op": "neq", "value": "pro"})");
  EXPECT_TRUE(neq.matches(str("free")));
  EXPECT_FALSE(neq.matches(str("pro")));
}

TEST(ConstraintIn, StringValuesCompareWithANumberAttributesShortestText) {
  Constraint c = parse(R"({"attribute": "org_id", "op": "in", "values": ["42", "2.5"]})");
  EXPECT_TRUE(c.matches(num(42, "42")));
  EXPECT_TRUE(c.matches(num(2.5, "2.5")));
  EXPECT_FALSE(c.matches(num(43, "43")));
  EXPECT_FALSE(parse(R"({"attribute": "org_id", "op": "eq", "value": "42.0"})").matches(num(42, "42")));
}

TEST(ConstraintIn, NumberValuesCompareNumerically) {
  Constraint c = parse(R"({"attribute": "org_id", "op": "in", "values": [42, 2.5, 1e3]})");
  EXPECT_TRUE(c.matches(num(42, "42")));
  EXPECT_TRUE(c.matches(num(1000, "1000")));
  EXPECT_FALSE(c.matches(num(41, "41")));
  // A string attribute that reads fully as a number is compared as that number.
  EXPECT_TRUE(c.matches(str("42")));
  EXPECT_TRUE(c.matches(str("42.0")));
  EXPECT_TRUE(c.matches(str("2.50")));
  EXPECT_TRUE(c.matches(str("1e3")));
  EXPECT_FALSE(c.matches(str("42 ")));
  EXPECT_FALSE(c.matches(str("+42")));
  EXPECT_FALSE(c.matches(str("forty-two")));
  EXPECT_FALSE(c.matches(AttributeValue::Bool(true)));
}

TEST(ConstraintIn, BooleanValuesMatchBooleansAndTheirText) {
  Constraint c = parse(R"({"attribute": "beta", "op": "eq", "value": true})");
  EXPECT_TRUE(c.matches(AttributeValue::Bool(true)));
  EXPECT_FALSE(c.matches(AttributeValue::Bool(false)));
  EXPECT_TRUE(c.matches(str("true")));
  EXPECT_FALSE(c.matches(num(1, "1")));
  Constraint text = parse(R"({"attribute": "beta", "op": "eq", "value": "false"})");
  EXPECT_TRUE(text.matches(AttributeValue::Bool(false)));
}

TEST(ConstraintIn, MixedValueTypes) {
  Constraint c = parse(R"({"attribute": "plan", "op": "in", "values": ["gold", 7, false]})");
  EXPECT_TRUE(c.matches(str("gold")));
  EXPECT_TRUE(c.matches(num(7, "7")));
  EXPECT_TRUE(c.matches(str("7")));
  EXPECT_TRUE(c.matches(AttributeValue::Bool(false)));
  EXPECT_FALSE(c.matches(AttributeValue::Bool(true)));
  EXPECT_FALSE(c.matches(str("silver")));
}

TEST(ConstraintIn, AThousandValues) {
  std::vector<std::string> ids;
  json values = json::array();
  for (int i = 0; i < 1000; i++) {
    ids.push_back("user-" + std::to_string(i * 7));
    values.push_back(ids.back());
  }
  Constraint c;
  ASSERT_TRUE(Constraint::Parse(json{{"attribute", "id"}, {"op", "in"}, {"values", values}}, &c).ok);
  for (int i = 0; i < 7000; i++) {
    std::string id = "user-" + std::to_string(i);
    EXPECT_EQ(c.matches(str(id)), i % 7 == 0) << id;
  }
  EXPECT_FALSE(c.matches(str("user-")));
  EXPECT_FALSE(c.matches(str("user-70000")));
}

TEST(ConstraintIn, DuplicateValuesAreHarmless) {
  Constraint c = parse(R"({"attribute": "tier", "op": "in", "values": ["a", "a", "b", 1, 1]})");
  EXPECT_TRUE(c.matches(str("a")));
  EXPECT_TRUE(c.matches(str("b")));
  EXPECT_TRUE(c.matches(num(1, "1")));
  EXPECT_FALSE(c.matches(str("c")));
}

// ---- lt, lte, gt, gte ----

TEST(ConstraintNumeric, ComparesNumbers) {
  AttributeValue seventeen = num(17, "17"), eighteen = num(18, "18"), nineteen = num(19, "19");
  Constraint lt = parse(R"({"attribute": "age", "op": "lt", "value": 18})");
  Constraint lte = parse(R"({"attribute": "age", "op": "lte", "value": 18})");
  Constraint gt = parse(R"({"attribute": "age", "op": "gt", "value": 18})");
  Constraint gte = parse(R"({"attribute": "age", "op": "gte", "value": 18})");
  EXPECT_TRUE(lt.matches(seventeen));
  EXPECT_FALSE(lt.matches(eighteen));
  EXPECT_TRUE(lte.matches(eighteen));
  EXPECT_FALSE(lte.matches(nineteen));
  EXPECT_TRUE(gt.matches(nineteen));
  EXPECT_FALSE(gt.matches(eighteen));
  EXPECT_TRUE(gte.matches(eighteen));
  EXPECT_FALSE(gte.matches(seventeen));
}

TEST(ConstraintNumeric, ReadsNumericStringsAndFractions) {
  Constraint gt = parse(R"({"attribute": "score", "op": "gt", "value": 2.5})");
  EXPECT_TRUE(gt.matches(str("2.51")));
  EXPECT_TRUE(gt.matches(str("1e1")));
  EXPECT_FALSE(gt.matches(str("2.5")));
  EXPECT_FALSE(gt.matches(str("-3")));
  // Numbers as text compare numerically, not as text ("10" < "9" as text).
  EXPECT_TRUE(parse(R"({"attribute": "n", "op": "gt", "value": 9})").matches(str("10")));
}

TEST(ConstraintNumeric, NonNumbersNeverMatch) {
  Constraint gt = parse(R"({"attribute": "age", "op": "gt", "value": 0})");
  Constraint lt = parse(R"({"attribute": "age", "op": "lt", "value": 0})");
  for (const AttributeValue& v :
       {str("abc"), str(""), str("12abc"), str("inf"), str("nan"), str(" 5"), AttributeValue::Bool(true)}) {
    EXPECT_FALSE(gt.matches(v)) << v.text;
    EXPECT_FALSE(lt.matches(v)) << v.text;
  }
}

TEST(ConstraintNumeric, NanMatchesNothing) {
  AttributeValue nan = num(std::numeric_limits<double>::quiet_NaN(), "NaN");
  for (const char* text :
       {R"({"attribute": "n", "op": "in", "values": [1, 2]})", R"({"attribute": "n", "op": "eq", "value": 1})",
        R"({"attribute": "n", "op": "lt", "value": 1})", R"({"attribute": "n", "op": "gte", "value": 1})"}) {
    EXPECT_FALSE(parse(text).matches(nan)) << text;
  }
  EXPECT_TRUE(parse(R"({"attribute": "n", "op": "gt", "value": 1})")
                  .matches(num(std::numeric_limits<double>::infinity(), "Infinity")));
}

// ---- before, after ----

TEST(ConstraintTime, BeforeAndAfterATimestamp) {
  Constraint before = parse(R"({"attribute": "signup", "op": "before", "value": "2024-06-01T00:00:00Z"})");
  Constraint after = parse(R"({"attribute": "signup", "op": "after", "value": "2024-06-01T00:00:00Z"})");
  EXPECT_TRUE(before.matches(str("2024-05-31T23:59:59Z")));
  EXPECT_FALSE(before.matches(str("2024-06-01T00:00:00Z")));
  EXPECT_TRUE(after.matches(str("2024-06-01T00:00:00.000001Z")));
  EXPECT_FALSE(after.matches(str("2024-06-01T00:00:00Z")));
}

TEST(ConstraintTime, OffsetsAndMissingOffsetsOnBothSides) {
  Constraint before = parse(R"({"attribute": "t", "op": "before", "value": "2024-06-01T02:00:00+02:00"})");
  EXPECT_TRUE(before.matches(str("2024-05-31T23:59:59")));      // no offset: UTC
  EXPECT_FALSE(before.matches(str("2024-06-01 00:00:00+00")));  // the same instant, as PostgreSQL prints it
  EXPECT_TRUE(before.matches(str("2024-06-01T01:00:00+01:01")));
  Constraint date = parse(R"({"attribute": "t", "op": "after", "value": "2024-06-01"})");
  EXPECT_TRUE(date.matches(str("2024-06-01T00:00:01")));
  EXPECT_FALSE(date.matches(str("2024-05-31")));
}

TEST(ConstraintTime, EpochSecondsOnBothSides) {
  // 1717200000 is 2024-06-01T00:00:00Z.
  Constraint by_number = parse(R"({"attribute": "t", "op": "after", "value": 1717200000})");
  EXPECT_TRUE(by_number.matches(str("2024-06-01T00:00:01Z")));
  EXPECT_FALSE(by_number.matches(str("2024-05-31T00:00:00Z")));
  EXPECT_TRUE(by_number.matches(num(1717200000.5, "1717200000.5")));
  EXPECT_FALSE(by_number.matches(num(1717200000, "1717200000")));
  EXPECT_TRUE(by_number.matches(str("1717200001")));
  Constraint by_text = parse(R"({"attribute": "t", "op": "before", "value": "2024-06-01T00:00:00Z"})");
  EXPECT_TRUE(by_text.matches(num(1717199999, "1717199999")));
  EXPECT_FALSE(by_text.matches(num(1717200000, "1717200000")));
}

TEST(ConstraintTime, UnreadableTimesNeverMatch) {
  Constraint before = parse(R"({"attribute": "t", "op": "before", "value": "2100-01-01"})");
  Constraint after = parse(R"({"attribute": "t", "op": "after", "value": "1900-01-01"})");
  for (const AttributeValue& v : {str("yesterday"), str("2024-13-01"), str(""), AttributeValue::Bool(false)}) {
    EXPECT_FALSE(before.matches(v)) << v.text;
    EXPECT_FALSE(after.matches(v)) << v.text;
  }
}

// ---- semver_eq, semver_lt, semver_gt ----

TEST(ConstraintSemver, ComparesByPrecedence) {
  Constraint eq = parse(R"({"attribute": "app_version", "op": "semver_eq", "value": "2.1.0"})");
  Constraint lt = parse(R"({"attribute": "app_version", "op": "semver_lt", "value": "2.1.0"})");
  Constraint gt = parse(R"({"attribute": "app_version", "op": "semver_gt", "value": "2.1.0"})");
  EXPECT_TRUE(eq.matches(str("2.1.0")));
  EXPECT_TRUE(eq.matches(str("v2.1.0+build.9")));
  EXPECT_FALSE(eq.matches(str("2.1.1")));
  EXPECT_TRUE(lt.matches(str("2.1.0-rc.1")));  // a prerelease is below its release
  EXPECT_TRUE(lt.matches(str("2.0.99")));
  EXPECT_FALSE(lt.matches(str("2.1.0")));
  EXPECT_TRUE(gt.matches(str("2.10.0")));  // numerically, not as text
  EXPECT_FALSE(gt.matches(str("2.1.0")));
  EXPECT_FALSE(gt.matches(str("2.1.0-rc.1")));
}

TEST(ConstraintSemver, PrereleaseValues) {
  Constraint gt = parse(R"({"attribute": "v", "op": "semver_gt", "value": "v1.0.0-beta.2"})");
  EXPECT_TRUE(gt.matches(str("1.0.0-beta.11")));
  EXPECT_TRUE(gt.matches(str("1.0.0")));
  EXPECT_FALSE(gt.matches(str("1.0.0-beta")));
  EXPECT_FALSE(gt.matches(str("1.0.0-alpha.9")));
}

TEST(ConstraintSemver, NonVersionsNeverMatch) {
  Constraint lt = parse(R"({"attribute": "v", "op": "semver_lt", "value": "9.0.0"})");
  Constraint gt = parse(R"({"attribute": "v", "op": "semver_gt", "value": "0.0.0"})");
  for (const AttributeValue& v : {str("2.1"), str("latest"), str(""), num(2, "2"), AttributeValue::Bool(true)}) {
    EXPECT_FALSE(lt.matches(v)) << v.text;
    EXPECT_FALSE(gt.matches(v)) << v.text;
  }
}

// ---- contains, starts_with, ends_with, regex ----

TEST(ConstraintText, ContainsStartsWithEndsWith) {
  Constraint contains = parse(R"({"attribute": "email", "op": "contains", "value": "@corp"})");
  Constraint starts = parse(R"({"attribute": "email", "op": "starts_with", "value": "admin"})");
  Constraint ends = parse(R"({"attribute": "email", "op": "ends_with", "value": "@example.com"})");
  EXPECT_TRUE(contains.matches(str("ann@corp.example.com")));
  EXPECT_FALSE(contains.matches(str("ann@example.com")));
  EXPECT_TRUE(starts.matches(str("admin@example.com")));
  EXPECT_FALSE(starts.matches(str("sysadmin@example.com")));
  EXPECT_TRUE(ends.matches(str("ann@example.com")));
  EXPECT_FALSE(ends.matches(str("ann@example.com.evil")));
  EXPECT_FALSE(ends.matches(str("example.com")));  // shorter than the suffix
}

TEST(ConstraintText, ValuesMeanAnyOf) {
  Constraint ends = parse(R"({"attribute": "email", "op": "ends_with", "values": ["@a.com", "@b.com"]})");
  EXPECT_TRUE(ends.matches(str("x@a.com")));
  EXPECT_TRUE(ends.matches(str("x@b.com")));
  EXPECT_FALSE(ends.matches(str("x@c.com")));
  Constraint re = parse(R"({"attribute": "email", "op": "regex", "values": ["^a", "z$"]})");
  EXPECT_TRUE(re.matches(str("abc")));
  EXPECT_TRUE(re.matches(str("xyz")));
  EXPECT_FALSE(re.matches(str("mmm")));
}

TEST(ConstraintText, SeesNumbersAndBooleansAsTheirText) {
  EXPECT_TRUE(parse(R"({"attribute": "org_id", "op": "starts_with", "value": "12"})").matches(num(1234, "1234")));
  EXPECT_FALSE(parse(R"({"attribute": "org_id", "op": "starts_with", "value": "2"})").matches(num(1234, "1234")));
  EXPECT_TRUE(parse(R"({"attribute": "b", "op": "contains", "value": "ru"})").matches(AttributeValue::Bool(true)));
}

TEST(ConstraintRegex, SearchesAnywhereUnlessAnchored) {
  Constraint re = parse(R"({"attribute": "email", "op": "regex", "value": "@(corp|staff)\\.example\\.com$"})");
  EXPECT_TRUE(re.matches(str("ann@corp.example.com")));
  EXPECT_TRUE(re.matches(str("bob@staff.example.com")));
  EXPECT_FALSE(re.matches(str("eve@corp.example.com.evil")));
  EXPECT_FALSE(re.matches(str("eve@corpXexample.com")));
  Constraint partial = parse(R"({"attribute": "s", "op": "regex", "value": "b+"})");
  EXPECT_TRUE(partial.matches(str("abbbc")));
  EXPECT_FALSE(partial.matches(str("ac")));
}

TEST(ConstraintRegex, IsLinearTimeOnPathologicalPatterns) {
  // Catastrophic for a backtracking engine; RE2 answers at once.
  Constraint re = parse(R"({"attribute": "s", "op": "regex", "value": "^(a+)+$"})");
  EXPECT_FALSE(re.matches(str(std::string(5000, 'a') + "!")));
  EXPECT_TRUE(re.matches(str(std::string(5000, 'a'))));
}

// ---- exists ----

TEST(ConstraintExists, PresentOrNot) {
  Constraint c = parse(R"({"attribute": "email", "op": "exists"})");
  EXPECT_TRUE(c.matches(str("")));  // present, though empty
  EXPECT_TRUE(c.matches(num(0, "0")));
  EXPECT_TRUE(c.matches(AttributeValue::Bool(false)));
  EXPECT_FALSE(c.matches(kAbsent));
}

// ---- absent attributes and negation ----

TEST(ConstraintAbsent, FailsEveryOperatorButExists) {
  const std::vector<std::string> constraints = {
      R"({"attribute": "a", "op": "in", "values": ["x"]})",
      R"({"attribute": "a", "op": "not_in", "values": ["x"]})",
      R"({"attribute": "a", "op": "eq", "value": "x"})",
      R"({"attribute": "a", "op": "neq", "value": "x"})",
      R"({"attribute": "a", "op": "lt", "value": 1})",
      R"({"attribute": "a", "op": "lte", "value": 1})",
      R"({"attribute": "a", "op": "gt", "value": 1})",
      R"({"attribute": "a", "op": "gte", "value": 1})",
      R"({"attribute": "a", "op": "before", "value": "2030-01-01"})",
      R"({"attribute": "a", "op": "after", "value": "2000-01-01"})",
      R"({"attribute": "a", "op": "semver_eq", "value": "1.0.0"})",
      R"({"attribute": "a", "op": "semver_lt", "value": "1.0.0"})",
      R"({"attribute": "a", "op": "semver_gt", "value": "1.0.0"})",
      R"({"attribute": "a", "op": "contains", "value": ""})",
      R"({"attribute": "a", "op": "starts_with", "value": ""})",
      R"({"attribute": "a", "op": "ends_with", "value": ""})",
      R"({"attribute": "a", "op": "regex", "value": ".*"})",
  };
  for (const std::string& text : constraints) {
    EXPECT_FALSE(parse(text).matches(kAbsent)) << text;
    json negated = json::parse(text);
    negated["negate"] = true;
    EXPECT_TRUE(parse(negated.dump()).matches(kAbsent)) << negated.dump();
  }
  EXPECT_FALSE(parse(R"({"attribute": "a", "op": "exists"})").matches(kAbsent));
  EXPECT_TRUE(parse(R"({"attribute": "a", "op": "exists", "negate": true})").matches(kAbsent));
}

TEST(ConstraintNegate, InvertsEveryOperator) {
  struct Case {
    std::string constraint;
    AttributeValue value;
    bool expected;
  };
  const std::vector<Case> cases = {
      {R"({"attribute": "a", "op": "in", "values": ["x"]})", str("x"), true},
      {R"({"attribute": "a", "op": "not_in", "values": ["x"]})", str("x"), false},
      {R"({"attribute": "a", "op": "eq", "value": 3})", num(3, "3"), true},
      {R"({"attribute": "a", "op": "neq", "value": 3})", num(3, "3"), false},
      {R"({"attribute": "a", "op": "lt", "value": 3})", num(2, "2"), true},
      {R"({"attribute": "a", "op": "lte", "value": 3})", num(4, "4"), false},
      {R"({"attribute": "a", "op": "gt", "value": 3})", num(4, "4"), true},
      {R"({"attribute": "a", "op": "gte", "value": 3})", num(2, "2"), false},
      {R"({"attribute": "a", "op": "before", "value": "2024-01-01"})", str("2023-12-31"), true},
      {R"({"attribute": "a", "op": "after", "value": "2024-01-01"})", str("2023-12-31"), false},
      {R"({"attribute": "a", "op": "semver_eq", "value": "1.0.0"})", str("1.0.0"), true},
      {R"({"attribute": "a", "op": "semver_lt", "value": "1.0.0"})", str("1.0.1"), false},
      {R"({"attribute": "a", "op": "semver_gt", "value": "1.0.0"})", str("1.0.1"), true},
      {R"({"attribute": "a", "op": "contains", "value": "b"})", str("abc"), true},
      {R"({"attribute": "a", "op": "starts_with", "value": "b"})", str("abc"), false},
      {R"({"attribute": "a", "op": "ends_with", "value": "c"})", str("abc"), true},
      {R"({"attribute": "a", "op": "regex", "value": "^b"})", str("abc"), false},
      {R"({"attribute": "a", "op": "exists"})", str("abc"), true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(parse(c.constraint).matches(c.value), c.expected) << c.constraint;
    json negated = json::parse(c.constraint);
    negated["negate"] = true;
    EXPECT_EQ(parse(negated.dump()).matches(c.value), !c.expected) << negated.dump();
    negated["negate"] = false;
    EXPECT_EQ(parse(negated.dump()).matches(c.value), c.expected) << negated.dump();
  }
}

// ---- case-insensitive ----

TEST(ConstraintCaseInsensitive, FoldsUnicodeNotJustAscii) {
  Constraint in = parse(R"({"attribute": "city", "op": "in", "values": ["Straße", "ÉVRY"], "case_insensitive": true})");
  EXPECT_TRUE(in.matches(str("STRASSE")));
  EXPECT_TRUE(in.matches(str("strasse")));
  EXPECT_TRUE(in.matches(str("évry")));
  EXPECT_FALSE(in.matches(str("evry")));  // accents are not case
  Constraint eq = parse(R"({"attribute": "name", "op": "eq", "value": "ΣΊΣΥΦΟΣ", "case_insensitive": true})");
  EXPECT_TRUE(eq.matches(str("σίσυφος")));
  EXPECT_FALSE(parse(R"({"attribute": "name", "op": "eq", "value": "ΣΊΣΥΦΟΣ"})").matches(str("σίσυφος")));
}

TEST(ConstraintCaseInsensitive, AppliesToEveryStringOperator) {
  AttributeValue email = str("Ann.Müller@Example.COM");
  EXPECT_TRUE(
      parse(R"({"attribute": "e", "op": "contains", "value": "MÜLLER", "case_insensitive": true})").matches(email));
  EXPECT_TRUE(
      parse(R"({"attribute": "e", "op": "starts_with", "value": "ann.", "case_insensitive": true})").matches(email));
  EXPECT_TRUE(parse(R"({"attribute": "e", "op": "ends_with", "value": "@example.com", "case_insensitive": true})")
                  .matches(email));
  EXPECT_TRUE(parse(R"({"attribute": "e", "op": "regex", "value": "müller@example\\.com$", "case_insensitive": true})")
                  .matches(email));
  EXPECT_TRUE(
      parse(R"({"attribute": "e", "op": "neq", "value": "bob@example.com", "case_insensitive": true})").matches(email));
  EXPECT_FALSE(parse(R"({"attribute": "e", "op": "not_in", "values": ["ANN.MÜLLER@EXAMPLE.COM"],
                        "case_insensitive": true})")
                   .matches(email));
  // The same constraints without the option.
  EXPECT_FALSE(parse(R"({"attribute": "e", "op": "contains", "value": "MÜLLER"})").matches(email));
  EXPECT_FALSE(parse(R"({"attribute": "e", "op": "regex", "value": "müller@example\\.com$"})").matches(email));
  EXPECT_TRUE(parse(R"({"attribute": "e", "op": "not_in", "values": ["ANN.MÜLLER@EXAMPLE.COM"]})").matches(email));
}

TEST(ConstraintCaseInsensitive, LongAttributesToo) {
  std::string long_text(1000, 'X');
  long_text += "Ende";
  Constraint ends = parse(R"({"attribute": "s", "op": "ends_with", "value": "xENDE", "case_insensitive": true})");
  EXPECT_TRUE(ends.matches(str(long_text)));
  EXPECT_FALSE(ends.matches(str(long_text + "!")));
}

TEST(ConstraintCaseInsensitive, NumbersStillCompareNumerically) {
  Constraint c = parse(R"({"attribute": "a", "op": "in", "values": ["PRO", 7], "case_insensitive": true})");
  EXPECT_TRUE(c.matches(str("pro")));
  EXPECT_TRUE(c.matches(str("7.0")));
  EXPECT_TRUE(c.matches(num(7, "7")));
}

// ---- matching allocates nothing ----

TEST(ConstraintMatch, AllocatesNothingWithoutCaseInsensitive) {
  std::vector<std::pair<Constraint, AttributeValue>> cases;
  json many = json::array();
  for (int i = 0; i < 1000; i++) many.push_back("user-" + std::to_string(i));
  Constraint big;
  ASSERT_TRUE(Constraint::Parse(json{{"attribute", "id"}, {"op", "in"}, {"values", many}}, &big).ok);
  cases.emplace_back(std::move(big), str("user-999"));
  for (const char* text : {
           R"({"attribute": "a", "op": "in", "values": ["pro", "enterprise", 42]})",
           R"({"attribute": "a", "op": "not_in", "values": ["DE", "FR"]})",
           R"({"attribute": "a", "op": "eq", "value": "pro"})",
           R"({"attribute": "a", "op": "gte", "value": 18})",
           R"({"attribute": "a", "op": "after", "value": "2024-01-01"})",
           R"({"attribute": "a", "op": "semver_gt", "value": "2.1.0-rc.1"})",
           R"({"attribute": "a", "op": "contains", "value": "@"})",
           R"({"attribute": "a", "op": "ends_with", "values": ["@a.com", "@b.com"]})",
           R"({"attribute": "a", "op": "exists", "negate": true})",
       }) {
    cases.emplace_back(parse(text), str("2.1.0"));
    cases.emplace_back(parse(text), str("2024-06-01T12:00:00+02:00"));
    cases.emplace_back(parse(text), num(42, "42"));
    cases.emplace_back(parse(text), kAbsent);
  }
  size_t before = allocations;
  int matched = 0;
  for (int round = 0; round < 10; round++) {
    for (const auto& [constraint, value] : cases) matched += constraint.matches(value);
  }
  EXPECT_EQ(allocations - before, 0u);
  EXPECT_GT(matched, 0);
}

TEST(ConstraintMatch, ShortCaseInsensitiveAndWarmRegexAllocateNothing) {
  std::vector<std::pair<Constraint, AttributeValue>> cases;
  cases.emplace_back(parse(R"({"attribute": "a", "op": "contains", "value": "q", "case_insensitive": true})"),
                     str("ÄQUIVALENT"));
  cases.emplace_back(parse(R"({"attribute": "a", "op": "in", "values": ["q", "r"], "case_insensitive": true})"),
                     str("Q"));
  cases.emplace_back(parse(R"({"attribute": "a", "op": "regex", "value": "^[a-z]+@(corp|x)\\.com$"})"),
                     str("ann@corp.com"));
  cases.emplace_back(parse(R"({"attribute": "a", "op": "regex", "value": "Q", "case_insensitive": true})"),
                     str("quux"));
  // RE2 builds its DFA lazily: the first matches allocate its states, later ones reuse them.
  for (const auto& [constraint, value] : cases) EXPECT_TRUE(constraint.matches(value));
  size_t before = allocations;
  int matched = 0;
  for (int round = 0; round < 10; round++) {
    for (const auto& [constraint, value] : cases) matched += constraint.matches(value);
  }
  EXPECT_EQ(allocations - before, 0u);
  EXPECT_EQ(matched, 40);
}

// ---- errors ----

void expect_error(const std::string& text, ErrorCode code, const std::string& message, const std::string& hint_part) {
  Status s = error_of(text);
  EXPECT_EQ(s.code, code) << text;
  EXPECT_EQ(s.message, message) << text;
  EXPECT_NE(s.hint.find(hint_part), std::string::npos) << text << " hint: " << s.hint;
}

TEST(ConstraintError, NotAnObject) {
  expect_error(R"(["tier", "in"])", ErrorCode::kInvalidParameter, "constraint: expected a JSON object, got array",
               R"({"attribute": "tier")");
  expect_error(R"("tier")", ErrorCode::kInvalidParameter, R"(constraint: expected a JSON object, got string "tier")",
               "object");
}

TEST(ConstraintError, MissingOrEmptyAttribute) {
  expect_error(R"({"op": "exists"})", ErrorCode::kInvalidParameter, R"(constraint: missing "attribute")",
               R"("attribute": "tier")");
  expect_error(R"({"attribute": "", "op": "exists"})", ErrorCode::kInvalidParameter,
               R"(constraint: "attribute" is empty)", "Name the attribute");
  expect_error(R"({"attribute": 7, "op": "exists"})", ErrorCode::kInvalidParameter,
               R"(constraint: "attribute" must be a string, got number 7)", "as a string");
}

TEST(ConstraintError, UnknownOperator) {
  expect_error(R"({"attribute": "tier", "op": "inn", "values": ["pro"]})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": unknown operator "inn")", R"(Did you mean "in"?)");
  Status s = error_of(R"({"attribute": "tier", "op": "between"})");
  EXPECT_EQ(s.message, R"(constraint on "tier": unknown operator "between")");
  EXPECT_EQ(s.hint.find("Did you mean"), std::string::npos);  // nothing close
  EXPECT_NE(s.hint.find("in, not_in, eq, neq, lt, lte, gt, gte, before, after, semver_eq, semver_lt, semver_gt, "
                        "contains, starts_with, ends_with, regex, exists"),
            std::string::npos);
  expect_error(R"({"attribute": "tier", "values": ["pro"]})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": missing "op")", "Use one of: in,");
  expect_error(R"({"attribute": "tier", "op": ["in"], "values": ["pro"]})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": "op" must be a string, got array)", "Use one of: in,");
}

TEST(ConstraintError, UnknownKey) {
  expect_error(R"({"attribute": "tier", "op": "in", "vaules": ["pro"]})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": unknown key "vaules")", R"(Did you mean "values"?)");
  expect_error(R"({"attribute": "tier", "op": "in", "values": ["pro"], "negated": true})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": unknown key "negated")",
               "attribute, op, value, values, negate, case_insensitive");
  // Reported before a missing attribute: the typo is the likelier cause.
  expect_error(R"({"atribute": "tier", "op": "exists"})", ErrorCode::kInvalidParameter,
               R"(constraint: unknown key "atribute")", R"(Did you mean "attribute"?)");
}

TEST(ConstraintError, MissingValues) {
  expect_error(R"({"attribute": "tier", "op": "in"})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": operator "in" needs "values")", R"("values": ["pro", "enterprise"])");
  expect_error(R"({"attribute": "tier", "op": "not_in", "value": "pro"})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": operator "not_in" takes "values" (an array), not "value")", "as an array");
  expect_error(R"({"attribute": "tier", "op": "eq"})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": operator "eq" needs a "value")", R"("value": "pro")");
  expect_error(R"({"attribute": "tier", "op": "eq", "values": ["pro"]})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": operator "eq" takes "value", not "values")", R"(Use "in")");
  expect_error(R"({"attribute": "age", "op": "gt"})", ErrorCode::kInvalidParameter,
               R"(constraint on "age": operator "gt" needs a "value")", R"("value": 18)");
  expect_error(R"({"attribute": "age", "op": "gt", "values": [1, 2]})", ErrorCode::kInvalidParameter,
               R"(constraint on "age": operator "gt" takes "value", not "values")", R"("value": 18)");
  expect_error(R"({"attribute": "e", "op": "contains"})", ErrorCode::kInvalidParameter,
               R"(constraint on "e": operator "contains" needs a "value")", "@example.com");
  expect_error(R"({"attribute": "v", "op": "semver_gt"})", ErrorCode::kInvalidParameter,
               R"(constraint on "v": operator "semver_gt" needs a "value")", "2.1.0");
  expect_error(R"({"attribute": "t", "op": "before"})", ErrorCode::kInvalidParameter,
               R"(constraint on "t": operator "before" needs a "value")", "2024-06-01");
  expect_error(R"({"attribute": "t", "op": "in", "value": "a", "values": ["b"]})", ErrorCode::kInvalidParameter,
               R"(constraint on "t": both "value" and "values" are given)", "not both");
  expect_error(R"({"attribute": "t", "op": "exists", "value": true})", ErrorCode::kInvalidParameter,
               R"(constraint on "t": operator "exists" takes no "value")", "present");
}

TEST(ConstraintError, EmptyValues) {
  expect_error(R"({"attribute": "tier", "op": "in", "values": []})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": "values" is empty)", "at least one value");
  expect_error(R"({"attribute": "e", "op": "regex", "values": []})", ErrorCode::kInvalidParameter,
               R"(constraint on "e": "values" is empty)", "at least one value");
  expect_error(R"({"attribute": "tier", "op": "in", "values": "pro"})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": "values" must be an array, got string "pro")", "as an array");
}

TEST(ConstraintError, ValueOfTheWrongType) {
  expect_error(R"({"attribute": "age", "op": "gt", "value": "18"})", ErrorCode::kInvalidParameter,
               R"(constraint on "age": operator "gt" needs a number as "value", got string "18")", "without quotes");
  expect_error(R"({"attribute": "tier", "op": "in", "values": ["pro", null]})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": values[1] must be a string, number or boolean, got null)", "strings, numbers");
  expect_error(R"({"attribute": "tier", "op": "eq", "value": {"a": 1}})", ErrorCode::kInvalidParameter,
               R"(constraint on "tier": "value" must be a string, number or boolean, got object)", "strings, numbers");
  expect_error(R"({"attribute": "e", "op": "ends_with", "value": 5})", ErrorCode::kInvalidParameter,
               R"(constraint on "e": operator "ends_with" needs a string as "value", got number 5)", "JSON string");
  expect_error(R"({"attribute": "e", "op": "regex", "values": ["a", false]})", ErrorCode::kInvalidParameter,
               R"(constraint on "e": operator "regex" needs a string as values[1], got boolean false)", "pattern");
  expect_error(R"({"attribute": "v", "op": "semver_eq", "value": 2.1})", ErrorCode::kInvalidParameter,
               R"(constraint on "v": operator "semver_eq" needs a version string as "value", got number 2.1)",
               "semver.org");
  expect_error(
      R"({"attribute": "t", "op": "after", "value": true})", ErrorCode::kInvalidParameter,
      R"(constraint on "t": operator "after" needs a timestamp string or epoch seconds as "value", got boolean true)",
      "RFC 3339");
  expect_error(R"({"attribute": "t", "op": "exists", "negate": "yes"})", ErrorCode::kInvalidParameter,
               R"(constraint on "t": "negate" must be true or false, got string "yes")", "JSON boolean");
  expect_error(R"({"attribute": "t", "op": "eq", "value": "a", "case_insensitive": 1})", ErrorCode::kInvalidParameter,
               R"(constraint on "t": "case_insensitive" must be true or false, got number 1)", "JSON boolean");
  expect_error(R"({"attribute": "n", "op": "gt", "value": 1, "case_insensitive": true})", ErrorCode::kInvalidParameter,
               R"(constraint on "n": "case_insensitive" does not apply to operator "gt")", "applies to in, not_in");
}

TEST(ConstraintError, BadSemver) {
  expect_error(R"({"attribute": "app_version", "op": "semver_gt", "value": "2.1"})", ErrorCode::kInvalidParameter,
               R"(constraint on "app_version": "2.1" is not a semantic version)", "MAJOR.MINOR.PATCH");
  expect_error(R"({"attribute": "app_version", "op": "semver_lt", "value": "2.01.0"})", ErrorCode::kInvalidParameter,
               R"(constraint on "app_version": "2.01.0" is not a semantic version)", "semver.org 2.0.0");
}

TEST(ConstraintError, BadTimestamp) {
  expect_error(R"({"attribute": "signup", "op": "before", "value": "2024-13-01"})", ErrorCode::kInvalidParameter,
               R"(constraint on "signup": "2024-13-01" is not a timestamp)", "RFC 3339");
  expect_error(R"({"attribute": "signup", "op": "after", "value": "01/06/2024"})", ErrorCode::kInvalidParameter,
               R"(constraint on "signup": "01/06/2024" is not a timestamp)", "epoch seconds");
  expect_error(R"({"attribute": "signup", "op": "after", "value": 1e300})", ErrorCode::kInvalidParameter,
               R"(constraint on "signup": 1e+300 is not a time (epoch seconds beyond the years 0000-9999))",
               "epoch seconds");
}

TEST(ConstraintError, InvalidRegexCarriesRe2sMessage) {
  expect_error(R"({"attribute": "email", "op": "regex", "value": "(unclosed"})", ErrorCode::kInvalidRegex,
               R"(constraint on "email": invalid regular expression "(unclosed": missing ): (unclosed)", "RE2 syntax");
  expect_error(R"({"attribute": "email", "op": "regex", "value": "(a)\\1"})", ErrorCode::kInvalidRegex,
               R"(constraint on "email": invalid regular expression "(a)\\1": invalid escape sequence: \1)",
               "no backreferences");
  Status s = error_of(R"({"attribute": "email", "op": "regex", "values": ["ok", "(?<=x)y"]})");
  EXPECT_EQ(s.code, ErrorCode::kInvalidRegex);
}

TEST(ConstraintError, EveryShapeOfInputGetsAnAnswerWithAHint) {
  // Every operator with every kind of value(s) and option: Parse either accepts, and matching any
  // attribute is then safe, or refuses with a message naming the attribute and a hint.
  const std::vector<std::string> ops = {"in",        "not_in",    "eq",        "neq",      "lt",
                                        "lte",       "gt",        "gte",       "before",   "after",
                                        "semver_eq", "semver_lt", "semver_gt", "contains", "starts_with",
                                        "ends_with", "regex",     "exists",    "EQ",       ""};
  const std::vector<json> samples = {"pro",
                                     "",
                                     "2.1.0",
                                     "2024-06-01",
                                     "(",
                                     42,
                                     -1.5,
                                     1e300,
                                     true,
                                     nullptr,
                                     json::array(),
                                     json::array({"a", 1, false}),
                                     json::array({nullptr}),
                                     json::object({{"a", 1}})};
  const std::vector<AttributeValue> attributes = {
      str("pro"), str(""), str("2.1.0"), str("2024-06-01"), num(42, "42"), AttributeValue::Bool(true), kAbsent};
  int accepted = 0, refused = 0;
  for (const std::string& op : ops) {
    for (int shape = 0; shape < 3 * static_cast<int>(samples.size()) + 1; shape++) {
      for (int options = 0; options < 4; options++) {
        json c = {{"attribute", "attr"}, {"op", op}};
        if (shape > 0) {
          const json& sample = samples[(shape - 1) % samples.size()];
          int where = (shape - 1) / static_cast<int>(samples.size());
          if (where == 0) c["value"] = sample;
          if (where == 1) c["values"] = sample;
          if (where == 2) c["values"] = json::array({sample});
        }
        if (options & 1) c["negate"] = true;
        if (options & 2) c["case_insensitive"] = true;
        Constraint parsed;
        Status s = Constraint::Parse(c, &parsed);
        if (s.ok) {
          accepted++;
          for (const AttributeValue& a : attributes) (void)parsed.matches(a);
          EXPECT_EQ(parsed.matches(kAbsent), (options & 1) != 0) << c.dump();
        } else {
          refused++;
          EXPECT_EQ(s.message.rfind("constraint on \"attr\": ", 0), 0u) << c.dump() << ": " << s.message;
          EXPECT_FALSE(s.hint.empty()) << c.dump();
          EXPECT_EQ(s.code, op == "regex" && s.message.find("regular expression") != std::string::npos
                                ? ErrorCode::kInvalidRegex
                                : ErrorCode::kInvalidParameter)
              << c.dump();
        }
      }
    }
  }
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 1000);
}

TEST(ConstraintError, FailedParseLeavesTheConstraintUnchanged) {
  Constraint c = parse(R"({"attribute": "tier", "op": "eq", "value": "pro"})");
  Status s = Constraint::Parse(json::parse(R"({"attribute": "other", "op": "nope"})"), &c);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(c.attribute(), "tier");
  EXPECT_TRUE(c.matches(str("pro")));
}

TEST(ConstraintError, MessagesEscapeTheAttributeName) {
  expect_error(R"({"attribute": "a\"b", "op": "inn"})", ErrorCode::kInvalidParameter,
               R"(constraint on "a\"b": unknown operator "inn")", "Did you mean");
}

TEST(Constraint, DefaultConstructedMatchesNothing) {
  Constraint c;
  EXPECT_EQ(c.attribute(), "");
  EXPECT_FALSE(c.matches(str("x")));
  EXPECT_FALSE(c.matches(kAbsent));
}

TEST(Constraint, MovesKeepTheCompiledConstraint) {
  Constraint a = parse(R"({"attribute": "v", "op": "semver_gt", "value": "1.0.0-rc.1"})");
  Constraint b(std::move(a));
  EXPECT_TRUE(b.matches(str("1.0.0")));
  Constraint c;
  c = std::move(b);
  EXPECT_TRUE(c.matches(str("1.0.0")));
  EXPECT_FALSE(c.matches(str("1.0.0-beta")));
}

// ---- the reference stays true ----

TEST(ConstraintDocs, EveryExampleInTheReferenceParses) {
  std::ifstream file(std::string(ROLLOUT_SOURCE_DIR) + "/docs/constraints.md");
  ASSERT_TRUE(file) << "docs/constraints.md not found";
  std::stringstream buffer;
  buffer << file.rdbuf();
  std::string doc = buffer.str();

  // The opening example: a whole constraints array.
  size_t block = doc.find("```json\n");
  ASSERT_NE(block, std::string::npos);
  size_t block_end = doc.find("```", block + 8);
  json array = json::parse(doc.substr(block + 8, block_end - block - 8));
  ASSERT_TRUE(array.is_array());
  for (const json& c : array) {
    Constraint parsed;
    EXPECT_TRUE(Constraint::Parse(c, &parsed).ok) << c.dump();
  }

  // The operator table: one example per operator, in a `{"attribute": ...}` code span.
  std::set<std::string> ops;
  std::istringstream lines(doc);
  for (std::string line; std::getline(lines, line);) {
    for (size_t at = line.find("`{\"attribute\""); at != std::string::npos; at = line.find("`{\"attribute\"", at + 1)) {
      size_t end = line.find("}`", at);
      ASSERT_NE(end, std::string::npos) << line;
      std::string text = line.substr(at + 1, end - at);
      for (size_t bar; (bar = text.find("\\|")) != std::string::npos;) text.erase(bar, 1);  // markdown's \|
      Constraint parsed;
      Status s = Constraint::Parse(json::parse(text), &parsed);
      EXPECT_TRUE(s.ok) << text << ": " << s.message;
      ops.insert(json::parse(text)["op"].get<std::string>());
    }
  }
  EXPECT_EQ(ops, (std::set<std::string>{"in", "not_in", "eq", "neq", "lt", "lte", "gt", "gte", "before", "after",
                                        "semver_eq", "semver_lt", "semver_gt", "contains", "starts_with", "ends_with",
                                        "regex", "exists"}));
}

}  // namespace
}  // namespace rollout
