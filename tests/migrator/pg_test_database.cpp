#include "migrator/pg_test_database.h"

#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <pqxx/pqxx>

#include "migrator/test_support.h"

namespace migrator_test {
namespace {

std::string quote_value(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

}  // namespace

std::unique_ptr<TestDatabase> TestDatabase::create(std::string* problem) {
  const char* maintenance = std::getenv("DATABASE_URL");
  if (maintenance == nullptr || *maintenance == '\0') {
    *problem = "DATABASE_URL is not set: the pg tests need a PostgreSQL server and a role that may CREATE DATABASE";
    return nullptr;
  }
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(maintenance, &error);
  if (options == nullptr) {
    *problem = "cannot parse DATABASE_URL: " + std::string(error != nullptr ? error : "out of memory");
    PQfreemem(error);
    return nullptr;
  }
  std::string name = unique_test_name("migrator_safety");
  std::string url;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || std::string(option->keyword) == "dbname") continue;
    url += std::string(option->keyword) + "=" + quote_value(option->val) + " ";
  }
  PQconninfoFree(options);
  url += "dbname=" + quote_value(name);
  try {
    pqxx::connection connection(maintenance);
    pqxx::nontransaction tx(connection);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  } catch (const std::exception& e) {
    *problem = "cannot create test database " + name + ": " + e.what();
    return nullptr;
  }
  return std::unique_ptr<TestDatabase>(new TestDatabase(maintenance, name, url));
}

TestDatabase::TestDatabase(std::string maintenance, std::string name, std::string url)
    : maintenance_(std::move(maintenance)), name_(std::move(name)), url_(std::move(url)) {}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection connection(maintenance_);
    pqxx::nontransaction tx(connection);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop test database " << name_ << ": " << e.what();
  }
}

void TestDatabase::exec(const std::string& sql) const {
  pqxx::connection connection(url_);
  pqxx::work tx(connection);
  tx.exec(sql);
  tx.commit();
}

std::string TestDatabase::query_value(const std::string& query) const {
  pqxx::connection connection(url_);
  pqxx::read_transaction tx(connection);
  pqxx::row row = tx.exec1(query);
  return row[0].is_null() ? std::string() : row[0].as<std::string>();
}

std::string pg_bindir() {
  const char* bindir = std::getenv("PG_BINDIR");
  return bindir != nullptr && *bindir != '\0' ? bindir : "/usr/lib/postgresql/15/bin";
}

}  // namespace migrator_test
