#include "migrator/drivers/database_url.h"

#include <libpq-fe.h>

#include <algorithm>

#include <string>

#include "migrator/error.h"
#include "migrator/drivers/postgres_driver.h"
#include "migrator/drivers/sqlite_driver.h"

namespace migrator {

const char* const kAcceptedDatabaseUrls =
    "postgres://... or postgresql://... (libpq URI), a libpq key=value string such as "
    "'host=/tmp dbname=app', sqlite:PATH or sqlite://PATH (sqlite:///abs/app.db, sqlite:app.db), "
    "sqlite::memory:";

namespace {

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Checks what libpq would only reject when connecting (exit 4), so a malformed URL is a usage error:
// the URL's syntax, and each port (a comma-separated list with several hosts) being 1 to 65535.
void check_postgres_url(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw Error(ExitCode::kUsage, "invalid PostgreSQL URL: " + message);
  }
  std::string port;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (std::string(option->keyword) == "port" && option->val != nullptr) port = option->val;
  }
  PQconninfoFree(options);
  size_t start = 0;
  while (start <= port.size()) {
    size_t end = std::min(port.find(',', start), port.size());
    std::string one = port.substr(start, end - start);
    bool digits = !one.empty() && one.size() <= 5 && one.find_first_not_of("0123456789") == std::string::npos;
    if (!one.empty() && (!digits || std::stoi(one) < 1 || std::stoi(one) > 65535)) {
      throw Error(ExitCode::kUsage,
                  "invalid port '" + one + "' in the PostgreSQL URL: expected a number from 1 to 65535");
    }
    start = end + 1;
  }
}

}  // namespace

DatabaseUrl parse_database_url(std::string_view url) {
  if (starts_with(url, "postgres://") || starts_with(url, "postgresql://") ||
      (!starts_with(url, "sqlite:") && url.find('=') != std::string_view::npos)) {
    check_postgres_url(std::string(url));
    return {DatabaseKind::kPostgres, std::string(url)};
  }
  if (starts_with(url, "sqlite:")) {
    std::string_view path = url.substr(7);
    if (starts_with(path, "//")) path.remove_prefix(2);
    if (path.empty()) {
      throw Error(ExitCode::kUsage,
                  "the SQLite URL '" + std::string(url) + "' names no file; accepted forms: " + kAcceptedDatabaseUrls);
    }
    return {DatabaseKind::kSqlite, std::string(path)};
  }
  // Only the scheme is echoed: the rest may hold a password.
  size_t colon = url.find(':');
  std::string what = colon == std::string_view::npos ? "" : " (scheme '" + std::string(url.substr(0, colon)) + "')";
  throw Error(ExitCode::kUsage, "unrecognised database URL" + what + "; accepted forms: " + kAcceptedDatabaseUrls);
}

std::unique_ptr<Driver> open_driver(const DatabaseUrl& url, const DriverOptions& options) {
  if (url.kind == DatabaseKind::kSqlite) return std::make_unique<SqliteDriver>(url.target, options);
  return std::make_unique<PostgresDriver>(url.target, options);
}

}  // namespace migrator
