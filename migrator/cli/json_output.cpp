#include "migrator/cli/json_output.h"

#include <cctype>
#include <string_view>

namespace migrator {

std::string JsonDocument::render(bool ok, int exit_code, const nlohmann::json* error) const {
  nlohmann::json document = nlohmann::json::object();
  document["command"] = command_.empty() ? nlohmann::json(nullptr) : nlohmann::json(command_);
  document["ok"] = ok;
  document["exit_code"] = exit_code;
  for (auto it = fields_.begin(); it != fields_.end(); ++it) document[it.key()] = it.value();
  if (error != nullptr) document["error"] = *error;
  // Replace: a message is bytes from files and the server, not always valid UTF-8.
  return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonDocument::success() const { return render(true, 0, nullptr); }

std::string JsonDocument::failure(int exit_code, const std::string& message) const {
  nlohmann::json error = error_json(message);
  return render(false, exit_code, &error);
}

nlohmann::json error_json(const std::string& message) {
  nlohmann::json error = {{"message", message}};
  // The first "<path>.sql:<line>" in the message (a path has no blank or quote).
  constexpr std::string_view kSuffix = ".sql:";
  const auto in_path = [](char c) { return c != ' ' && c != '\n' && c != '\'' && c != '"'; };
  for (size_t at = message.find(kSuffix); at != std::string::npos; at = message.find(kSuffix, at + 1)) {
    size_t digits = at + kSuffix.size();
    size_t end = digits;
    while (end < message.size() && end - digits < 9 && std::isdigit(static_cast<unsigned char>(message[end]))) ++end;
    size_t start = at;
    while (start > 0 && in_path(message[start - 1])) --start;
    if (end == digits || start == at) continue;
    error["file"] = message.substr(start, digits - 1 - start);
    error["line"] = std::stoi(message.substr(digits, end - digits));
    break;
  }
  return error;
}

nlohmann::json status_json(const MigrationStatus& status) {
  static const char* const kStates[] = {"applied", "pending", "changed", "missing", "failed"};
  std::string state = kStates[static_cast<int>(status.state)];
  if (status.state == MigrationState::kFailed && status.interrupted) state = "interrupted";
  nlohmann::json row = {
      {"version", status.version}, {"version_text", status.version_text}, {"name", status.name}, {"state", state}};
  if (!status.phase.empty()) row["phase"] = status.phase;
  if (!status.phase_error.empty()) row["phase_error"] = status.phase_error;
  if (status.backfill_rows_done >= 0) {
    row["backfill"] = {{"rows_done", status.backfill_rows_done}, {"rows_total", status.backfill_rows_total}};
  }
  if (status.state != MigrationState::kPending) {
    row["applied_at"] = status.applied_at;  // for failed ones: when the run started
    row["applied_by"] = status.applied_by;
  }
  if (status.state == MigrationState::kApplied || status.state == MigrationState::kChanged ||
      status.state == MigrationState::kMissing) {
    row["execution_ms"] = status.execution_ms;
  }
  if (status.state == MigrationState::kFailed) {
    row["failed_action"] = status.failed_action;
    nlohmann::json lines = nlohmann::json::array();
    std::string ran = status.ran;
    for (size_t start = 0; start < ran.size();) {
      size_t comma = ran.find(',', start);
      if (comma == std::string::npos) comma = ran.size();
      lines.push_back(std::stoi(ran.substr(start, comma - start)));
      start = comma + 1;
    }
    row["statements_ran_lines"] = lines;
    row["error"] = status.error;
  }
  return row;
}

nlohmann::json run_json(const MigrationRun& run) {
  nlohmann::json row = {{"version", run.version},
                        {"name", run.name},
                        {"directory", run.label},
                        {"action", run.action},
                        {"outcome", run.outcome},
                        {"duration_ms", run.duration_ms},
                        {"outside_transaction", run.outside_transaction}};
  if (run.action == "resolve") row["dropped_indexes"] = run.dropped_indexes;
  if (!run.error.empty()) row["error"] = run.error;
  return row;
}

nlohmann::json runs_json(const std::vector<MigrationRun>& runs) {
  nlohmann::json rows = nlohmann::json::array();
  for (const MigrationRun& run : runs) rows.push_back(run_json(run));
  return rows;
}

}  // namespace migrator
