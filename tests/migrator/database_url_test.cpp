// Picking the database from its URL.
#include "migrator/drivers/database_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "migrator/error.h"

namespace migrator_test {
namespace {

using migrator::DatabaseKind;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseDatabaseUrl, PostgresUrisAndConninfoStrings) {
  for (const char* url :
       {"postgres://u@h/db", "postgresql://h:5433/db?sslmode=disable", "host=/tmp dbname=app", "dbname=app"}) {
    migrator::DatabaseUrl parsed = migrator::parse_database_url(url);
    EXPECT_EQ(parsed.kind, DatabaseKind::kPostgres) << url;
    EXPECT_EQ(parsed.target, url);
  }
}

TEST(ParseDatabaseUrl, SqlitePaths) {
  EXPECT_EQ(migrator::parse_database_url("sqlite:///abs/path.db").target, "/abs/path.db");
  EXPECT_EQ(migrator::parse_database_url("sqlite://rel/path.db").target, "rel/path.db");
  EXPECT_EQ(migrator::parse_database_url("sqlite:rel.db").target, "rel.db");
  EXPECT_EQ(migrator::parse_database_url("sqlite::memory:").target, ":memory:");
  EXPECT_EQ(migrator::parse_database_url("sqlite:rel.db").kind, DatabaseKind::kSqlite);
}

TEST(ParseDatabaseUrl, AnythingElseIsAUsageErrorListingTheAcceptedForms) {
  for (const char* url : {"", "mysql://user:secret@h/db", "app.db", "sqlite:", "sqlite://"}) {
    try {
      migrator::parse_database_url(url);
      ADD_FAILURE() << "accepted " << url;
    } catch (const migrator::Error& e) {
      EXPECT_EQ(e.code(), migrator::ExitCode::kUsage);
      EXPECT_THAT(e.what(), HasSubstr("sqlite:PATH"));
      EXPECT_THAT(e.what(), HasSubstr("postgresql://"));
      EXPECT_THAT(e.what(), Not(HasSubstr("secret")));
    }
  }
}

TEST(ParseDatabaseUrl, BadPostgresPortsAreUsageErrors) {
  for (const char* url :
       {"postgresql://h:abc/db", "postgres://h:0/db", "port=65536 dbname=x", "postgresql://h:5432,g:x/db"}) {
    try {
      migrator::parse_database_url(url);
      ADD_FAILURE() << "accepted " << url;
    } catch (const migrator::Error& e) {
      EXPECT_EQ(e.code(), migrator::ExitCode::kUsage) << url;
      EXPECT_THAT(e.what(), HasSubstr("expected a number from 1 to 65535")) << url;
    }
  }
  EXPECT_EQ(migrator::parse_database_url("postgresql://h:5432,g:5433/db").kind, DatabaseKind::kPostgres);
}

}  // namespace
}  // namespace migrator_test
