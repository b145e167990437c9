#include "kernels/backend.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/collectives.h"

namespace ferry::kernels {
namespace {

thread_local Queue* current_queue = nullptr;

}  // namespace

QueueScope::QueueScope(Queue* queue) : previous_(current_queue) { current_queue = queue; }
QueueScope::~QueueScope() { current_queue = previous_; }
Queue* QueueScope::Current() { return current_queue; }

absl::Status Backend::RunFused(const FusedExpr&, absl::Span<const Tensor>, const Tensor&) {
  return absl::UnimplementedError("[fused] this backend runs no fused groups");
}

absl::StatusOr<std::string> Backend::NewDeviceGroupId() {
  return absl::UnimplementedError(
      absl::StrCat("the ", facts().backend, " backend has no collectives of its own"));
}

absl::StatusOr<std::unique_ptr<DeviceCollectives>> Backend::JoinDeviceGroup(const std::string&, int,
                                                                            int, absl::Duration,
                                                                            absl::Duration) {
  return NewDeviceGroupId().status();
}

absl::StatusOr<Tensor> TensorFromHost(Backend& backend, const core::HostTensor& host) {
  absl::StatusOr<Tensor> tensor = backend.Allocate(host.type);
  if (!tensor.ok()) return tensor.status();
  if (host.data.size() != tensor->nbytes()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", core::TypeToString(host.type),
                                                   " needs ", tensor->nbytes(), " bytes, got ",
                                                   host.data.size()));
  }
  absl::Status copied = backend.CopyFromHost(host.data.data(), host.data.size(), *tensor, 0);
  if (!copied.ok()) return copied;
  return tensor;
}

absl::StatusOr<core::HostTensor> TensorToHost(Backend& backend, const Tensor& tensor) {
  core::HostTensor host{tensor.type, std::string(tensor.nbytes(), '\0')};
  absl::Status copied = backend.CopyToHost(tensor, 0, host.data.size(), host.data.data());
  if (!copied.ok()) return copied;
  return host;
}

}  // namespace ferry::kernels
