// The in-process device: the executor and CPU backend that ferryd drives, called directly.

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/device_impl.h"
#include "client/error.h"
#include "client/profile_log.h"
#include "client/status.h"
#include "kernels/backend.h"
#include "kernels/collectives.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/executor.h"
#include "kernels/run_profile.h"

namespace ferry::detail {
namespace {

// Host memory is the operating system's to police; the budget only counts.
constexpr int64_t kLocalMemoryLimit = int64_t{1} << 50;

class LocalBuffer : public Buffer {
 public:
  explicit LocalBuffer(kernels::Tensor tensor) : Buffer(tensor.type), tensor_(std::move(tensor)) {}
  const kernels::Tensor& tensor() const { return tensor_; }

 private:
  kernels::Tensor tensor_;
};

// Its groups are groups of one (kernels::MakeSingleRankCommunicator): collectives written
// for many ranks run here unchanged.
class LocalDevice : public DeviceImpl, public kernels::CommunicatorDirectory {
 public:
  LocalDevice() : backend_(kernels::MakeCpuBackend(kLocalMemoryLimit)), executor_(*backend_) {}

  std::string description() const override {
    const kernels::DeviceFacts& facts = backend_->facts();
    return absl::StrCat("local (", facts.backend, ": ", facts.name, ")");
  }

  DeviceInfo info() const override {
    const kernels::DeviceFacts& facts = backend_->facts();
    DeviceInfo info;
    info.backend = facts.backend;
    info.name = facts.name;
    info.memory_bytes = facts.memory_bytes;
    info.compute_capability = facts.compute_capability;
    info.driver_version = facts.driver_version;
    info.runtime_version = facts.runtime_version;
    return info;
  }

  MemoryInfo Memory(bool reset_peak) override {
    kernels::MemoryBudget& budget = backend_->budget();
    MemoryInfo memory;
    memory.active_bytes = memory.device_in_use_bytes = budget.in_use();
    memory.peak_bytes = budget.peak();
    memory.limit_bytes = memory.device_limit_bytes = budget.limit();
    if (reset_peak) budget.ResetPeak();
    return memory;
  }

  DeviceStats stats() const override {
    DeviceStats stats;
    stats.executes = executes_.load();
    return stats;
  }

  std::shared_ptr<Buffer> FromHostBytes(const core::TensorType& type, const void* data) override {
    kernels::Tensor tensor = ValueOrThrow(backend_->Allocate(type));
    ThrowIfError(backend_->CopyFromHost(data, tensor.nbytes(), tensor, 0));
    return std::make_shared<LocalBuffer>(std::move(tensor));
  }

  // A file's arrays read straight into their tensors where this process can write them.
  std::vector<std::shared_ptr<Buffer>> FromHostReader(const std::vector<core::TensorType>& types,
                                                      const HostReader& read) override {
    if (!backend_->HostAddressable()) return DeviceImpl::FromHostReader(types, read);
    std::vector<std::shared_ptr<Buffer>> buffers;
    for (size_t i = 0; i < types.size(); ++i) {
      kernels::Tensor tensor = ValueOrThrow(backend_->Allocate(types[i]));
      read(i, static_cast<char*>(tensor.raw()));
      buffers.push_back(std::make_shared<LocalBuffer>(std::move(tensor)));
    }
    return buffers;
  }

  void MakeResident(const std::vector<std::shared_ptr<Buffer>>&) override {}

  void Cancel() override { ++cancels_; }

  std::vector<std::shared_ptr<Buffer>> Execute(
      std::shared_ptr<const core::Graph> graph,
      const std::vector<std::shared_ptr<Buffer>>& parameters,
      const ExecuteHints& /*local buffers are never written over*/) override {
    const std::shared_ptr<EvalRecord>& record = CurrentEval();
    if (record != nullptr) record->Sent(false);
    const auto prepare_start = std::chrono::steady_clock::now();
    std::shared_ptr<const kernels::Plan> plan = ValueOrThrow(executor_.Prepare(*graph));
    kernels::CommunicatorScope groups(this);
    std::vector<kernels::Tensor> tensors;
    tensors.reserve(parameters.size());
    for (const std::shared_ptr<Buffer>& buffer : parameters) {
      tensors.push_back(static_cast<const LocalBuffer&>(*buffer).tensor());
    }
    // Stopped by any cancel() from now on.
    const uint64_t generation = cancels_.load();
    kernels::RunStats run;
    run.time_steps = record != nullptr && record->device_steps();
    const auto run_start = std::chrono::steady_clock::now();
    std::vector<kernels::Tensor> outputs = ValueOrThrow(executor_.Run(
        *plan, std::move(tensors),
        [this, generation] {
          return cancels_.load() != generation ? absl::CancelledError("cancelled by ferry::cancel")
                                               : absl::OkStatus();
        },
        &run));
    ++executes_;
    if (record != nullptr) {
      const auto ns = [](auto duration) {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
      };
      v1::ExecutionProfile profile;
      profile.set_backend(backend_->facts().backend);
      profile.set_prepare_ns(ns(run_start - prepare_start));
      profile.set_run_ns(ns(std::chrono::steady_clock::now() - run_start));
      kernels::AddRunProfile(*plan, run, &profile);
      record->Answered(&profile);
    }
    std::vector<std::shared_ptr<Buffer>> buffers;
    buffers.reserve(outputs.size());
    for (kernels::Tensor& output : outputs) {
      buffers.push_back(std::make_shared<LocalBuffer>(std::move(output)));
    }
    return buffers;
  }

  std::string JoinGroup(const GroupJoin& join) override {
    if (join.size != 1) {
      throw Error(ErrorCode::kFailedPrecondition,
                  absl::StrCat("[distributed::init] ", description(),
                               " joins only a group of its own (size 1), not one of ", join.size));
    }
    std::lock_guard<std::mutex> lock(mu_);
    groups_[static_cast<int64_t>(join.handle)] = kernels::MakeSingleRankCommunicator();
    return "singleton";
  }

  absl::StatusOr<std::shared_ptr<kernels::Communicator>> FindGroup(int64_t group) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = groups_.find(group);
    if (it == groups_.end()) {
      return absl::NotFoundError(absl::StrCat("the local device has no group ", group));
    }
    return it->second;
  }

  void Read(Buffer& buffer, void* dst) override {
    const kernels::Tensor& tensor = static_cast<LocalBuffer&>(buffer).tensor();
    ThrowIfError(backend_->CopyToHost(tensor, 0, tensor.nbytes(), dst));
  }

  const void* HostBytes(Buffer& buffer) override {
    const kernels::Tensor& tensor = static_cast<LocalBuffer&>(buffer).tensor();
    return backend_->HostAddressable() ? tensor.raw() : nullptr;
  }

 private:
  std::unique_ptr<kernels::Backend> backend_;
  kernels::Executor executor_;
  std::atomic<int64_t> executes_{0};
  std::atomic<uint64_t> cancels_{0};  // cancel() calls so far
  mutable std::mutex mu_;
  std::map<int64_t, std::shared_ptr<kernels::Communicator>> groups_;  // by handle
};

}  // namespace

std::shared_ptr<DeviceImpl> MakeLocalDevice() { return std::make_shared<LocalDevice>(); }

}  // namespace ferry::detail
