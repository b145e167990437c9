#ifndef FERRY_TESTS_FUZZ_DAEMON_STATE_H_
#define FERRY_TESTS_FUZZ_DAEMON_STATE_H_

// One ferryd's worth of state for the fuzz targets of its RPCs, in process: the CPU backend
// with a small budget, the executor, sessions, graph cache and options, logging quiet.

#include <memory>
#include <string>

#include "kernels/backend.h"
#include "kernels/executor.h"
#include "server/graph_cache.h"
#include "server/server_options.h"
#include "server/session_manager.h"

namespace ferry::fuzz {

struct DaemonState {
  DaemonState();

  // Closes the session and checks (Check) that the backend has every byte back.
  void CloseAndCheckFreed(const std::string& session_id);

  std::unique_ptr<kernels::Backend> backend;
  kernels::Executor executor;
  server::SessionManager sessions;
  server::GraphCache graphs;
  server::ServerOptions options;
};

// The process's one, made on first use.
DaemonState& Daemon();

}  // namespace ferry::fuzz

#endif  // FERRY_TESTS_FUZZ_DAEMON_STATE_H_
