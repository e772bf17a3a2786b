// Results of the core's validating operations: ok, or an error a user can act on.
//
// The PostgreSQL layer turns an error into ereport(ERROR) with the SQLSTATE of `code`, the
// message and the hint, so the message names the offending part (flag, rule, constraint,
// attribute) and the hint says what would be accepted.
#pragma once

#include <string>
#include <utility>

namespace rollout {

enum class ErrorCode {
  kInvalidParameter,  // 22023 invalid_parameter_value: a value out of range or malformed
  kInvalidJson,       // 22032 invalid_json_text: text that is not JSON at all
  kInvalidRegex,      // 2201B invalid_regular_expression
  kUndefinedObject,   // 42704 undefined_object: an unknown flag, environment, preset
  kDuplicateObject,   // 42710 duplicate_object
  kCycle,             // 42P17 invalid_object_definition: a prerequisite cycle
};

struct [[nodiscard]] Status {
  bool ok = true;
  ErrorCode code = ErrorCode::kInvalidParameter;
  std::string message;
  std::string hint;

  static Status Ok() { return {}; }
  static Status Error(ErrorCode code, std::string message, std::string hint) {
    return {false, code, std::move(message), std::move(hint)};
  }
  // Prefixes the message with where the problem is, e.g. "rule 2: ".
  Status& within(const std::string& where) {
    if (!ok) message = where + ": " + message;
    return *this;
  }
};

}  // namespace rollout
