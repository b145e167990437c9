#include "examples/local_ferryd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace ferry::examples {

std::unique_ptr<server::FerrydProcess> StartLocalFerryd(const char* argv0, const char* program,
                                                        std::string* log_path) {
  const std::string ferryd = server::FindFerryd(argv0);
  if (ferryd.empty()) {
    std::fprintf(stderr, "%s: cannot find ferryd in the runfiles; use --remote\n", program);
    return nullptr;
  }
  *log_path = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + std::string("/ferry-") +
              program + "-ferryd.log";
  const int log = open(log_path->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int saved_stderr = dup(STDERR_FILENO);
  if (log >= 0) dup2(log, STDERR_FILENO);  // the child inherits it
  auto daemon = server::FerrydProcess::Start(ferryd);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  if (log >= 0) close(log);
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s: %s (log: %s)\n", program,
                 std::string(daemon.status().message()).c_str(), log_path->c_str());
    return nullptr;
  }
  return *std::move(daemon);
}

std::string RemoteOrLocalFerryd(const char* argv0, const char* program, const std::string& remote,
                                std::unique_ptr<server::FerrydProcess>* daemon) {
  if (!remote.empty()) return remote;
  std::string log_path;
  *daemon = StartLocalFerryd(argv0, program, &log_path);
  if (*daemon == nullptr) return "";
  std::printf("  daemon   ferryd on %s (log: %s)\n", (*daemon)->address().c_str(),
              log_path.c_str());
  return (*daemon)->address();
}

}  // namespace ferry::examples
