#include "migrator/drivers/database_url.h"

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
}  // namespace

DatabaseUrl parse_database_url(std::string_view url) {
  if (starts_with(url, "postgres://") || starts_with(url, "postgresql://")) {
    return {DatabaseKind::kPostgres, std::string(url)};
  }
  if (starts_with(url, "sqlite:")) {
    std::string_view path = url.substr(7);
    if (starts_with(path, "//")) path.remove_prefix(2);
    if (!path.empty()) return {DatabaseKind::kSqlite, std::string(path)};
  } else if (url.find('=') != std::string_view::npos) {
    return {DatabaseKind::kPostgres, std::string(url)};
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
