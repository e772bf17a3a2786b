#include "migrator/source/scaffold.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <system_error>

#include "migrator/error.h"

namespace migrator {
namespace fs = std::filesystem;

namespace {

void write_new_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw Error(ExitCode::kInvalidMigrations, "cannot write " + path.string());
}

}  // namespace

std::vector<fs::path> init_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec))) {
    throw Error(ExitCode::kInvalidMigrations,
                dir.string() + " already exists and is not an empty directory; nothing was created");
  }
  fs::path example = dir / "0001_create_example";
  fs::create_directories(example, ec);
  if (ec) throw Error(ExitCode::kInvalidMigrations, "cannot create " + example.string() + ": " + ec.message());
  write_new_file(example / "up.sql",
                 "-- An example migration: replace it with your first one. Each migration runs in its own\n"
                 "-- transaction. Header options go in comment lines here, e.g. -- migrator: lock-timeout=2s\n"
                 "CREATE TABLE example (\n"
                 "  id bigint PRIMARY KEY,\n"
                 "  name text NOT NULL\n"
                 ");\n");
  write_new_file(example / "down.sql", "DROP TABLE example;\n");
  return {example / "up.sql", example / "down.sql"};
}

std::string utc_timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &utc);
  return text;
}

fs::path new_migration(const fs::path& dir, const std::string& name, const std::string& timestamp) {
  bool valid = !name.empty();
  for (char c : name) valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  if (!valid) {
    throw Error(ExitCode::kUsage, "new: NAME must be letters, digits, '_' and '-', e.g. add_users_email; got '" + name +
                                      "' (see migrator --help)");
  }
  // Only the directory names are read: the migration scaffolded last may still be unwritten.
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(ExitCode::kInvalidMigrations,
                "migrations directory " + dir.string() + " does not exist (migrator init creates it)");
  }
  uint64_t highest = 0;
  std::string highest_label;
  size_t width = 4;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    std::string label = entry.path().filename().string();
    size_t digits = label.find_first_not_of("0123456789");
    if (!entry.is_directory(ec) || digits == 0 || digits == std::string::npos || label[digits] != '_' || digits > 18) {
      continue;
    }
    uint64_t version = std::stoull(label.substr(0, digits));
    width = std::max(width, digits);
    if (version >= highest) {
      highest = version;
      highest_label = label;
    }
  }
  std::string version;
  if (!timestamp.empty()) {
    if (std::stoull(timestamp) <= highest) {
      throw Error(ExitCode::kInvalidMigrations, "timestamp version " + timestamp +
                                                    " is not above the highest version " + highest_label +
                                                    " on disk; a new migration must sort last");
    }
    version = timestamp;
  } else {
    version = std::to_string(highest + 1);
    if (version.size() < width) version.insert(0, width - version.size(), '0');
  }
  fs::path directory = dir / (version + "_" + name);
  fs::create_directory(directory, ec);
  if (ec) throw Error(ExitCode::kInvalidMigrations, "cannot create " + directory.string() + ": " + ec.message());
  write_new_file(directory / "up.sql", "-- " + name + ": write the migration here.\n");
  write_new_file(directory / "down.sql",
                 "-- Write the SQL that reverts up.sql here, or delete this file and declare\n"
                 "-- '-- migrator: irreversible' at the top of up.sql.\n");
  return directory;
}

}  // namespace migrator
