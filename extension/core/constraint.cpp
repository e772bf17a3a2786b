#include "core/constraint.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include "core/semver.h"
#include "core/text_fold.h"
#include "core/timestamp.h"

namespace rollout {
namespace {

using nlohmann::json;

enum class Op : uint8_t {
  kIn,
  kNotIn,
  kEq,
  kNeq,
  kLt,
  kLte,
  kGt,
  kGte,
  kBefore,
  kAfter,
  kSemverEq,
  kSemverLt,
  kSemverGt,
  kContains,
  kStartsWith,
  kEndsWith,
  kRegex,
  kExists,
};

// What an operator takes: the shape of its value(s) and whether case_insensitive applies.
enum class Family : uint8_t {
  kSet,     // in, not_in ("values") and eq, neq ("value"): strings, numbers, booleans
  kNumber,  // lt, lte, gt, gte: a number
  kTime,    // before, after: a timestamp string or epoch seconds
  kSemver,  // semver_*: a version string
  kText,    // contains, starts_with, ends_with: a string, or "values" meaning any of
  kRegex,   // regex: a pattern, or "values" meaning any of
  kExists,  // exists: nothing
};

struct OpInfo {
  const char* name;
  Op op;
  Family family;
};

constexpr OpInfo kOps[] = {
    {"in", Op::kIn, Family::kSet},
    {"not_in", Op::kNotIn, Family::kSet},
    {"eq", Op::kEq, Family::kSet},
    {"neq", Op::kNeq, Family::kSet},
    {"lt", Op::kLt, Family::kNumber},
    {"lte", Op::kLte, Family::kNumber},
    {"gt", Op::kGt, Family::kNumber},
    {"gte", Op::kGte, Family::kNumber},
    {"before", Op::kBefore, Family::kTime},
    {"after", Op::kAfter, Family::kTime},
    {"semver_eq", Op::kSemverEq, Family::kSemver},
    {"semver_lt", Op::kSemverLt, Family::kSemver},
    {"semver_gt", Op::kSemverGt, Family::kSemver},
    {"contains", Op::kContains, Family::kText},
    {"starts_with", Op::kStartsWith, Family::kText},
    {"ends_with", Op::kEndsWith, Family::kText},
    {"regex", Op::kRegex, Family::kRegex},
    {"exists", Op::kExists, Family::kExists},
};

constexpr const char* kKeys[] = {"attribute", "op", "value", "values", "negate", "case_insensitive"};

const char kOpList[] =
    "in, not_in, eq, neq, lt, lte, gt, gte, before, after, semver_eq, semver_lt, semver_gt, contains, starts_with, "
    "ends_with, regex, exists";
const char kKeyList[] = "attribute, op, value, values, negate, case_insensitive";
const char kExample[] = R"(e.g. {"attribute": "tier", "op": "in", "values": ["pro", "enterprise"]})";

// Reads `text` as a number when all of it is one decimal number ("42", "-2.5", "1e3"): no
// spaces, no '+', no inf or nan.
bool read_number(std::string_view text, double* out) noexcept {
  if (text.empty()) return false;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::general);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return false;
  *out = value;
  return true;
}

// The attribute as a number: a number (not NaN, which equals nothing and orders nowhere), or a
// string that reads fully as one.
bool number_of(const AttributeValue& v, double* out) noexcept {
  if (v.kind == AttributeValue::Kind::kNumber) {
    *out = v.number;
    return !std::isnan(v.number);
  }
  return v.kind == AttributeValue::Kind::kString && read_number(v.text, out);
}

// The attribute as a point in time: an RFC 3339 string, or epoch seconds (a number, or a string
// that reads fully as one).
bool time_of(const AttributeValue& v, int64_t* micros) noexcept {
  if (v.kind == AttributeValue::Kind::kString && parse_timestamp(v.text, micros)) return true;
  double seconds;
  return number_of(v, &seconds) && epoch_seconds_to_micros(seconds, micros);
}

// A set of strings for `in`: a short list is scanned, a long one hashed (open addressing,
// linear probing, at most half full). Lookups never allocate.
class TextSet {
 public:
  void assign(std::vector<std::string> values) {
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    values_ = std::move(values);
    slots_.clear();
    if (values_.size() <= kScanLimit) return;
    size_t capacity = 1;
    while (capacity < values_.size() * 2) capacity *= 2;
    slots_.assign(capacity, 0);
    for (uint32_t i = 0; i < values_.size(); i++) {
      size_t slot = hash(values_[i]) & (capacity - 1);
      while (slots_[slot] != 0) slot = (slot + 1) & (capacity - 1);
      slots_[slot] = i + 1;
    }
  }

  bool empty() const noexcept { return values_.empty(); }

  bool contains(std::string_view text) const noexcept {
    if (slots_.empty()) {
      for (const std::string& v : values_) {
        if (v == text) return true;
      }
      return false;
    }
    size_t mask = slots_.size() - 1;
    for (size_t slot = hash(text) & mask; slots_[slot] != 0; slot = (slot + 1) & mask) {
      if (values_[slots_[slot] - 1] == text) return true;
    }
    return false;
  }

 private:
  static constexpr size_t kScanLimit = 8;
  static size_t hash(std::string_view s) noexcept { return std::hash<std::string_view>()(s); }

  std::vector<std::string> values_;
  std::vector<uint32_t> slots_;  // index into values_ plus one; 0 is empty
};

std::string json_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string quote(std::string_view s) { return json_text(json(std::string(s))); }

// The JSON type of `j` as a user would name it, with the value when it is short.
std::string describe(const json& j) {
  std::string type = j.is_boolean() ? "boolean" : j.type_name();
  if (j.is_object() || j.is_array() || j.is_null()) return type;
  std::string text = json_text(j);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return type + " " + text;
}

// Levenshtein distance, for "did you mean" hints on short names.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

template <size_t N>
std::string did_you_mean(std::string_view given, const char* const (&names)[N]) {
  std::string best;
  size_t best_distance = 3;  // suggest only close misspellings
  for (const char* name : names) {
    size_t d = edit_distance(given, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best.empty() ? "" : "Did you mean \"" + best + "\"? ";
}

// A parsed constraint, ready to match.
struct Compiled {
  std::string attribute;
  Op op = Op::kExists;
  bool negate = false;
  bool case_insensitive = false;

  TextSet texts;                              // kSet: strings and booleans' text (folded when case-insensitive)
  std::vector<double> numbers;                // kSet: number values, sorted; kNumber: the one value
  int64_t micros = 0;                         // kTime
  std::string version_text;                   // kSemver: the text `version` points into
  SemVer version;                             // kSemver: the parsed value
  std::vector<std::string> needles;           // kText (folded when case-insensitive)
  std::vector<std::unique_ptr<RE2>> regexes;  // kRegex

  bool in_set(const AttributeValue& v) const noexcept;
  bool test_text(std::string_view text) const noexcept;
  bool test(const AttributeValue& v) const noexcept;
};

bool Compiled::in_set(const AttributeValue& v) const noexcept {
  if (!texts.empty()) {
    if (!case_insensitive) {
      if (texts.contains(v.text)) return true;
    } else {
      FoldedText folded(v.text);
      if (folded.ok() && texts.contains(folded.view())) return true;
    }
  }
  double x;
  return !numbers.empty() && number_of(v, &x) && std::binary_search(numbers.begin(), numbers.end(), x);
}

bool Compiled::test_text(std::string_view text) const noexcept {
  for (const std::string& needle : needles) {
    switch (op) {
      case Op::kContains:
        if (text.find(needle) != std::string_view::npos) return true;
        break;
      case Op::kStartsWith:
        if (text.size() >= needle.size() && text.compare(0, needle.size(), needle) == 0) return true;
        break;
      case Op::kEndsWith:
        if (text.size() >= needle.size() && text.compare(text.size() - needle.size(), needle.size(), needle) == 0) {
          return true;
        }
        break;
      default:
        return false;
    }
  }
  return false;
}

bool Compiled::test(const AttributeValue& v) const noexcept {
  switch (op) {
    case Op::kIn:
    case Op::kEq:
      return in_set(v);
    case Op::kNotIn:
    case Op::kNeq:
      return !in_set(v);
    case Op::kLt:
    case Op::kLte:
    case Op::kGt:
    case Op::kGte: {
      double x;
      if (!number_of(v, &x)) return false;
      double limit = numbers[0];
      return op == Op::kLt ? x < limit : op == Op::kLte ? x <= limit : op == Op::kGt ? x > limit : x >= limit;
    }
    case Op::kBefore:
    case Op::kAfter: {
      int64_t t;
      if (!time_of(v, &t)) return false;
      return op == Op::kBefore ? t < micros : t > micros;
    }
    case Op::kSemverEq:
    case Op::kSemverLt:
    case Op::kSemverGt: {
      SemVer attribute_version;
      if (v.kind != AttributeValue::Kind::kString || !parse_semver(v.text, &attribute_version)) return false;
      int c = compare_semver(attribute_version, version);
      return op == Op::kSemverEq ? c == 0 : op == Op::kSemverLt ? c < 0 : c > 0;
    }
    case Op::kContains:
    case Op::kStartsWith:
    case Op::kEndsWith: {
      if (!case_insensitive) return test_text(v.text);
      FoldedText folded(v.text);
      return folded.ok() && test_text(folded.view());
    }
    case Op::kRegex: {
      re2::StringPiece text(v.text.data(), v.text.size());
      for (const auto& re : regexes) {
        if (RE2::PartialMatch(text, *re)) return true;
      }
      return false;
    }
    case Op::kExists:
      return true;
  }
  return false;
}

// Builds a Compiled from its JSON, or says what is wrong with it.
class Parser {
 public:
  Parser(const json& object, Compiled* impl) : object_(object), impl_(impl) {}

  Status Run() {
    if (!object_.is_object()) {
      return Error("constraint: expected a JSON object, got " + describe(object_),
                   std::string("Write each constraint as an object, ") + kExample + ".");
    }
    // The attribute first, so that every later message can name it.
    auto attribute = object_.find("attribute");
    if (attribute != object_.end() && attribute->is_string() && !attribute->get_ref<const std::string&>().empty()) {
      impl_->attribute = attribute->get<std::string>();
      where_ = "constraint on " + quote(impl_->attribute);
    }
    for (const auto& item : object_.items()) {
      const std::string& key = item.key();
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        return Error(where_ + ": unknown key " + quote(key),
                     did_you_mean(key, kKeys) + "A constraint takes the keys " + kKeyList + ".");
      }
    }
    if (attribute == object_.end()) {
      return Error(where_ + ": missing \"attribute\"", "Name the attribute to test, " + std::string(kExample) + ".");
    }
    if (!attribute->is_string()) {
      return Error(where_ + ": \"attribute\" must be a string, got " + describe(*attribute),
                   "Name the attribute to test as a string, e.g. \"attribute\": \"tier\".");
    }
    if (impl_->attribute.empty()) {
      return Error(where_ + ": \"attribute\" is empty", "Name the attribute to test, e.g. \"attribute\": \"tier\".");
    }

    const OpInfo* info = nullptr;
    if (Status s = ReadOp(&info); !s.ok) return s;
    impl_->op = info->op;
    if (Status s = ReadFlag("negate", &impl_->negate); !s.ok) return s;
    if (Status s = ReadFlag("case_insensitive", &impl_->case_insensitive); !s.ok) return s;
    if (impl_->case_insensitive && info->family != Family::kSet && info->family != Family::kText &&
        info->family != Family::kRegex) {
      return Error(where_ + ": \"case_insensitive\" does not apply to operator " + quote(info->name),
                   "case_insensitive applies to in, not_in, eq, neq, contains, starts_with, ends_with and regex.");
    }

    value_ = Find("value");
    values_ = Find("values");
    if (value_ && values_) {
      return Error(where_ + ": both \"value\" and \"values\" are given",
                   "Give \"value\" (one) or \"values\" (an array), not both.");
    }
    switch (info->family) {
      case Family::kSet:
        return ReadSet(*info);
      case Family::kNumber:
        return ReadNumber(*info);
      case Family::kTime:
        return ReadTime(*info);
      case Family::kSemver:
        return ReadSemver(*info);
      case Family::kText:
      case Family::kRegex:
        return ReadStrings(*info);
      case Family::kExists:
        if (value_ || values_) {
          return Error(where_ + ": operator \"exists\" takes no " + std::string(value_ ? "\"value\"" : "\"values\""),
                       "Remove it: exists only tests that the attribute is present.");
        }
        return Status::Ok();
    }
    return Status::Ok();
  }

 private:
  Status Error(std::string message, std::string hint, ErrorCode code = ErrorCode::kInvalidParameter) const {
    return Status::Error(code, std::move(message), std::move(hint));
  }

  const json* Find(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  // E.g. `operator "gt" needs a number as "value", got string "18"`.
  Status WrongType(const OpInfo& info, const char* wanted, const std::string& name, const json& got,
                   std::string hint) const {
    return Error(
        where_ + ": operator " + quote(info.name) + " needs " + wanted + " as " + name + ", got " + describe(got),
        std::move(hint));
  }

  Status ReadOp(const OpInfo** info) const {
    const json* op = Find("op");
    if (!op) return Error(where_ + ": missing \"op\"", std::string("Use one of: ") + kOpList + ".");
    if (!op->is_string()) {
      return Error(where_ + ": \"op\" must be a string, got " + describe(*op),
                   std::string("Use one of: ") + kOpList + ".");
    }
    const std::string& name = op->get_ref<const std::string&>();
    for (const OpInfo& candidate : kOps) {
      if (name == candidate.name) {
        *info = &candidate;
        return Status::Ok();
      }
    }
    const char* names[std::size(kOps)];
    for (size_t i = 0; i < std::size(kOps); i++) names[i] = kOps[i].name;
    return Error(where_ + ": unknown operator " + quote(name),
                 did_you_mean(name, names) + "Use one of: " + kOpList + ".");
  }

  Status ReadFlag(const char* key, bool* out) const {
    const json* flag = Find(key);
    if (!flag) return Status::Ok();
    if (!flag->is_boolean()) {
      return Error(where_ + ": " + quote(std::string_view(key)) + " must be true or false, got " + describe(*flag),
                   "Write it as a JSON boolean, without quotes.");
    }
    *out = flag->get<bool>();
    return Status::Ok();
  }

  // The single "value" of an operator that takes exactly one.
  Status Single(const OpInfo& info, const char* example, const json** out) const {
    if (values_) {
      std::string hint = info.family == Family::kSet ? "Use \"in\" to test several values, e.g. \"op\": \"in\", "
                                                       "\"values\": [\"pro\", \"enterprise\"]."
                                                     : std::string("Give one \"value\", e.g. ") + example + ".";
      return Error(where_ + ": operator " + quote(info.name) + " takes \"value\", not \"values\"", hint);
    }
    if (!value_) {
      return Error(where_ + ": operator " + quote(info.name) + " needs a \"value\"",
                   std::string("Give the value to compare with, e.g. ") + example + ".");
    }
    *out = value_;
    return Status::Ok();
  }

  // A string to match, folded when the constraint is case-insensitive.
  Status Text(const json& j, std::string* out) const {
    if (!impl_->case_insensitive) {
      *out = j.get<std::string>();
      return Status::Ok();
    }
    if (!fold_case(j.get_ref<const std::string&>(), out)) {
      return Error(where_ + ": cannot fold the case of " + json_text(j), "Use valid UTF-8 text.");
    }
    return Status::Ok();
  }

  Status ReadSet(const OpInfo& info) {
    std::vector<const json*> items;
    if (info.op == Op::kIn || info.op == Op::kNotIn) {
      if (value_) {
        return Error(where_ + ": operator " + quote(info.name) + " takes \"values\" (an array), not \"value\"",
                     "Write the values as an array, e.g. \"values\": [\"pro\", \"enterprise\"].");
      }
      if (!values_) {
        return Error(where_ + ": operator " + quote(info.name) + " needs \"values\"",
                     "List the values to compare with, e.g. \"values\": [\"pro\", \"enterprise\"].");
      }
      if (Status s = Array(info, &items); !s.ok) return s;
    } else {
      const json* one = nullptr;
      if (Status s = Single(info, "\"value\": \"pro\"", &one); !s.ok) return s;
      items.push_back(one);
    }
    std::vector<std::string> texts;
    for (size_t i = 0; i < items.size(); i++) {
      const json& item = *items[i];
      if (item.is_string()) {
        std::string text;
        if (Status s = Text(item, &text); !s.ok) return s;
        texts.push_back(std::move(text));
      } else if (item.is_boolean()) {
        texts.push_back(item.get<bool>() ? "true" : "false");
      } else if (item.is_number()) {
        impl_->numbers.push_back(item.get<double>());
      } else {
        return Error(where_ + ": " + Name(i) + " must be a string, number or boolean, got " + describe(item),
                     "Compare with strings, numbers or booleans, e.g. \"pro\", 42 or true.");
      }
    }
    std::sort(impl_->numbers.begin(), impl_->numbers.end());
    impl_->texts.assign(std::move(texts));
    return Status::Ok();
  }

  Status ReadNumber(const OpInfo& info) {
    const json* value = nullptr;
    if (Status s = Single(info, "\"value\": 18", &value); !s.ok) return s;
    if (!value->is_number()) {
      return WrongType(info, "a number", "\"value\"", *value,
                       "Write the number as JSON, without quotes, e.g. \"value\": 18.");
    }
    impl_->numbers.push_back(value->get<double>());
    return Status::Ok();
  }

  Status ReadTime(const OpInfo& info) {
    const char* hint =
        "Use an RFC 3339 timestamp, e.g. \"2024-06-01T12:00:00Z\", \"2024-06-01T14:00:00+02:00\" or "
        "\"2024-06-01\" (no offset means UTC), or Unix epoch seconds as a number.";
    const json* value = nullptr;
    if (Status s = Single(info, "\"value\": \"2024-06-01T00:00:00Z\"", &value); !s.ok) return s;
    if (value->is_string()) {
      if (!parse_timestamp(value->get_ref<const std::string&>(), &impl_->micros)) {
        return Error(where_ + ": " + json_text(*value) + " is not a timestamp", hint);
      }
    } else if (value->is_number()) {
      if (!epoch_seconds_to_micros(value->get<double>(), &impl_->micros)) {
        return Error(where_ + ": " + json_text(*value) + " is not a time (epoch seconds beyond the years 0000-9999)",
                     hint);
      }
    } else {
      return WrongType(info, "a timestamp string or epoch seconds", "\"value\"", *value, hint);
    }
    return Status::Ok();
  }

  Status ReadSemver(const OpInfo& info) {
    const char* hint =
        "Use a semantic version MAJOR.MINOR.PATCH with an optional -prerelease and +build, e.g. \"2.1.0\", "
        "\"v2.1.0\" or \"2.1.0-beta.1\" (semver.org 2.0.0).";
    const json* value = nullptr;
    if (Status s = Single(info, "\"value\": \"2.1.0\"", &value); !s.ok) return s;
    if (!value->is_string()) {
      return WrongType(info, "a version string", "\"value\"", *value, hint);
    }
    impl_->version_text = value->get<std::string>();
    if (!parse_semver(impl_->version_text, &impl_->version)) {
      return Error(where_ + ": " + json_text(*value) + " is not a semantic version", hint);
    }
    return Status::Ok();
  }

  // contains, starts_with, ends_with and regex: one string, or "values" meaning any of them.
  Status ReadStrings(const OpInfo& info) {
    bool regex = info.family == Family::kRegex;
    std::vector<const json*> items;
    if (values_) {
      if (Status s = Array(info, &items); !s.ok) return s;
    } else {
      const json* one = nullptr;
      if (Status s = Single(info, regex ? R"("value": "@example\\.com$")" : R"("value": "@example.com")", &one);
          !s.ok) {
        return s;
      }
      items.push_back(one);
    }
    for (size_t i = 0; i < items.size(); i++) {
      const json& item = *items[i];
      if (!item.is_string()) {
        return WrongType(info, "a string", Name(i), item,
                         std::string("Write the ") + (regex ? "pattern" : "text") + " as a JSON string, in quotes.");
      }
      if (regex) {
        if (Status s = Compile(item.get_ref<const std::string&>()); !s.ok) return s;
      } else {
        std::string text;
        if (Status s = Text(item, &text); !s.ok) return s;
        impl_->needles.push_back(std::move(text));
      }
    }
    return Status::Ok();
  }

  Status Compile(const std::string& pattern) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_case_sensitive(!impl_->case_insensitive);
    auto re = std::make_unique<RE2>(pattern, options);
    if (!re->ok()) {
      return Error(where_ + ": invalid regular expression " + quote(pattern) + ": " + re->error(),
                   "Patterns use RE2 syntax (https://github.com/google/re2/wiki/Syntax), which has no "
                   "backreferences or lookaround.",
                   ErrorCode::kInvalidRegex);
    }
    impl_->regexes.push_back(std::move(re));
    return Status::Ok();
  }

  // The elements of "values": a non-empty array.
  Status Array(const OpInfo& info, std::vector<const json*>* items) const {
    if (!values_->is_array()) {
      return Error(where_ + ": \"values\" must be an array, got " + describe(*values_),
                   "Write the values as an array, e.g. \"values\": [\"pro\", \"enterprise\"].");
    }
    if (values_->empty()) {
      return Error(where_ + ": \"values\" is empty", "List at least one value for operator " + quote(info.name) +
                                                         "; an empty list is almost surely a mistake.");
    }
    for (const json& item : *values_) items->push_back(&item);
    return Status::Ok();
  }

  // How a message names value number `i`: "value", or "values[i]" when they came as an array.
  std::string Name(size_t i) const { return values_ ? "values[" + std::to_string(i) + "]" : "\"value\""; }

  const json& object_;
  Compiled* impl_;
  std::string where_ = "constraint";
  const json* value_ = nullptr;
  const json* values_ = nullptr;
};

}  // namespace

struct Constraint::Impl : Compiled {};

Constraint::Constraint() = default;
Constraint::Constraint(Constraint&&) noexcept = default;
Constraint& Constraint::operator=(Constraint&&) noexcept = default;
Constraint::~Constraint() = default;

Status Constraint::Parse(const nlohmann::json& object, Constraint* out) {
  auto impl = std::make_unique<Impl>();
  Status status = Parser(object, impl.get()).Run();
  if (!status.ok) return status;
  out->impl_ = std::move(impl);
  return status;
}

const std::string& Constraint::attribute() const noexcept {
  static const std::string kNone;
  return impl_ ? impl_->attribute : kNone;
}

bool Constraint::matches(const AttributeValue& value) const noexcept {
  if (!impl_) return false;
  return (value.present() && impl_->test(value)) != impl_->negate;
}

}  // namespace rollout
