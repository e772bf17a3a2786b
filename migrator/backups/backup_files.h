// The file side of backups, shared by the PostgreSQL and SQLite implementations: names, sidecar
// hashes, removal, and running pg_dump / pg_restore.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "migrator/backups/backups.h"

namespace migrator {

// <directory>/<stem>-<YYYYMMDDTHHMMSSZ>[-N]<extension>, a path that does not exist yet; creates
// `directory`. Throws Error(kBackupFailed) if it cannot be created.
std::filesystem::path new_backup_path(const std::filesystem::path& directory, const std::string& stem,
                                      const std::string& extension);

// Writes "<sha256>  <file name>\n" to "<file>.sha256" (the format `sha256sum -c` reads).
void write_sidecar(const std::filesystem::path& file, const std::string& sha256);
// The hash in "<file>.sha256", if that exists and holds one.
std::optional<std::string> read_sidecar(const std::filesystem::path& file);
// Removes the file and its sidecar; false if the file could not be removed (it may be gone).
bool remove_backup_files(const std::filesystem::path& file);

// Runs `program` with `args` (no shell, found on PATH if it has no '/'), its stdout to /dev/null and
// with no signal blocked (the migrator blocks SIGINT/SIGTERM for its watcher thread; a Ctrl-C must
// still reach pg_dump). Returns its exit status (-1 if it could not start, 128+N if signal N ended
// it) and its stderr in `*errors`. A `nice_increment` above 0 lowers the program's CPU priority by
// that much (set right after it starts), so a long pg_dump yields the CPU to the application's
// sessions when the migrator runs on the database's host.
int run_program(const std::string& program, const std::vector<std::string>& args, std::string* errors,
                int nice_increment = 0);

// `name` (pg_dump, pg_restore) in `bindir`, else in $PG_BINDIR, else just `name` for a PATH search.
std::string pg_program(const std::string& bindir, const std::string& name);

// The record `file` (absolute) is checked against: its entry in `recorded` (from the table named
// `table`), else its sidecar. Throws Error(kBackupFailed) "...; nothing was changed" if the file is
// missing, no hash is known, or the file's SHA-256 differs.
BackupRecord check_backup_file(const std::filesystem::path& file, const std::vector<BackupRecord>& recorded,
                               const std::string& table);

// Now as ISO-8601 UTC, e.g. 2024-01-01T12:00:00Z.
std::string utc_now_iso();

}  // namespace migrator
