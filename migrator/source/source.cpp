#include "migrator/source/source.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>

#include "migrator/error.h"
#include "migrator/expand/declarative.h"
#include "migrator/lint/lint.h"
#include "migrator/source/sql_script.h"

namespace migrator {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void invalid(const std::string& message) { throw Error(ExitCode::kInvalidMigrations, message); }

struct DirectoryName {
  uint64_t version;
  std::string name;
};

// Splits "<digits>_<name>"; nullopt if the directory name does not have that shape.
std::optional<DirectoryName> parse_directory_name(const std::string& dirname) {
  size_t digits = 0;
  while (digits < dirname.size() && std::isdigit(static_cast<unsigned char>(dirname[digits]))) ++digits;
  if (digits == 0 || digits + 1 >= dirname.size() || dirname[digits] != '_') return std::nullopt;
  std::string name = dirname.substr(digits + 1);
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return std::nullopt;
  }
  uint64_t version = 0;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  for (size_t i = 0; i < digits; ++i) {
    uint64_t digit = static_cast<uint64_t>(dirname[i] - '0');
    if (version > (kMax - digit) / 10) {
      invalid("migration directory " + dirname + ": version is larger than " + std::to_string(kMax));
    }
    version = version * 10 + digit;
  }
  return DirectoryName{version, std::move(name)};
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Which other tool's layout a plain .sql file in the migrations directory resembles, as a phrase.
std::string resembled_layout(const std::string& filename) {
  size_t digits = 0;
  while (digits < filename.size() && std::isdigit(static_cast<unsigned char>(filename[digits]))) ++digits;
  bool versioned = digits > 0 && digits < filename.size() && filename[digits] == '_';
  if (versioned && (ends_with(filename, ".up.sql") || ends_with(filename, ".down.sql"))) {
    return "a golang-migrate migration (<version>_<name>.up.sql and .down.sql)";
  }
  if (versioned) return "a dbmate migration (<version>_<name>.sql with -- migrate:up and -- migrate:down)";
  if (filename.size() > 1 && (filename[0] == 'V' || filename[0] == 'U') &&
      std::isdigit(static_cast<unsigned char>(filename[1])) && filename.find("__") != std::string::npos) {
    return "a Flyway migration (V<version>__<name>.sql)";
  }
  return "a migration file outside a migration directory";
}

// Whether `path` names anything (as std::filesystem::exists, without building a path).
bool path_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// The whole file in one read() of the size fstat() gives: POSIX calls, no stream set-up per file.
std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat info {};
  if (fd < 0 || ::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) invalid("missing migration file " + path);
    invalid("cannot read migration file " + path);
  }
  std::string content(static_cast<size_t>(info.st_size), '\0');
  size_t filled = 0;
  while (filled < content.size()) {
    ssize_t n = ::read(fd, content.data() + filled, content.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      invalid("cannot read migration file " + path);
    }
    if (n == 0) break;  // the file shrank since fstat
    filled += static_cast<size_t>(n);
  }
  ::close(fd);
  content.resize(filled);
  return content;
}

}  // namespace

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string_view unit = text.substr(digits);
  int64_t scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "min" ? 60000 : 0;
  if (digits == 0 || digits > 9 || scale == 0) return std::nullopt;
  int64_t value = std::stoll(std::string(text.substr(0, digits))) * scale;
  if (value > kMaxDurationMs) return std::nullopt;
  return value;
}

MigrationOptions parse_header_options(const std::string& up_sql, const std::string& path) {
  MigrationOptions options;
  const std::string marker = "migrator:";
  size_t begin = 0;
  int line = 0;
  while (begin < up_sql.size()) {
    ++line;
    size_t end = std::min(up_sql.find('\n', begin), up_sql.size());
    std::string text = up_sql.substr(begin, end - begin);
    begin = end + 1;
    size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    if (text.compare(first, 2, "--") != 0) break;  // the header ends at the first non-comment line
    size_t content = text.find_first_not_of(" \t", first + 2);
    if (content == std::string::npos || text.compare(content, marker.size(), marker) != 0) continue;
    size_t after = content + marker.size();
    bool statement_allow = text.compare(after, 10, "lint-allow") == 0 &&
                           (after + 10 == text.size() || std::isspace(static_cast<unsigned char>(text[after + 10])));
    if (statement_allow) continue;  // a statement's lint-allow comment, for the linter
    std::stringstream list(text.substr(content + marker.size()));
    std::string option;
    while (std::getline(list, option, ',')) {
      size_t a = option.find_first_not_of(" \t\r");
      size_t b = option.find_last_not_of(" \t\r");
      option = a == std::string::npos ? "" : option.substr(a, b - a + 1);
      std::string where = path + ":" + std::to_string(line) + ": ";
      size_t equals = option.find('=');
      std::string key = option.substr(0, equals);
      if (key == "lock-timeout" || key == "statement-timeout") {
        std::optional<int64_t> ms =
            equals == std::string::npos ? std::nullopt : parse_duration_ms(std::string_view(option).substr(equals + 1));
        if (!ms) {
          invalid(where + key + " expects a duration such as " + key + "=500ms, =5s or =2min, at most a day; got '" +
                  option + "'");
        }
        (key == "lock-timeout" ? options.lock_timeout_ms : options.statement_timeout_ms) = ms;
      } else if (key == "lint-allow") {
        std::string rule = equals == std::string::npos ? "" : option.substr(equals + 1);
        if (!is_lint_rule(rule)) {
          invalid(where + "lint-allow expects a lint rule (`migrator lint --rules` lists them), got '" + rule + "'");
        }
        options.lint_allow.push_back(rule);
      } else if (option == "irreversible") {
        options.irreversible = true;
      } else if (option == "empty-down") {
        options.empty_down = true;
      } else if (option == "no-transaction") {
        options.no_transaction = true;
      } else {
        invalid(where + "unknown migrator option '" + option +
                "'; known options: irreversible, empty-down, no-transaction, lock-timeout=DURATION, "
                "statement-timeout=DURATION, lint-allow=RULE");
      }
    }
  }
  if (options.irreversible && options.empty_down) {
    invalid(path + ": declare either irreversible or empty-down, not both");
  }
  return options;
}

std::string Migration::revert_refusal() const {
  if (declarative()) {
    return "it is a declarative migration, and its contract dropped what the old version used; `migrator abort` "
           "undoes one only before `complete`, and a new migration undoes it after";
  }
  if (options.irreversible) return "its up.sql declares it irreversible ('-- migrator: irreversible')";
  return "";
}

std::string checksum(std::string_view up_sql, std::string_view down_sql) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const char separator = '\0';
  // Fetched once: EVP_sha256() would make OpenSSL 3 look the implementation up again on every call.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  bool ok = ctx != nullptr && sha256 != nullptr && EVP_DigestInit_ex(ctx, sha256, nullptr) == 1 &&
            EVP_DigestUpdate(ctx, up_sql.data(), up_sql.size()) == 1 && EVP_DigestUpdate(ctx, &separator, 1) == 1 &&
            EVP_DigestUpdate(ctx, down_sql.data(), down_sql.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &length) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("SHA-256 computation failed (OpenSSL)");
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

std::vector<Migration> load_migrations(const fs::path& dir, std::vector<std::string>* warnings) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) invalid("migrations directory " + dir.string() + " does not exist");
  if (!fs::is_directory(dir, ec)) invalid("migrations directory " + dir.string() + " is not a directory");
  fs::directory_iterator entries(dir, ec);
  if (ec) invalid("cannot read migrations directory " + dir.string() + ": " + ec.message());

  // Directory names sorted first, so errors are reported in a stable order.
  std::vector<std::string> subdirectories;
  std::vector<std::string> sql_files;
  for (const fs::directory_entry& entry : entries) {
    std::string filename = entry.path().filename().string();
    if (entry.is_directory(ec)) {
      subdirectories.push_back(filename);
    } else if (ends_with(filename, ".sql")) {
      sql_files.push_back(filename);
    }
  }
  std::sort(subdirectories.begin(), subdirectories.end());
  std::sort(sql_files.begin(), sql_files.end());
  for (const std::string& filename : sql_files) {
    if (warnings == nullptr) break;
    warnings->push_back("ignored " + (dir / filename).string() + ": it looks like " + resembled_layout(filename) +
                        "; migrator reads " + (dir / "<version>_<name>").string() + "/up.sql and down.sql");
  }

  std::map<uint64_t, Migration> by_version;
  for (const std::string& dirname : subdirectories) {
    std::optional<DirectoryName> parsed = parse_directory_name(dirname);
    if (!parsed) {
      invalid("invalid migration directory " + (dir / dirname).string() +
              ": expected <version>_<name>, e.g. 0001_create_users (name: letters, digits, _ and -)");
    }
    auto existing = by_version.find(parsed->version);
    if (existing != by_version.end()) {
      invalid("duplicate migration version " + std::to_string(parsed->version) + ": " +
              existing->second.directory.string() + " and " + (dir / dirname).string());
    }
    Migration migration;
    migration.version = parsed->version;
    migration.name = std::move(parsed->name);
    migration.directory = dir / dirname;
    if (path_exists(migration.directory.string() + "/migration.yaml")) {
      for (const fs::path& other : {migration.up_path(), migration.down_path(), migration.verify_path()}) {
        if (fs::exists(other, ec)) {
          invalid(other.string() +
                  ": a migration is either declarative (migration.yaml) or SQL (up.sql and "
                  "down.sql), not both; remove one");
        }
      }
      migration.declarative_yaml = read_file(migration.declarative_path().string());
      if (migration.declarative_yaml.empty()) invalid(migration.declarative_path().string() + ":1: the file is empty");
      expand::parse_declarative(migration.declarative_yaml, migration.declarative_path().string());
      migration.options.irreversible = true;
      migration.checksum = checksum(migration.declarative_yaml, "");
      by_version.emplace(migration.version, std::move(migration));
      continue;
    }
    // The paths as text, joined as Migration::up_path() and the others join them: a std::filesystem::path
    // would split each one into components again.
    const std::string base = migration.directory.string() + "/";
    const std::string up = base + "up.sql";
    const std::string down = base + "down.sql";
    const std::string verify = base + "verify.sql";
    migration.up_sql = read_file(up);
    migration.options = parse_header_options(migration.up_sql, up);
    if (migration.options.irreversible) {
      if (path_exists(down)) {
        invalid(down + ": the migration is declared irreversible in its up.sql, so it must have no down.sql");
      }
    } else {
      migration.down_sql = read_file(down);
      bool empty =
          skip_blank_and_comments(migration.down_sql, 0, /*nested_block_comments=*/true) == migration.down_sql.size();
      if (empty && !migration.options.empty_down) {
        invalid(down +
                ": down.sql has no statement; write the SQL that reverts up.sql, or declare in up.sql's "
                "header '-- migrator: irreversible' (down refuses) or '-- migrator: empty-down' (down only "
                "removes the record)");
      }
      if (!empty && migration.options.empty_down) {
        invalid(down + ": the migration declares empty-down in its up.sql, but down.sql has statements");
      }
    }
    if (path_exists(verify)) {
      migration.verify_sql = read_file(verify);
      if (skip_blank_and_comments(migration.verify_sql, 0, /*nested_block_comments=*/true) ==
          migration.verify_sql.size()) {
        invalid(verify +
                ": verify.sql has no statement; write a query that must succeed once the migration is applied, "
                "or delete the file");
      }
    }
    migration.checksum = checksum(migration.up_sql, migration.down_sql);
    by_version.emplace(migration.version, std::move(migration));
  }

  std::vector<Migration> migrations;
  migrations.reserve(by_version.size());
  for (auto& [version, migration] : by_version) migrations.push_back(std::move(migration));
  return migrations;
}

}  // namespace migrator
