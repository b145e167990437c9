#ifndef FERRY_SERVER_FERRYD_PROCESS_H_
#define FERRY_SERVER_FERRYD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::server {

// A ferryd child process on a free loopback port, for tests, examples and benchmarks.
// Its stderr is this process's stderr, so its log lines land in the test log.
class FerrydProcess {
 public:
  // Runs `ferryd_path --listen=127.0.0.1:0 --port_file=<tmp> <extra_flags...>` and waits
  // up to 20 s for it to serve. FAILED_PRECONDITION when the binary is missing or exits
  // early (with its exit status), DEADLINE_EXCEEDED when it never reports its port.
  static absl::StatusOr<std::unique_ptr<FerrydProcess>> Start(
      const std::string& ferryd_path, std::vector<std::string> extra_flags = {});

  ~FerrydProcess();  // Stop()s it if it still runs
  FerrydProcess(const FerrydProcess&) = delete;
  FerrydProcess& operator=(const FerrydProcess&) = delete;

  // "127.0.0.1:PORT".
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Whether the process has not exited yet.
  bool Running();

  // Sends SIGTERM and waits for the exit (SIGKILL after `timeout_seconds`). Returns the
  // exit status, 128 + N when killed by signal N (as shells report it), or the status
  // already collected when it had exited.
  int Stop(int timeout_seconds = 60);

  // Sends `signal` without waiting.
  void Signal(int signal);

  // Waits up to `timeout_seconds` for the process to exit by itself; returns its status as
  // Stop() does, or -1 if it still runs.
  int Wait(int timeout_seconds);

 private:
  FerrydProcess(pid_t pid, std::string temp_dir) : pid_(pid), temp_dir_(std::move(temp_dir)) {}
  // Collects the exit status if the child exited; returns whether it has.
  bool Reap(bool block);

  pid_t pid_;
  std::string temp_dir_;
  std::string address_;
  int port_ = 0;
  bool exited_ = false;
  int exit_status_ = 0;
};

// The file `path` ("ferry/tests/make_test_certs.sh", a model's tokenizer.json) in this
// program's Bazel runfiles: under $RUNFILES_DIR, then $TEST_SRCDIR, then `argv0`.runfiles.
// "" when none exists. `argv0` may be null.
std::string FindRunfile(const char* argv0, const std::string& path);

// The ferryd binary: FindRunfile(argv0, "ferry/server/ferryd"), else beside a bazel-bin
// tree (dirname(argv0)/../server/ferryd). "" when none exists.
std::string FindFerryd(const char* argv0);

// A loopback port free now (the kernel's pick for port 0, released again), for a flag that
// needs a port before ferryd starts (--bulk_port, --metrics_port). 0 when none is found.
int FreeLoopbackPort();

}  // namespace ferry::server

#endif  // FERRY_SERVER_FERRYD_PROCESS_H_
