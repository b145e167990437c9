#include "tests/fuzz/daemon_state.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "kernels/cpu/cpu_backend.h"
#include "server/log.h"
#include "tests/fuzz/fuzz_target.h"

namespace ferry::fuzz {

DaemonState::DaemonState()
    : backend(kernels::MakeCpuBackend(int64_t{64} << 20)),
      executor(*backend, 64),
      sessions(absl::Hours(1)),
      graphs(64) {
  // Protobuf logs strings of invalid UTF-8 it parses, ferryd each session it closes.
  google::protobuf::SetLogHandler(nullptr);
  server::SetLogLevel(server::LogLevel::kError);
}

void DaemonState::CloseAndCheckFreed(const std::string& session_id) {
  Check(sessions.Close(session_id).ok(), "the session closes");
  const int64_t in_use = backend->budget().in_use();
  Check(in_use == 0, absl::StrCat(in_use, " bytes still taken after the session closed"));
}

DaemonState& Daemon() {
  static DaemonState* daemon = new DaemonState;
  return *daemon;
}

}  // namespace ferry::fuzz
