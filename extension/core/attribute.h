// An attribute of the user being evaluated (tier, country, app_version, org_id, ...), as the
// PostgreSQL layer hands it to the core: a view, never owning, valid for one evaluation.
#pragma once

#include <cstdint>
#include <string_view>

namespace rollout {

struct AttributeValue {
  enum class Kind : uint8_t { kAbsent, kString, kNumber, kBool };

  Kind kind = Kind::kAbsent;
  // kString: the string (UTF-8). kNumber: its shortest decimal text ("42", "2.5"), so string
  // operators and bucketing see numbers as they are written. kBool: "true" or "false".
  std::string_view text;
  // kNumber: the value. Unused otherwise.
  double number = 0;

  bool present() const noexcept { return kind != Kind::kAbsent; }

  static AttributeValue Absent() noexcept { return {}; }
  static AttributeValue String(std::string_view s) noexcept { return {Kind::kString, s, 0}; }
  static AttributeValue Number(double v, std::string_view text) noexcept { return {Kind::kNumber, text, v}; }
  static AttributeValue Bool(bool b) noexcept { return {Kind::kBool, b ? "true" : "false", b ? 1.0 : 0.0}; }
};

}  // namespace rollout
