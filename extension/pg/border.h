// The border between C++ and PostgreSQL.
//
// Two rules keep the two error models apart (see pg_duckdb for the same discipline):
// - No C++ exception may unwind into PostgreSQL: core code runs inside call_core(), which
//   catches everything and raises an ERROR only after the C++ frames have unwound.
// - No ereport(ERROR) longjmp may skip a C++ destructor: functions in extension/pg/ that call
//   PostgreSQL keep only trivially destructible locals (plain structs, pointers, palloc'd memory).
//
// Include this after the PostgreSQL headers.
#pragma once

#include <new>
#include <stdexcept>

namespace rollout_pg {

// Runs `body` (pure C++; it must not call PostgreSQL functions that can raise an ERROR).
// An exception from `body` becomes an ERROR naming `context`.
// REQUIRES: the caller's frame owns no C++ resources, since the ERROR longjmps out of it.
template <typename Body>
void call_core(const char* context, Body&& body) {
  char message[512];
  bool out_of_memory = false;
  bool failed = false;
  try {
    body();
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  } catch (const std::exception& e) {
    failed = true;
    strlcpy(message, e.what(), sizeof message);
  } catch (...) {
    failed = true;
    strlcpy(message, "unknown C++ exception", sizeof message);
  }
  if (out_of_memory) {
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory"), errdetail("While %s.", context)));
  }
  if (failed) {
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("pg_rollout: %s: %s", context, message)));
  }
}

}  // namespace rollout_pg
