#include "server/metrics.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace ferry::server {
namespace {

// Execute latencies, 100 us to 1 min: a cached decode step up to a large training step.
const prometheus::Histogram::BucketBoundaries kExecuteBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};

}  // namespace

const char* StatusCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

namespace {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                std::vector<prometheus::ClientMetric> metrics) {
  return prometheus::MetricFamily{std::move(name), std::move(help), type, std::move(metrics)};
}

prometheus::ClientMetric Gauge(double value,
                               std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

prometheus::ClientMetric Counter(double value,
                                 std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  return metric;
}

}  // namespace

// The daemon's state, read at scrape time.
class Metrics::State : public prometheus::Collectable {
 public:
  State(SessionManager& sessions, kernels::Executor& executor, const GraphCache& graphs,
        std::shared_ptr<const CollectiveStats> collectives)
      : sessions_(sessions),
        executor_(executor),
        graphs_(graphs),
        collectives_(std::move(collectives)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    const kernels::DeviceFacts& facts = executor_.backend().facts();
    kernels::MemoryBudget& budget = executor_.backend().budget();
    const GraphCacheStats graph_stats = graphs_.stats();
    const UploadCache::Stats upload_stats = sessions_.upload_cache() != nullptr
                                                ? sessions_.upload_cache()->stats()
                                                : UploadCache::Stats();
    // One device per daemon today; the label keeps the series apart when there are more.
    const std::string device = absl::StrCat(facts.backend, ":0");
    std::vector<prometheus::ClientMetric> calls, seconds;
    for (int kind = 0; kind < CollectiveStats::kKinds; ++kind) {
      const std::vector<prometheus::ClientMetric::Label> labels = {
          {"kind", CollectiveStats::KindName(kind)}};
      calls.push_back(Counter(static_cast<double>(collectives_->calls[kind].load()), labels));
      seconds.push_back(
          Counter(static_cast<double>(collectives_->nanoseconds[kind].load()) * 1e-9, labels));
    }
    return {
        Family("ferry_collective_calls_total",
               "Collectives, sends and receives the ranks of this daemon's sessions ran, by kind.",
               MetricType::Counter, std::move(calls)),
        Family("ferry_collective_seconds_total",
               "Seconds in those calls, by kind, waiting for peers included.", MetricType::Counter,
               std::move(seconds)),
        Family("ferry_collective_device_calls_total",
               "Of those, the collectives run between device memories (NCCL between GPUs) "
               "rather than staged through host memory over the groups' links.",
               MetricType::Counter,
               {Counter(static_cast<double>(collectives_->device_calls.load()))}),
        Family("ferry_collective_groups_failed_total",
               "Groups a failed collective left failed (a peer gone, silent or disagreeing).",
               MetricType::Counter,
               {Counter(static_cast<double>(collectives_->groups_failed.load()))}),
        Family(
            "ferry_collective_bytes_total",
            "Bytes over the groups' links to other daemons, by direction.", MetricType::Counter,
            {Counter(static_cast<double>(collectives_->bytes_sent.load()), {{"direction", "sent"}}),
             Counter(static_cast<double>(collectives_->bytes_received.load()),
                     {{"direction", "received"}})}),
        Family("ferry_sessions", "Open sessions.", MetricType::Gauge,
               {Gauge(static_cast<double>(sessions_.num_sessions()))}),
        Family("ferry_sessions_ended_total",
               "Sessions ended, by reason: closed by their client, expired (lease), or "
               "abandoned (the client vanished mid-stream).",
               MetricType::Counter,
               {Counter(static_cast<double>(sessions_.sessions_ended(SessionEnd::kClosed)),
                        {{"reason", "closed"}}),
                Counter(static_cast<double>(sessions_.sessions_ended(SessionEnd::kExpired)),
                        {{"reason", "expired"}}),
                Counter(static_cast<double>(sessions_.sessions_ended(SessionEnd::kAbandoned)),
                        {{"reason", "abandoned"}})}),
        Family("ferry_sessions_refused_total",
               "OpenSession calls refused because the daemon held --max_sessions sessions.",
               MetricType::Counter, {Counter(static_cast<double>(sessions_.sessions_refused()))}),
        Family("ferry_executes_cancelled_total",
               "Graph runs stopped part-way: their caller went away, its deadline passed, or "
               "the session closed.",
               MetricType::Counter, {Counter(static_cast<double>(executor_.runs_cancelled()))}),
        Family("ferry_resident_bytes", "Bytes of buffers kept resident for sessions, per device.",
               MetricType::Gauge,
               {Gauge(static_cast<double>(sessions_.resident_bytes()), {{"device", device}})}),
        Family("ferry_kept_upload_bytes",
               "Bytes of broken uploads kept for their clients to resume, per device.",
               MetricType::Gauge,
               {Gauge(static_cast<double>(sessions_.kept_upload_bytes()), {{"device", device}})}),
        Family("ferry_uploads_resumed_total",
               "Uploads that went on where their connection broke, from the bytes kept.",
               MetricType::Counter, {Counter(static_cast<double>(sessions_.uploads_resumed()))}),
        Family("ferry_device_memory_bytes",
               "Device memory: the device's total, the daemon's limit (--max_memory), and the "
               "bytes in use (resident buffers and intermediates).",
               MetricType::Gauge,
               {Gauge(static_cast<double>(facts.memory_bytes),
                      {{"device", device}, {"kind", "total"}}),
                Gauge(static_cast<double>(budget.limit()), {{"device", device}, {"kind", "limit"}}),
                Gauge(static_cast<double>(budget.in_use()),
                      {{"device", device}, {"kind", "in_use"}})}),
        Family("ferry_graph_cache_hits_total",
               "Executes naming a graph by graph_id that found it held.", MetricType::Counter,
               {Counter(static_cast<double>(graph_stats.hits))}),
        Family("ferry_graph_cache_misses_total",
               "Executes naming a graph by graph_id that did not (the client sends it again).",
               MetricType::Counter, {Counter(static_cast<double>(graph_stats.misses))}),
        Family("ferry_graph_cache_entries", "Prepared graphs held.", MetricType::Gauge,
               {Gauge(static_cast<double>(graph_stats.size))}),
        Family("ferry_upload_cache_queries_total",
               "Uploads that asked the upload cache for their bytes first, by answer.",
               MetricType::Counter,
               {Counter(static_cast<double>(upload_stats.hits), {{"result", "hit"}}),
                Counter(static_cast<double>(upload_stats.misses), {{"result", "miss"}})}),
        Family("ferry_upload_cache_bytes",
               "Bytes of uploads the upload cache holds (shared with sessions' buffers while "
               "they hold them).",
               MetricType::Gauge,
               {Gauge(static_cast<double>(upload_stats.bytes), {{"device", device}})}),
        Family("ferry_upload_cache_disk_bytes",
               "Bytes of the upload cache's entries on disk (--upload_cache_dir).",
               MetricType::Gauge, {Gauge(static_cast<double>(upload_stats.disk_bytes))}),
        Family("ferry_upload_cache_rejected_total",
               "Uploads whose bytes did not match the content digest they named (not kept).",
               MetricType::Counter, {Counter(static_cast<double>(upload_stats.rejected))}),
    };
  }

 private:
  SessionManager& sessions_;
  kernels::Executor& executor_;
  const GraphCache& graphs_;
  const std::shared_ptr<const CollectiveStats> collectives_;
};

Metrics::Metrics(SessionManager& sessions, kernels::Executor& executor, const GraphCache& graphs,
                 std::shared_ptr<const CollectiveStats> collectives)
    : registry_(std::make_shared<prometheus::Registry>()),
      state_(std::make_shared<State>(sessions, executor, graphs, std::move(collectives))),
      requests_(prometheus::BuildCounter()
                    .Name("ferry_rpc_requests_total")
                    .Help("Finished gRPC calls, by method and status code.")
                    .Register(*registry_)),
      bytes_received_(prometheus::BuildCounter()
                          .Name("ferry_rpc_received_bytes_total")
                          .Help("Serialized request bytes received, by method.")
                          .Register(*registry_)),
      bytes_sent_(prometheus::BuildCounter()
                      .Name("ferry_rpc_sent_bytes_total")
                      .Help("Serialized response bytes sent, by method.")
                      .Register(*registry_)),
      execute_seconds_(
          prometheus::BuildHistogram()
              .Name("ferry_execute_duration_seconds")
              .Help(
                  "Executes (unary calls and Pipeline steps), from request to status, in seconds.")
              .Register(*registry_)
              .Add({}, kExecuteBuckets)) {}

Metrics::~Metrics() = default;

void Metrics::RecordCall(absl::string_view method, grpc::StatusCode code, absl::Duration latency,
                         int64_t bytes_received, int64_t bytes_sent) {
  const std::string name(method);
  requests_.Add({{"method", name}, {"code", StatusCodeName(code)}}).Increment();
  if (bytes_received > 0) {
    bytes_received_.Add({{"method", name}}).Increment(static_cast<double>(bytes_received));
  }
  if (bytes_sent > 0)
    bytes_sent_.Add({{"method", name}}).Increment(static_cast<double>(bytes_sent));
  if (method == "/ferry.v1.Ferry/Execute") RecordExecute(latency);
}

void Metrics::RecordExecute(absl::Duration latency) {
  execute_seconds_.Observe(absl::ToDoubleSeconds(latency));
}

absl::Status Metrics::Serve(const std::string& address) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start(address, [this] { return Render(); });
  if (!server.ok()) return server.status();
  http_ = *std::move(server);
  return absl::OkStatus();
}

std::string Metrics::Render() {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : state_->Collect()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace ferry::server
