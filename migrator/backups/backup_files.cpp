#include "migrator/backups/backup_files.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "migrator/error.h"

extern char** environ;

namespace migrator {
namespace fs = std::filesystem;

std::string utc_now_iso() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

fs::path new_backup_path(const fs::path& directory, const std::string& stem, const std::string& extension) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec)
    throw Error(ExitCode::kBackupFailed,
                "cannot create the backups directory " + directory.string() + ": " + ec.message());
  // To the millisecond: a name is never that of a backup retention removed a moment before (one
  // taken in the same second would otherwise be given it again, and an older backup's name).
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char second[32];
  std::strftime(second, sizeof second, "%Y%m%dT%H%M%S", &tm);
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%s.%03dZ", second, static_cast<int>(millis));
  fs::path path = fs::absolute(directory / (stem + "-" + stamp + extension));
  for (int n = 2; fs::exists(path); ++n) {
    path = fs::absolute(directory / (stem + "-" + stamp + "-" + std::to_string(n) + extension));
  }
  return path;
}

void write_sidecar(const fs::path& file, const std::string& sha256) {
  std::ofstream out(file.string() + ".sha256", std::ios::trunc);
  out << sha256 << "  " << file.filename().string() << "\n";
  if (!out) throw Error(ExitCode::kBackupFailed, "cannot write " + file.string() + ".sha256");
}

std::optional<std::string> read_sidecar(const fs::path& file) {
  std::ifstream in(file.string() + ".sha256");
  std::string hash;
  if (!(in >> hash) || hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return std::nullopt;
  }
  return hash;
}

bool remove_backup_files(const fs::path& file) {
  std::error_code ec;
  fs::remove(file.string() + ".sha256", ec);
  return fs::remove(file, ec) && !ec;
}

int run_program(const std::string& program, const std::vector<std::string>& args, std::string* errors,
                int nice_increment) {
  char errors_path[] = "/tmp/migrator_stderr_XXXXXX";
  int errors_fd = mkstemp(errors_path);
  if (errors_fd < 0) {
    *errors = "cannot create a temporary file";
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, errors_fd, 2);
  std::vector<std::string> storage = {program};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  int spawned = posix_spawnp(&pid, program.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  close(errors_fd);
  int status = -1;
  if (spawned == 0) {
    if (nice_increment > 0) {  // best effort: a failure leaves it at the migrator's own priority
      errno = 0;
      int own = getpriority(PRIO_PROCESS, 0);
      if (errno == 0) setpriority(PRIO_PROCESS, static_cast<id_t>(pid), std::min(own + nice_increment, 19));
    }
    int raw = 0;
    while (waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
    }
    status = WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : -1;
  }
  std::ifstream in(errors_path);
  std::ostringstream text;
  text << in.rdbuf();
  unlink(errors_path);
  *errors = spawned == 0 ? text.str() : "cannot run " + program + ": " + std::strerror(spawned);
  while (!errors->empty() && errors->back() == '\n') errors->pop_back();
  return status;
}

BackupRecord check_backup_file(const fs::path& file, const std::vector<BackupRecord>& recorded,
                               const std::string& table) {
  if (!fs::is_regular_file(file)) {
    throw Error(ExitCode::kBackupFailed, "restore: no such file " + file.string() + "; nothing was changed");
  }
  for (const BackupRecord& candidate : recorded) {
    if (candidate.file != file.string()) continue;
    std::string actual = sha256_of_file(file);
    if (actual != candidate.sha256) {
      throw Error(ExitCode::kBackupFailed, "restore: " + file.string() + " has SHA-256 " + actual + " but " + table +
                                               " records " + candidate.sha256 +
                                               ": the file changed since the backup; nothing was changed");
    }
    return candidate;
  }
  std::optional<std::string> sidecar = read_sidecar(file);
  if (!sidecar) {
    throw Error(ExitCode::kBackupFailed, "restore: " + file.string() +
                                             " is not a recorded backup and has no readable " + file.string() +
                                             ".sha256 beside it; nothing was changed");
  }
  std::string actual = sha256_of_file(file);
  if (actual != *sidecar) {
    throw Error(ExitCode::kBackupFailed, "restore: " + file.string() + " has SHA-256 " + actual + " but " +
                                             file.string() + ".sha256 records " + *sidecar +
                                             ": the file changed since the backup; nothing was changed");
  }
  BackupRecord record;
  record.file = file.string();
  record.sha256 = actual;
  record.size = static_cast<int64_t>(fs::file_size(file));
  return record;
}

std::string pg_program(const std::string& bindir, const std::string& name) {
  if (!bindir.empty()) return (fs::path(bindir) / name).string();
  const char* env = std::getenv("PG_BINDIR");
  if (env != nullptr && *env != '\0') return (fs::path(env) / name).string();
  return name;
}

}  // namespace migrator
