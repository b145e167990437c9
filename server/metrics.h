#ifndef FERRY_SERVER_METRICS_H_
#define FERRY_SERVER_METRICS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kernels/executor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/collective_stats.h"
#include "server/graph_cache.h"
#include "server/metrics_http.h"
#include "server/session_manager.h"

namespace ferry::server {

// The canonical upper-case name of a gRPC status code ("NOT_FOUND").
const char* StatusCodeName(grpc::StatusCode code);

// ferryd's Prometheus metrics. Per-call figures (requests by method and status code, bytes in
// and out, Execute latency) are recorded as calls end; figures of the daemon's state
// (sessions, resident bytes, device memory, graph cache) are read from the session manager
// and executor at each scrape, so they are never stale. Thread-safe.
class Metrics {
 public:
  // The first three must outlive the Metrics.
  Metrics(SessionManager& sessions, kernels::Executor& executor, const GraphCache& graphs,
          std::shared_ptr<const CollectiveStats> collectives);
  ~Metrics();

  // Records one finished call of `method` ("/ferry.v1.Ferry/Execute").
  void RecordCall(absl::string_view method, grpc::StatusCode code, absl::Duration latency,
                  int64_t bytes_received, int64_t bytes_sent);

  // Records one execute run as a Pipeline step.
  void RecordExecute(absl::Duration latency);

  // Serves GET /metrics over HTTP on `address` ("0.0.0.0:9464"). UNAVAILABLE when it
  // cannot listen there.
  absl::Status Serve(const std::string& address);

  // The Prometheus text exposition of every metric: what a scrape returns.
  std::string Render();

 private:
  class State;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<State> state_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& bytes_received_;
  prometheus::Family<prometheus::Counter>& bytes_sent_;
  prometheus::Histogram& execute_seconds_;
  std::unique_ptr<MetricsHttpServer> http_;  // last: stops before the rest goes
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_METRICS_H_
