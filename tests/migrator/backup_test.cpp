// Backups without a server: destructive statements recognised from the parse tree, and SQLite
// backups through the executable (online backup API, integrity check, SHA-256, restore).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>

#include "migrator/backups/backup_files.h"
#include "migrator/backups/backups.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

TEST(DestructiveReason, NamesStatementsThatDestroyData) {
  EXPECT_EQ(migrator::destructive_reason("DROP TABLE a, b"), "DROP TABLE");
  EXPECT_EQ(migrator::destructive_reason("drop schema s cascade"), "DROP SCHEMA");
  EXPECT_EQ(migrator::destructive_reason("DROP MATERIALIZED VIEW v"), "DROP MATERIALIZED VIEW");
  EXPECT_EQ(migrator::destructive_reason("TRUNCATE t"), "TRUNCATE");
  EXPECT_EQ(migrator::destructive_reason("ALTER TABLE t ADD COLUMN a int, DROP COLUMN b"),
            "ALTER TABLE ... DROP COLUMN");
  EXPECT_EQ(migrator::destructive_reason("ALTER TABLE t ALTER COLUMN a TYPE bigint"),
            "ALTER TABLE ... ALTER COLUMN ... TYPE");
  EXPECT_EQ(migrator::destructive_reason("DELETE FROM t"), "DELETE without WHERE");
  EXPECT_EQ(migrator::destructive_reason("UPDATE t SET a = 1"), "UPDATE without WHERE");
}

// The program runs with its CPU priority lowered by the increment (it reads its own after the
// parent has set it), and at the parent's own without one.
TEST(RunProgram, NiceIncrementLowersTheProgramsPriority) {
  errno = 0;
  int own = getpriority(PRIO_PROCESS, 0);
  ASSERT_EQ(errno, 0);
  std::string errors;
  ASSERT_EQ(migrator::run_program("sh", {"-c", "sleep 0.2; nice >&2"}, &errors, 5), 0) << errors;
  EXPECT_EQ(errors, std::to_string(std::min(own + 5, 19)));
  ASSERT_EQ(migrator::run_program("sh", {"-c", "nice >&2"}, &errors), 0) << errors;
  EXPECT_EQ(errors, std::to_string(own));
  EXPECT_EQ(migrator::run_program("sh", {"-c", "echo failed >&2; exit 3"}, &errors, 5), 3);
  EXPECT_EQ(errors, "failed");
}

TEST(DestructiveReason, LeavesAloneWhatKeepsData) {
  for (const char* sql :
       {"DELETE FROM t WHERE id = 1", "UPDATE t SET a = 1 WHERE b", "DROP INDEX i", "DROP VIEW v",
        "ALTER TABLE t ADD COLUMN a int", "CREATE TABLE t (a int)", "SELECT 'DROP TABLE t'",
        "-- DROP TABLE t\nSELECT 1", "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DELETE FROM t $$"}) {
    EXPECT_EQ(migrator::destructive_reason(sql), "") << sql;
  }
}

std::string query(const fs::path& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  sqlite3_open(db.c_str(), &handle);
  sqlite3_stmt* stmt = nullptr;
  std::string value;
  if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    value = text == nullptr ? "" : reinterpret_cast<const char*>(text);
  } else {
    value = std::string("error: ") + sqlite3_errmsg(handle);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(handle);
  return value;
}

class SqliteBackup : public ::testing::Test {
 protected:
  void SetUp() override {
    migrations_.add("0001_items",
                    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, note TEXT);\n"
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 100)\n"
                    "INSERT INTO items SELECT n, 'item ' || n, 'note ' || n FROM g;\n",
                    "DROP TABLE items;\n");
  }
  CommandResult migrator(std::vector<std::string> args) {
    std::vector<std::string> all = {
        "-c",    "exec \"$0\" \"$@\" </dev/null", MIGRATOR_BIN,   "--database-url",        "sqlite:" + db().string(),
        "--dir", migrations_.path().string(),     "--backup-dir", backups_.path().string()};
    all.insert(all.end(), args.begin(), args.end());
    return run_command("/bin/sh", all);
  }
  fs::path db() const { return scratch_.path() / "app.db"; }
  std::string contents() const {
    return query(db(),
                 "SELECT count(*) || ':' || group_concat(id || '/' || name || '/' || coalesce(note, '-'), ',') "
                 "FROM (SELECT * FROM items ORDER BY id)");
  }

  MigrationsDir migrations_;
  TempDir scratch_;
  TempDir backups_;
};

TEST_F(SqliteBackup, DestructiveMigrationIsBackedUpAndRestoreBringsTheDataBack) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  std::string before = contents();
  ASSERT_THAT(before, HasSubstr("100:1/item 1/note 1,"));
  migrations_.add("0002_prune", "ALTER TABLE items DROP COLUMN note;\nDELETE FROM items WHERE id > 10;\n",
                  "ALTER TABLE items ADD COLUMN note TEXT;\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("backed up to "));
  EXPECT_EQ(query(db(), "SELECT count(*) FROM items"), "10");

  CommandResult listed = migrator({"--json", "backups"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  nlohmann::json backups = nlohmann::json::parse(listed.out)["backups"];
  ASSERT_EQ(backups.size(), 1u);
  std::string file = backups[0]["file"];
  EXPECT_EQ(query(file, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(backups[0]["sha256"], migrator::sha256_of_file(file));

  CommandResult restore = migrator({"restore", file, "--yes"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(contents(), before);
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("prune  pending"));
  EXPECT_EQ(query(db(),
                  "SELECT group_concat(action || ' ' || outcome, ',') FROM (SELECT * FROM migrator_history "
                  "ORDER BY id)"),
            "up applied,backup completed,up applied,restore completed");
}

TEST_F(SqliteBackup, TamperedBackupIsRefusedWithExitSeven) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  fs::path out = backups_.path() / "manual.sqlite3";
  ASSERT_EQ(migrator({"backup", "--out", out.string()}).exit_code, 0);
  ASSERT_TRUE(fs::exists(out.string() + ".sha256"));
  query(db(), "DELETE FROM items");
  {
    std::fstream file(out, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(out) - 10));
    file.put('\x01');
  }
  CommandResult restore = migrator({"restore", out.string(), "--yes"});
  EXPECT_EQ(restore.exit_code, 7);
  EXPECT_THAT(restore.err, HasSubstr("nothing was changed"));
  EXPECT_EQ(query(db(), "SELECT count(*) FROM items"), "0");
}

TEST_F(SqliteBackup, RestoreWithoutTerminalOrYesRefusesWithExitTwo) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  ASSERT_EQ(migrator({"backup"}).exit_code, 0);
  std::string file = nlohmann::json::parse(migrator({"--json", "backups"}).out)["backups"][0]["file"];
  query(db(), "DELETE FROM items");
  CommandResult restore = migrator({"restore", file});
  EXPECT_EQ(restore.exit_code, 2);
  EXPECT_THAT(restore.err, HasSubstr("--yes"));
  EXPECT_EQ(query(db(), "SELECT count(*) FROM items"), "0");
}

TEST_F(SqliteBackup, RetentionKeepsTheNewestN) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(migrator({"--keep-backups", "1", "backup"}).exit_code, 0);
  nlohmann::json backups = nlohmann::json::parse(migrator({"--json", "backups"}).out)["backups"];
  ASSERT_EQ(backups.size(), 1u);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(backups_.path())) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 2u);  // the newest backup and its sidecar
  EXPECT_EQ(files[0].string(), backups[0]["file"]);
}

TEST(BackupCli, HelpDocumentsBackupCommandsAndExitSeven) {
  CommandResult help = run_command(MIGRATOR_BIN, {"--help"});
  for (const char* text : {"backup", "backups", "restore", "--backup-dir", "--keep-backups", "--yes", "  7  "}) {
    EXPECT_THAT(help.out, HasSubstr(text));
  }
  for (const char* command : {"backup", "backups", "restore"}) {
    EXPECT_THAT(run_command(MIGRATOR_BIN, {command, "--help"}).out, HasSubstr("Example:\n  migrator ")) << command;
  }
}

}  // namespace
}  // namespace migrator_test
