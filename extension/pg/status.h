// Turning a core Status into an ERROR, across the border.
//
// A Status owns std::strings, which an ereport longjmp would never destroy; Problem is its
// plain-data copy (fixed buffers, trivially destructible), filled inside call_core() and raised
// outside it, after every C++ frame has returned.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "core/status.h"

namespace rollout_pg {

struct Problem {
  bool failed = false;
  rollout::ErrorCode code = rollout::ErrorCode::kInvalidParameter;
  char message[1024] = {0};
  char hint[1024] = {0};

  // Copies a failed status. No PostgreSQL calls: safe inside call_core().
  void set(const rollout::Status& status) noexcept {
    failed = !status.ok;
    code = status.code;
    snprintf(message, sizeof message, "%s", status.message.c_str());
    snprintf(hint, sizeof hint, "%s", status.hint.c_str());
  }

  // Raises the ERROR; `context` (printf format) prefixes the message when not null.
  [[noreturn]] void raise(const char* context, ...) const __attribute__((format(printf, 2, 3)));
};

}  // namespace rollout_pg
