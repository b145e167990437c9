#ifndef FERRY_CLIENT_REMOTE_BUFFER_H_
#define FERRY_CLIENT_REMOTE_BUFFER_H_

// Internal to the client library: the remote device's buffers and the host memory a
// same-host daemon maps.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "client/device_impl.h"
#include "client/output_reads.h"
#include "client/pipeline.h"
#include "client/remote_session.h"
#include "client/shared_memory.h"
#include "core/page_aligned.h"

namespace ferry::detail {

// A value of the session: resident under `id` once the daemon has it (id 0: not yet), with
// its bytes cached here when known (host data, inline results, finished downloads).
class RemoteBuffer : public Buffer {
 public:
  RemoteBuffer(core::TensorType type, std::shared_ptr<RemoteSession> session, uint64_t id,
               std::optional<std::string> host)
      : Buffer(std::move(type)), session_(std::move(session)), id_(id), host_(std::move(host)) {}

  ~RemoteBuffer() override {
    if (id_ != 0 && !donated_) session_->QueueRelease(id_);
  }

  std::mutex& mu() { return mu_; }
  uint64_t id() const { return id_; }
  void set_id(uint64_t id) { id_ = id; }
  const std::optional<std::string>& host() const { return host_; }
  void set_host(std::string host) { host_ = std::move(host); }

  // The answer of the pipeline step that computes this buffer (output `output` of it),
  // until it has been looked at; then the step's failure, if it failed.
  std::optional<StepReply>& pending() { return pending_; }
  int output() const { return output_; }
  void set_pending(StepReply reply, int output) {
    pending_ = std::move(reply);
    output_ = output;
  }
  std::optional<v1::StepFailure>& failure() { return failure_; }
  // Given to a step to write over (Binding.donate): the daemon released it, and nothing
  // here may use it again.
  bool donated() const { return donated_; }
  void set_donated() { donated_ = true; }
  // The stream broke before the step computing it was answered: whether it ran is unknown.
  bool lost() const { return lost_; }
  void set_lost() { lost_ = true; }
  // Output `output` of a graph whose reads are marked in `reads`.
  void set_reads(std::shared_ptr<OutputReads::Marks> reads, int output) {
    reads_ = std::move(reads);
    reads_output_ = output;
  }
  void MarkRead() {
    if (reads_ != nullptr) reads_->MarkRead(static_cast<size_t>(reads_output_));
  }

 private:
  std::shared_ptr<RemoteSession> session_;
  std::mutex mu_;  // guards id_ and host_ against two evals uploading or reading at once
  uint64_t id_;
  std::optional<std::string> host_;
  std::optional<StepReply> pending_;
  int output_ = 0;
  std::optional<v1::StepFailure> failure_;
  bool lost_ = false;
  bool donated_ = false;
  std::shared_ptr<OutputReads::Marks> reads_;
  int reads_output_ = 0;
};

// A HostBuffer the daemon has mapped: a region of its own, the buffer one page into it
// (the nonce is in the first), unmapped there when the buffer goes.
class SharedHostMemory : public HostMemory {
 public:
  SharedHostMemory(std::unique_ptr<SharedRegion> region, size_t bytes,
                   std::shared_ptr<RemoteSession> session)
      : HostMemory(region->data() + core::kPageBytes, bytes, /*in_place=*/true),
        region_(std::move(region)),
        session_(std::move(session)) {
    session_->AddHostRegion(region_.get());
  }
  ~SharedHostMemory() override {
    session_->RemoveHostRegion(region_.get());
    session_->UnregisterRegion(region_->name());
  }

 private:
  const std::unique_ptr<SharedRegion> region_;
  const std::shared_ptr<RemoteSession> session_;
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_REMOTE_BUFFER_H_
