#include "migrator/test_support.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace migrator_test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "migrator_test_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void MigrationsDir::add(const std::string& dirname, const std::string& up_sql, const std::string& down_sql) {
  write_file(path() / dirname / "up.sql", up_sql);
  write_file(path() / dirname / "down.sql", down_sql);
}

void MigrationsDir::remove(const std::string& dirname) { fs::remove_all(path() / dirname); }

namespace {

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

CommandResult run_command(const std::string& program, const std::vector<std::string>& args) {
  TempDir capture;
  std::string command = "env -u DATABASE_URL " + shell_quote(program);
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  command +=
      " >" + shell_quote((capture.path() / "out").string()) + " 2>" + shell_quote((capture.path() / "err").string());
  int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_all(capture.path() / "out");
  result.err = read_all(capture.path() / "err");
  return result;
}

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args) {
  std::string out = (capture_.path() / "out").string();
  std::string err = (capture_.path() / "err").string();
  std::vector<std::string> argv_storage = {program};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out_fd < 0 || err_fd < 0) _exit(127);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    unsetenv("DATABASE_URL");
    execv(program.c_str(), argv.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::send(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

CommandResult ChildProcess::wait() {
  CommandResult result;
  int status = 0;
  if (pid_ > 0 && waitpid(pid_, &status, 0) == pid_) {
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  }
  pid_ = -1;
  result.out = read_all(capture_.path() / "out");
  result.err = read_all(capture_.path() / "err");
  return result;
}

std::string ChildProcess::out_so_far() const { return read_all(capture_.path() / "out"); }

std::string unique_test_name(const std::string& prefix) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string full = info == nullptr ? "none" : std::string(info->test_suite_name()) + "." + info->name();
  uint32_t hash = 2166136261u;  // FNV-1a, so truncated names stay distinct
  for (char c : full) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  std::ostringstream name;
  name << prefix << "_" << getpid() << "_" << std::hex << hash << "_";
  std::string result = name.str();
  for (char c : full) {
    unsigned char u = static_cast<unsigned char>(c);
    result += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_';
  }
  return result.substr(0, 63);
}

}  // namespace migrator_test
