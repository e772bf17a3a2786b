// The migration source: a directory of migrations, read and validated in one go.
//
// Layout: <dir>/<version>_<name>/up.sql and down.sql, and optionally verify.sql (statements that must
// succeed once the migration is applied; `migrator verify` runs them and rolls them back), for example
//   migrations/0001_create_users/{up,down}.sql
//   migrations/20240101120000_add_email/{up,down}.sql
// The version is the leading digits, compared numerically (so 0002 and 2 are the same version); it
// must fit a signed 64-bit integer (the databases store it as bigint). The name is the rest after
// the first '_': non-empty, letters, digits, '_' and '-'. Plain files in <dir> (a README) are
// ignored, with a warning for .sql files (which look like another tool's layout: golang-migrate's
// 1_init.up.sql, dbmate's 20240101120000_init.sql, Flyway's V1__init.sql); any other subdirectory
// is an error, so a typo cannot silently skip a migration.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace migrator {

// Options a migration declares in the header of its up.sql: comment lines before the first statement
// of the form "-- migrator: OPTION[, OPTION...]", for example
//   -- migrator: irreversible
// irreversible              down.sql must be absent; `down` refuses to revert the migration.
// empty-down                down.sql is intentionally empty: `down` only removes the record.
// lock-timeout=DURATION     PostgreSQL lock_timeout for this migration (overrides --lock-timeout).
// statement-timeout=DURATION  PostgreSQL statement_timeout for this migration.
// no-transaction            up.sql and down.sql run statement by statement outside a transaction
//                           (CREATE INDEX CONCURRENTLY and other statements PostgreSQL refuses in a
//                           transaction block, mixed with others; the script's own BEGIN/COMMIT run
//                           as written). A failure leaves the migration recorded as failed.
// lint-allow=RULE           `migrator lint` reports RULE in this file as allowed (repeatable).
// A "-- migrator:lint-allow RULE" line (no blank after the colon) allows RULE for the statement that
// follows it, not the file: the header leaves it to the linter.
// Without irreversible or empty-down, a down.sql with no statement (only blanks and comments) is an error.
struct MigrationOptions {
  bool irreversible = false;
  bool empty_down = false;
  bool no_transaction = false;
  std::optional<int64_t> lock_timeout_ms;
  std::optional<int64_t> statement_timeout_ms;
  std::vector<std::string> lint_allow;
};

// The largest duration accepted anywhere (a day), in milliseconds.
constexpr int64_t kMaxDurationMs = 86400000;

// "<digits>ms", "<digits>s" or "<digits>min" (e.g. 500ms, 5s, 2min) in milliseconds, at most
// kMaxDurationMs; nullopt for anything else.
std::optional<int64_t> parse_duration_ms(std::string_view text);

// The options declared in the header of `up_sql` (read from `path`). Throws
// Error(kInvalidMigrations) "<path>:<line>: unknown migrator option ..." naming the known ones.
MigrationOptions parse_header_options(const std::string& up_sql, const std::string& path);

struct Migration {
  uint64_t version = 0;
  std::string name;
  std::filesystem::path directory;  // as given by the user's --dir, joined with the directory name
  std::string up_sql;
  std::string down_sql;
  std::string verify_sql;  // empty if the migration has no verify.sql
  // A declarative (expand–contract) migration: the text of its migration.yaml, empty otherwise.
  // Then up_sql and down_sql are empty, options.irreversible is set (it is undone with `abort`
  // before `complete`, never with `down`), and checksum is checksum(yaml, "").
  std::string declarative_yaml;
  std::string checksum;  // checksum(up_sql, down_sql)
  MigrationOptions options;

  // The directory name, e.g. "0002_add_email": how messages refer to the migration.
  std::string label() const { return directory.filename().string(); }
  std::filesystem::path up_path() const { return directory / "up.sql"; }
  std::filesystem::path down_path() const { return directory / "down.sql"; }
  std::filesystem::path verify_path() const { return directory / "verify.sql"; }
  std::filesystem::path declarative_path() const { return directory / "migration.yaml"; }
  bool declarative() const { return !declarative_yaml.empty(); }
  // Why `down` (or `redo`) cannot revert it, e.g. "its up.sql declares it irreversible (...)";
  // empty when it can.
  std::string revert_refusal() const;
};

// Lower-case hex SHA-256 of up.sql bytes, one NUL byte, then down.sql bytes.
std::string checksum(std::string_view up_sql, std::string_view down_sql);

// Reads every migration under `dir`, sorted by version.
// Throws Error(kInvalidMigrations) if `dir` is not a readable directory, a subdirectory name is not
// <digits>_<name>, two directories share a version (naming both), a migration.yaml is invalid
// ("<file>:<line>: ...") or sits beside up.sql or down.sql, up.sql is missing, or down.sql is
// missing, present or empty against what the header declares, or verify.sql is present without a
// statement (naming the path). Appends one line per ignored .sql file
// to `warnings` if given, e.g. "ignored migrations/1_init.up.sql: it looks like a golang-migrate migration; ...".
std::vector<Migration> load_migrations(const std::filesystem::path& dir, std::vector<std::string>* warnings = nullptr);

}  // namespace migrator
