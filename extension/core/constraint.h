// One targeting constraint of a rule: an operator applied to one attribute of the user.
//
// The format is a JSON object (the rule's `constraints` is an array of them, ANDed):
//   {"attribute": "tier", "op": "in", "values": ["pro", "enterprise"]}
//   {"attribute": "app_version", "op": "semver_gt", "value": "2.1.0"}
//   {"attribute": "email", "op": "ends_with", "value": "@example.com", "case_insensitive": true}
//   {"attribute": "country", "op": "in", "values": ["DE", "FR"], "negate": true}
// docs/constraints.md is the reference: every operator, how values are compared, and errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/attribute.h"
#include "core/status.h"

namespace rollout {

class Constraint {
 public:
  Constraint();
  Constraint(Constraint&&) noexcept;
  Constraint& operator=(Constraint&&) noexcept;
  ~Constraint();

  // Validates and compiles one constraint object. On error `*out` is unchanged and the status
  // names the offending part (the operator, the attribute, the value) with a hint.
  // Errors: ErrorCode::kInvalidRegex for a pattern RE2 rejects (with RE2's message);
  // ErrorCode::kInvalidParameter for everything else (not an object, unknown key, missing or empty
  // attribute, unknown operator, missing/empty/ill-typed value(s), bad semver or timestamp).
  // Throws nothing but std::bad_alloc.
  static Status Parse(const nlohmann::json& object, Constraint* out);

  // The attribute the constraint tests, as written ("tier"); empty for a default-constructed
  // Constraint, which matches nothing.
  const std::string& attribute() const noexcept;

  // Whether `value` satisfies the constraint (after negation). An absent attribute fails every
  // operator except `exists` (and, negated, passes). Never throws, never allocates for the
  // operators whose values were compiled at Parse time.
  bool matches(const AttributeValue& value) const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rollout
