// Which database a URL names, and the driver for it.
//
// Accepted forms:
//   postgres://... or postgresql://...   PostgreSQL (libpq URI)
//   any string containing '='           PostgreSQL (libpq key=value string, e.g. "host=/tmp dbname=app")
//   sqlite:PATH or sqlite://PATH        SQLite file (sqlite:///abs/app.db is /abs/app.db, sqlite:app.db is app.db)
//   sqlite::memory:                     SQLite in-memory database
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "migrator/drivers/driver.h"

namespace migrator {

enum class DatabaseKind { kPostgres, kSqlite };

struct DatabaseUrl {
  DatabaseKind kind = DatabaseKind::kPostgres;
  std::string target;  // the libpq connection string, or the SQLite path (":memory:" for in-memory)
};

// The accepted forms, as listed above, for messages and --help.
extern const char* const kAcceptedDatabaseUrls;

// Throws Error(kUsage) naming the accepted forms if `url` is none of them.
DatabaseUrl parse_database_url(std::string_view url);

// Connects. Throws Error(kDatabase) if the database cannot be reached or opened.
std::unique_ptr<Driver> open_driver(const DatabaseUrl& url, const DriverOptions& options);

}  // namespace migrator
