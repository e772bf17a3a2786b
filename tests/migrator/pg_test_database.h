// A PostgreSQL database of its own for one test, made from DATABASE_URL (a role allowed to CREATE
// DATABASE) and dropped afterwards; for the dry-run and backup suites.
#pragma once

#include <memory>
#include <string>

namespace migrator_test {

class TestDatabase {
 public:
  // Creates the database, named after the process and the running test; nullptr with `*problem`
  // set if DATABASE_URL is unset or the database cannot be created.
  static std::unique_ptr<TestDatabase> create(std::string* problem);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // A libpq key=value connection string for the test database.
  const std::string& url() const { return url_; }
  // Runs `sql` (any number of statements) and commits.
  void exec(const std::string& sql) const;
  // The first column of the first row of `query` as text ("" for NULL).
  std::string query_value(const std::string& query) const;

 private:
  TestDatabase(std::string maintenance, std::string name, std::string url);
  std::string maintenance_;
  std::string name_;
  std::string url_;
};

// The directory of pg_dump and pg_restore: $PG_BINDIR, else /usr/lib/postgresql/15/bin.
std::string pg_bindir();

}  // namespace migrator_test
