// Backups on PostgreSQL, through the executable: backup, a destructive migration, restore, and the
// data is back; a tampered dump is refused; retention; confirmation; a failed dump stops `up`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "migrator/pg_test_database.h"
#include "migrator/test_support.h"

namespace migrator_test {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr const char* kContents = "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM items t";

class BackupPg : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string problem;
    database_ = TestDatabase::create(&problem);
    ASSERT_NE(database_, nullptr) << problem;
    migrations_.add("0001_items",
                    "CREATE TABLE items (id bigint PRIMARY KEY, name text, note text);\n"
                    "INSERT INTO items SELECT g, 'item ' || g, 'note ' || g FROM generate_series(1, 200) g;\n",
                    "DROP TABLE items;\n");
  }

  // The migrator with the test's database, migrations and backups directory, and pg_dump and
  // pg_restore from pg_bin_; stdin is /dev/null (no terminal). The destructive migrations these
  // tests need are allowed by lint, which `up` runs first.
  CommandResult migrator(std::vector<std::string> args) {
    std::vector<std::string> all = {
        "-c",    "exec \"$0\" \"$@\" </dev/null", MIGRATOR_BIN,   "--database-url",         database_->url(),
        "--dir", migrations_.path().string(),     "--backup-dir", backups_.path().string(), "--pg-bin",
        pg_bin_, "--lint-allow", "drop-table", "--lint-allow", "drop-column"};
    all.insert(all.end(), args.begin(), args.end());
    return run_command("/bin/sh", all);
  }

  nlohmann::json backups() {
    CommandResult result = migrator({"--json", "backups"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out)["backups"];
  }

  std::vector<std::string> history() {
    std::vector<std::string> rows;
    std::string all =
        database_->query_value("SELECT string_agg(action || ' ' || outcome, ',' ORDER BY id) FROM migrator.history");
    std::stringstream in(all);
    for (std::string row; std::getline(in, row, ',');) rows.push_back(row);
    return rows;
  }

  std::unique_ptr<TestDatabase> database_;
  MigrationsDir migrations_;
  TempDir backups_;
  std::string pg_bin_ = pg_bindir();
};

TEST_F(BackupPg, DestructiveMigrationIsBackedUpAndRestoreBringsTheDataBack) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  std::string contents = database_->query_value(kContents);
  ASSERT_THAT(contents, HasSubstr("200:"));

  migrations_.add("0002_prune", "ALTER TABLE items DROP COLUMN note;\nDELETE FROM items WHERE id > 50;\n",
                  "ALTER TABLE items ADD COLUMN note text;\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("backed up to "));
  EXPECT_THAT(up.out, HasSubstr("applied 0002_prune"));
  EXPECT_EQ(database_->query_value("SELECT count(*) FROM items"), "50");

  nlohmann::json listed = backups();
  ASSERT_EQ(listed.size(), 1u);
  std::string file = listed[0]["file"];
  EXPECT_THAT(listed[0]["reason"].get<std::string>(),
              HasSubstr("before 0002_prune: " + (migrations_.path() / "0002_prune" / "up.sql").string() +
                        ":1: ALTER TABLE ... DROP COLUMN"));
  EXPECT_EQ(fs::path(file).parent_path(), backups_.path());
  EXPECT_EQ(listed[0]["size"].get<int64_t>(), static_cast<int64_t>(fs::file_size(file)));
  std::ifstream sidecar(file + ".sha256");
  std::string sidecar_hash;
  sidecar >> sidecar_hash;
  EXPECT_EQ(sidecar_hash, listed[0]["sha256"]);

  CommandResult restore = migrator({"restore", file, "--yes"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(database_->query_value(kContents), contents);  // rows, columns and values back
  EXPECT_EQ(database_->query_value("SELECT string_agg(version::text, ',') FROM migrator.schema_migrations"), "1");
  CommandResult status = migrator({"status"});
  EXPECT_THAT(status.out, HasSubstr("prune  pending"));
  // The history keeps what happened after the backup, then the restore.
  EXPECT_THAT(history(), ::testing::ElementsAre("up applied", "backup completed", "up applied", "restore completed"));
  EXPECT_EQ(backups().size(), 1u);

  // The same migration applies again after the restore (and backs up again first).
  CommandResult again = migrator({"up"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(database_->query_value("SELECT count(*) FROM items"), "50");
  EXPECT_EQ(backups().size(), 2u);
}

TEST_F(BackupPg, TamperedDumpIsRefusedAndNothingChanges) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  CommandResult backup = migrator({"backup"});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  std::string file = backups()[0]["file"];
  database_->exec("DELETE FROM items WHERE id > 100");
  std::string after_delete = database_->query_value(kContents);
  {
    std::fstream dump(file, std::ios::in | std::ios::out | std::ios::binary);
    dump.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
    dump.put('\x5a');
  }
  CommandResult restore = migrator({"restore", file, "--yes"});
  EXPECT_EQ(restore.exit_code, 7);
  EXPECT_THAT(restore.err, HasSubstr("has SHA-256"));
  EXPECT_THAT(restore.err, HasSubstr("nothing was changed"));
  EXPECT_EQ(database_->query_value(kContents), after_delete);
  EXPECT_EQ(history().back(), "backup completed");
}

TEST_F(BackupPg, SidecarHashServesWhenTheStateIsGone) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  std::string contents = database_->query_value(kContents);
  ASSERT_EQ(migrator({"backup"}).exit_code, 0);
  std::string file = backups()[0]["file"];
  database_->exec("DROP SCHEMA migrator CASCADE; TRUNCATE items");
  CommandResult restore = migrator({"restore", file, "--yes"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(database_->query_value(kContents), contents);
  EXPECT_EQ(history().back(), "restore completed");
}

TEST_F(BackupPg, RestoreWithoutTerminalOrYesRefusesWithExitTwo) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  ASSERT_EQ(migrator({"backup"}).exit_code, 0);
  std::string file = backups()[0]["file"];
  database_->exec("DELETE FROM items");
  CommandResult restore = migrator({"restore", file});
  EXPECT_EQ(restore.exit_code, 2);
  EXPECT_THAT(restore.err, HasSubstr("--yes"));
  EXPECT_EQ(database_->query_value("SELECT count(*) FROM items"), "0");
}

// pg_dump compresses at level 1 unless told otherwise (its archive header says which), and a level
// outside 0 to 9 is a usage error that takes no backup.
TEST_F(BackupPg, CompressionLevelIsOneUnlessGiven) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  auto compression_of_newest = [&] {
    std::string file = backups()[0]["file"];
    CommandResult list = run_command(pg_bin_ + "/pg_restore", {"--list", file});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    std::stringstream in(list.out);
    for (std::string line; std::getline(in, line);) {
      if (line.find("Compression:") != std::string::npos) return line.substr(line.find(':') + 1);
    }
    return std::string("(no Compression line)");
  };
  ASSERT_EQ(migrator({"backup"}).exit_code, 0);
  EXPECT_EQ(compression_of_newest(), " 1");
  ASSERT_EQ(migrator({"--backup-compression", "0", "backup"}).exit_code, 0);
  EXPECT_EQ(compression_of_newest(), " 0");
  ASSERT_EQ(migrator({"--backup-compression", "9", "backup"}).exit_code, 0);
  EXPECT_EQ(compression_of_newest(), " 9");
  CommandResult bad = migrator({"--backup-compression", "10", "backup"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--backup-compression"));
  EXPECT_EQ(backups().size(), 3u);
}

TEST_F(BackupPg, RetentionKeepsTheNewestN) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  std::vector<std::string> files;
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(migrator({"--keep-backups", "2", "backup"}).exit_code, 0);
    files.push_back(backups()[0]["file"]);
  }
  nlohmann::json listed = backups();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["file"], files[3]);
  EXPECT_EQ(listed[1]["file"], files[2]);
  EXPECT_FALSE(fs::exists(files[0]));
  EXPECT_FALSE(fs::exists(files[1]));
  EXPECT_FALSE(fs::exists(files[0] + ".sha256"));
  EXPECT_TRUE(fs::exists(files[2]));
  EXPECT_TRUE(fs::exists(files[3]));
  size_t entries = 0;
  for (const auto& entry : fs::directory_iterator(backups_.path())) entries += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(entries, 4u);  // two dumps, two sidecars
}

TEST_F(BackupPg, FailedBackupStopsUpBeforeAnythingRuns) {
  ASSERT_EQ(migrator({"up"}).exit_code, 0);
  migrations_.add("0002_drop", "DROP TABLE items;\n", "CREATE TABLE items (id bigint);\n");
  // A pg_dump that writes something pg_restore cannot read: verification fails.
  TempDir bin;
  write_file(bin.path() / "pg_dump", "#!/bin/sh\nwhile [ \"$1\" != --file ]; do shift; done\necho garbage > \"$2\"\n");
  fs::permissions(bin.path() / "pg_dump", fs::perms::owner_all);
  fs::create_symlink(pg_bindir() + "/pg_restore", bin.path() / "pg_restore");
  pg_bin_ = bin.path().string();
  CommandResult up = migrator({"up"});
  EXPECT_EQ(up.exit_code, 7);
  EXPECT_THAT(up.err, HasSubstr("failed verification"));
  EXPECT_EQ(database_->query_value("SELECT count(*) FROM items"), "200");
  EXPECT_THAT(migrator({"status"}).out, HasSubstr("drop   pending"));
  EXPECT_TRUE(fs::is_empty(backups_.path()));

  CommandResult skipped = migrator({"up", "--no-backup"});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_EQ(database_->query_value("SELECT to_regclass('items') IS NULL"), "t");
}

TEST_F(BackupPg, NonDestructiveMigrationTakesNoBackupUnlessAsked) {
  migrations_.add("0002_index", "CREATE INDEX items_name ON items (name);\nUPDATE items SET name = 'x' WHERE id = 1;\n",
                  "DROP INDEX items_name;\n");
  CommandResult up = migrator({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, ::testing::Not(HasSubstr("backed up")));
  EXPECT_EQ(backups().size(), 0u);
  CommandResult down = migrator({"down", "--backup"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, HasSubstr("backed up to "));
  EXPECT_EQ(backups()[0]["reason"], "before 0002_index: requested with --backup");
}

}  // namespace
}  // namespace migrator_test
