// The --json output: exactly one JSON document per command on stdout, built here so that every
// command (including ones other modules add) has the same envelope:
//   {"command": "up", "ok": true, "exit_code": 0, ...the command's fields...}
//   {"command": "up", "ok": false, "exit_code": 1,
//    "error": {"message": "...", "file": ".../up.sql", "line": 3}, ...the fields known so far...}
// Human-readable output (progress lines, the error message) goes to stderr meanwhile.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "migrator/engine/engine.h"

namespace migrator {

class JsonDocument {
 public:
  // `command` is null when none was recognised (a usage error before it).
  void set_command(const std::string& command) { command_ = command; }
  // The command's own fields, merged into the document next to the envelope.
  nlohmann::json& fields() { return fields_; }

  // The document for a command that succeeded, as one line.
  std::string success() const;
  // The document for a command that failed with `exit_code` and `message` (see error_json()).
  std::string failure(int exit_code, const std::string& message) const;

 private:
  std::string render(bool ok, int exit_code, const nlohmann::json* error) const;
  std::string command_;
  nlohmann::json fields_ = nlohmann::json::object();
};

// {"message": ...} plus "file" and "line" of the first "<path>.sql:<line>" the message names, where
// it names one (every migration error does).
nlohmann::json error_json(const std::string& message);

// One migration of `status`: {"version", "version_text", "name", "state", ...}; state is "applied",
// "pending", "changed", "missing", "failed" or "interrupted", with the fields that state has.
nlohmann::json status_json(const MigrationStatus& status);

// One migration a command acted on: {"version", "name", "directory", "action", "outcome",
// "duration_ms", "outside_transaction"}, with "dropped_indexes" for resolve and "error" for a failed
// verify.sql.
nlohmann::json run_json(const MigrationRun& run);
nlohmann::json runs_json(const std::vector<MigrationRun>& runs);

}  // namespace migrator
