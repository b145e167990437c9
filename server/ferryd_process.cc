#include "server/ferryd_process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ferry::server {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(20);
constexpr char kRunfilesPath[] = "ferry/server/ferryd";

bool IsFile(const std::string& path) {
  struct stat info;
  return !path.empty() && stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool IsExecutable(const std::string& path) {
  return IsFile(path) && access(path.c_str(), X_OK) == 0;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status));
  return "stopped";
}

int ShellStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The port in `path` once the daemon has renamed it into place, or 0.
int ReadPort(const std::string& path) {
  std::ifstream in(path);
  if (!in) return 0;
  std::stringstream text;
  text << in.rdbuf();
  int port = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text.str()), &port)) return 0;
  return port;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FerrydProcess>> FerrydProcess::Start(
    const std::string& ferryd_path, std::vector<std::string> extra_flags) {
  if (!IsExecutable(ferryd_path)) {
    return absl::FailedPreconditionError(absl::StrCat("no ferryd binary at \"", ferryd_path, "\""));
  }
  const char* tmp = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/ferryd.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", strerror(errno)));
  }
  const std::string port_file = pattern + "/port";

  std::vector<std::string> args = {ferryd_path, "--listen=127.0.0.1:0", "--port_file=" + port_file};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // The child must not inherit a blocked SIGTERM from a test's threads.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  std::unique_ptr<FerrydProcess> process(new FerrydProcess(pid, pattern));
  absl::Time deadline = absl::Now() + kStartTimeout;
  while (true) {
    if (int port = ReadPort(port_file); port > 0) {
      process->port_ = port;
      process->address_ = absl::StrCat("127.0.0.1:", port);
      return process;
    }
    if (process->Reap(/*block=*/false)) {
      return absl::FailedPreconditionError(
          absl::StrCat(ferryd_path, " ", DescribeExit(process->exit_status_), " before serving"));
    }
    if (absl::Now() > deadline) {
      process->Stop(5);
      return absl::DeadlineExceededError(absl::StrCat(
          ferryd_path, " did not report its port within ", absl::FormatDuration(kStartTimeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

FerrydProcess::~FerrydProcess() {
  if (!exited_) Stop(10);
  std::remove((temp_dir_ + "/port").c_str());
  rmdir(temp_dir_.c_str());
}

bool FerrydProcess::Reap(bool block) {
  if (exited_) return true;
  int status = 0;
  pid_t done;
  do {
    done = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done == pid_) {
    exited_ = true;
    exit_status_ = status;
  } else if (done < 0) {
    exited_ = true;  // not our child any more: nothing left to wait for
    exit_status_ = 0;
  }
  return exited_;
}

bool FerrydProcess::Running() { return !Reap(/*block=*/false); }

void FerrydProcess::Signal(int signal) {
  if (!Reap(/*block=*/false)) kill(pid_, signal);
}

int FerrydProcess::Wait(int timeout_seconds) {
  absl::Time deadline = absl::Now() + absl::Seconds(timeout_seconds);
  while (!Reap(/*block=*/false)) {
    if (absl::Now() >= deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return ShellStatus(exit_status_);
}

int FerrydProcess::Stop(int timeout_seconds) {
  if (!Reap(/*block=*/false)) {
    kill(pid_, SIGTERM);
    if (Wait(timeout_seconds) < 0) {
      kill(pid_, SIGKILL);
      Reap(/*block=*/true);
    }
  }
  return ShellStatus(exit_status_);
}

std::string FindRunfile(const char* argv0, const std::string& path) {
  std::vector<std::string> candidates;
  for (const char* variable : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const char* dir = getenv(variable);
    if (dir != nullptr && *dir != '\0') candidates.push_back(absl::StrCat(dir, "/", path));
  }
  if (argv0 != nullptr && *argv0 != '\0') {
    candidates.push_back(absl::StrCat(argv0, ".runfiles/", path));
  }
  for (const std::string& candidate : candidates) {
    if (IsFile(candidate)) return candidate;
  }
  return "";
}

std::string FindFerryd(const char* argv0) {
  if (std::string found = FindRunfile(argv0, kRunfilesPath); !found.empty()) return found;
  if (argv0 == nullptr || *argv0 == '\0') return "";
  const std::string self = argv0;
  const size_t slash = self.rfind('/');
  const std::string beside =
      (slash == std::string::npos ? "." : self.substr(0, slash)) + "/../server/ferryd";
  return IsExecutable(beside) ? beside : "";
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool found = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  return found ? ntohs(address.sin_port) : 0;
}

}  // namespace ferry::server
