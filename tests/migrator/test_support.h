// Helpers shared by the migrator tests: temporary migration directories and running the binary.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace migrator_test {

// A fresh directory under $TMPDIR (mkdtemp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `content` to `path`, creating parent directories.
void write_file(const std::filesystem::path& path, const std::string& content);

// A migrations directory being written by a test.
class MigrationsDir {
 public:
  const std::filesystem::path& path() const { return dir_.path(); }
  // Creates <dir>/<dirname>/up.sql and down.sql.
  void add(const std::string& dirname, const std::string& up_sql, const std::string& down_sql);
  void remove(const std::string& dirname);

 private:
  TempDir dir_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// `program args...` running in the background (DATABASE_URL removed from its environment), its stdout
// and stderr captured to files.
class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& args);
  ~ChildProcess();  // kills the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  void send(int signal);
  // Waits for the child to exit; exit_code is 128 + the signal if a signal ended it.
  CommandResult wait();
  // What the child has written to stdout so far.
  std::string out_so_far() const;

 private:
  TempDir capture_;
  int pid_ = -1;
};

// Runs `program args...` through /bin/sh with DATABASE_URL removed from its environment, capturing
// stdout, stderr and the exit code.
CommandResult run_command(const std::string& program, const std::vector<std::string>& args);

// A name for the running test that is unique across processes: pid + test name, lower case,
// [a-z0-9_] only, at most 63 characters (a PostgreSQL identifier).
std::string unique_test_name(const std::string& prefix);

}  // namespace migrator_test
