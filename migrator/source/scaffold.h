// Writing new migrations: `migrator init` and `migrator new NAME`.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace migrator {

// Creates `dir` (with parents) holding one example migration, 0001_create_example/{up,down}.sql,
// and returns the files written. Throws Error(kInvalidMigrations) if `dir` exists and is not an
// empty directory; nothing is written then.
std::vector<std::filesystem::path> init_directory(const std::filesystem::path& dir);

// Creates <dir>/<version>_<name>/{up,down}.sql with comments to replace, and returns the new
// directory. The version is one more than the highest on disk, zero-padded to the width of the
// widest existing version (0001 in an empty directory); with a non-empty `timestamp` (UTC,
// YYYYMMDDHHMMSS) it is that timestamp. Only directory names are read (the previous scaffold may still
// be unwritten). Throws Error(kUsage) if `name` is not letters, digits, '_' and '-',
// Error(kInvalidMigrations) if `dir` is not a directory or the timestamp is not above every version on
// disk (a new migration must sort last).
std::filesystem::path new_migration(const std::filesystem::path& dir, const std::string& name,
                                    const std::string& timestamp);

// The current UTC time as YYYYMMDDHHMMSS.
std::string utc_timestamp();

}  // namespace migrator
