#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kernels/cuda/fused.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/nccl_collectives.h"
#include "kernels/cuda/solver.h"

namespace ferry::kernels {
namespace {

using cuda::CheckCuda;

// Each of a stream's two pinned staging buffers; copies alternate between them so that
// filling one (from the network, or out to the caller) overlaps the DMA of the other.
constexpr size_t kStagingBytes = size_t{8} << 20;
// The most host memory PinHostMemory keeps page-locked at once, all clients' shared regions
// together; past it a region stays pageable and its copies stage.
constexpr size_t kMaxPinnedBytes = size_t{4} << 30;

// A kernel fault leaves the CUDA context unusable until the device is reset.
bool IsSticky(cudaError_t error) {
  switch (error) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

std::string Version(int v) { return absl::StrCat(v / 1000, ".", (v % 1000) / 10); }

// One CUDA stream, its staging buffers, and the device generation it was made in.
struct Stream {
  int device = 0;
  int generation = 0;
  cudaStream_t stream = nullptr;
  absl::Mutex mu;  // serializes use of the staging buffers
  void* staging[2] = {nullptr, nullptr};
  cudaEvent_t staged[2] = {nullptr, nullptr};
  int next = 0;
  // The backend's generation, shared so that tensors may outlive the backend.
  std::shared_ptr<const std::atomic<int>> current_generation;

  ~Stream() {
    if (current_generation == nullptr || current_generation->load() != generation) return;
    cudaSetDevice(device);
    cudaStreamSynchronize(stream);
    cuda::ForgetSolverHandles(stream);
    for (int i = 0; i < 2; ++i) {
      if (staging[i] != nullptr) cudaFreeHost(staging[i]);
      if (staged[i] != nullptr) cudaEventDestroy(staged[i]);
    }
    cudaStreamDestroy(stream);
  }

  // Allocates the staging buffers on first use; false when pinned memory is unavailable.
  bool HasStaging() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (staging[0] != nullptr) return true;
    for (int i = 0; i < 2; ++i) {
      if (cudaHostAlloc(&staging[i], kStagingBytes, cudaHostAllocDefault) != cudaSuccess ||
          cudaEventCreateWithFlags(&staged[i], cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        for (int j = 0; j <= i; ++j) {
          if (staging[j] != nullptr) cudaFreeHost(staging[j]);
          if (staged[j] != nullptr) cudaEventDestroy(staged[j]);
          staging[j] = nullptr;
          staged[j] = nullptr;
        }
        return false;
      }
    }
    return true;
  }
};

class CudaQueue : public Queue {
 public:
  absl::Mutex mu;
  std::shared_ptr<Stream> stream ABSL_GUARDED_BY(mu);
};

// Device memory from the pool, returned in stream order on the stream that allocated it
// (unless the device was reset since), and to the budget, when the last tensor goes.
class CudaStorage : public Storage {
 public:
  CudaStorage(void* data, size_t size, std::shared_ptr<MemoryBudget> budget,
              std::shared_ptr<Stream> stream)
      : Storage(data, size), budget_(std::move(budget)), stream_(std::move(stream)) {}
  ~CudaStorage() override {
    if (valid()) {
      cudaSetDevice(stream_->device);
      cudaFreeAsync(data(), stream_->stream);
    }
    budget_->Return(static_cast<int64_t>(size()));
  }
  bool valid() const { return stream_->current_generation->load() == stream_->generation; }

 private:
  std::shared_ptr<MemoryBudget> budget_;
  std::shared_ptr<Stream> stream_;
};

class CudaBackend : public Backend {
 public:
  CudaBackend(const CudaOptions& options, DeviceFacts facts, cudaMemPool_t pool, int major,
              int minor)
      : options_(options),
        facts_(std::move(facts)),
        major_(major),
        minor_(minor),
        budget_(std::make_shared<MemoryBudget>(options.memory_limit_bytes)),
        pool_(pool) {}
  // Tensors may outlive the backend: CUDA releases the pool once their memory is freed.
  ~CudaBackend() override { cudaMemPoolDestroy(pool_); }

  absl::Status Init() { return NewStream().status(); }

  const DeviceFacts& facts() const override { return facts_; }
  MemoryBudget& budget() override { return *budget_; }

  std::shared_ptr<Queue> NewQueue() override { return std::make_shared<CudaQueue>(); }

  absl::StatusOr<Tensor> Allocate(const core::TensorType& type) override {
    if (static_cast<size_t>(type.dtype) >= std::size(core::kAllDTypes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot allocate a tensor of unknown dtype ", static_cast<int>(type.dtype)));
    }
    if (absl::Status shape_ok = core::CheckShape(type.shape); !shape_ok.ok()) return shape_ok;
    absl::StatusOr<std::shared_ptr<Stream>> stream = Enter();
    if (!stream.ok()) return stream.status();
    absl::ReaderMutexLock lock(&reset_mu_);
    const size_t bytes =
        static_cast<size_t>(core::NumElements(type.shape)) * core::SizeOf(type.dtype);
    if (absl::Status reserved = budget_->Reserve(static_cast<int64_t>(bytes)); !reserved.ok()) {
      return reserved;
    }
    void* data = nullptr;
    // Every Storage gets a valid pointer, even an empty tensor's.
    const cudaError_t error =
        cudaMallocFromPoolAsync(&data, std::max<size_t>(bytes, 1), pool_, (*stream)->stream);
    if (error != cudaSuccess) {
      cudaGetLastError();
      budget_->Return(static_cast<int64_t>(bytes));
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      cudaGetLastError();
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", bytes, " bytes of GPU memory (", budget_->in_use(),
                       " of ", budget_->limit(), " budgeted bytes in use, ", free_bytes, " of ",
                       total_bytes, " device bytes free): ", cudaGetErrorString(error)));
    }
    Tensor tensor;
    tensor.type = type;
    tensor.storage = std::make_shared<CudaStorage>(data, bytes, budget_, *stream);
    return tensor;
  }

  absl::Status CopyFromHost(const void* src, size_t bytes, const Tensor& dst,
                            size_t dst_offset) override {
    absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
    if (!entered.ok()) return entered.status();
    absl::ReaderMutexLock lock(&reset_mu_);
    if (absl::Status ok = CheckTensor("copy from host", dst, dst_offset, bytes); !ok.ok()) {
      return ok;
    }
    Stream& s = **entered;
    char* to = static_cast<char*>(dst.raw()) + dst_offset;
    const char* from = static_cast<const char*>(src);
    absl::MutexLock staging_lock(&s.mu);
    if (!s.HasStaging()) {  // pageable copy, synchronous
      return Fail("copy from host", "copy",
                  cudaMemcpyAsync(to, from, bytes, cudaMemcpyHostToDevice, s.stream), &s);
    }
    // Returns once the bytes are staged: the DMA of the last chunk overlaps whatever the
    // caller does next (receiving the next chunk). A buffer is refilled only after its
    // previous DMA finished.
    for (size_t done = 0; done < bytes;) {
      const size_t n = std::min(kStagingBytes, bytes - done);
      const int slot = s.next;
      s.next ^= 1;
      cudaError_t error = cudaEventSynchronize(s.staged[slot]);
      if (error == cudaSuccess) {
        std::memcpy(s.staging[slot], from + done, n);
        error = cudaMemcpyAsync(to + done, s.staging[slot], n, cudaMemcpyHostToDevice, s.stream);
      }
      if (error == cudaSuccess) error = cudaEventRecord(s.staged[slot], s.stream);
      if (error != cudaSuccess) return Fail("copy from host", "copy", error, &s);
      done += n;
    }
    return absl::OkStatus();
  }

  absl::Status CopyToHost(const Tensor& src, size_t src_offset, size_t bytes, void* dst) override {
    absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
    if (!entered.ok()) return entered.status();
    absl::ReaderMutexLock lock(&reset_mu_);
    if (absl::Status ok = CheckTensor("copy to host", src, src_offset, bytes); !ok.ok()) {
      return ok;
    }
    Stream& s = **entered;
    const char* from = static_cast<const char*>(src.raw()) + src_offset;
    char* to = static_cast<char*>(dst);
    absl::MutexLock staging_lock(&s.mu);
    if (!s.HasStaging()) {
      cudaError_t error = cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToHost, s.stream);
      if (error == cudaSuccess) error = cudaStreamSynchronize(s.stream);
      return Fail("copy to host", "copy", error, &s);
    }
    // Chunk i lands in buffer i % 2 while chunk i - 1 is copied out of the other.
    const size_t chunks = (bytes + kStagingBytes - 1) / kStagingBytes;
    auto issue = [&](size_t i) {
      const size_t n = std::min(kStagingBytes, bytes - i * kStagingBytes);
      cudaError_t error = cudaMemcpyAsync(s.staging[i % 2], from + i * kStagingBytes, n,
                                          cudaMemcpyDeviceToHost, s.stream);
      if (error == cudaSuccess) error = cudaEventRecord(s.staged[i % 2], s.stream);
      return error;
    };
    cudaError_t error = chunks > 0 ? issue(0) : cudaSuccess;
    for (size_t i = 0; i < chunks && error == cudaSuccess; ++i) {
      if (i + 1 < chunks) error = issue(i + 1);
      if (error == cudaSuccess) error = cudaEventSynchronize(s.staged[i % 2]);
      if (error == cudaSuccess) {
        std::memcpy(to + i * kStagingBytes, s.staging[i % 2],
                    std::min(kStagingBytes, bytes - i * kStagingBytes));
      }
    }
    if (error == cudaSuccess && chunks == 0) error = cudaStreamSynchronize(s.stream);
    s.next = 0;
    return Fail("copy to host", "copy", error, &s);
  }

  // Portable: pinned for every device's context.
  std::shared_ptr<void> PinHostMemory(void* data, size_t bytes) override {
    if (data == nullptr || bytes == 0) return nullptr;
    std::shared_ptr<std::atomic<size_t>> pinned_bytes = pinned_bytes_;
    if (pinned_bytes->fetch_add(bytes) + bytes > kMaxPinnedBytes) {
      pinned_bytes->fetch_sub(bytes);
      return nullptr;
    }
    absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();  // the device is current
    cudaError_t error = cudaErrorNotReady;
    if (entered.ok()) {
      absl::ReaderMutexLock lock(&reset_mu_);
      error = cudaHostRegister(data, bytes, cudaHostRegisterPortable);
    }
    if (error != cudaSuccess) {
      cudaGetLastError();  // not sticky: the copies stage instead
      pinned_bytes->fetch_sub(bytes);
      return nullptr;
    }
    const int device = options_.device;
    return std::shared_ptr<void>(data, [device, bytes, pinned_bytes](void* pinned) {
      cudaSetDevice(device);
      cudaHostUnregister(pinned);  // after a device reset, already gone: harmless
      cudaGetLastError();
      pinned_bytes->fetch_sub(bytes);
    });
  }

  absl::Status CopyFromPinnedHost(const void* src, size_t bytes, const Tensor& dst,
                                  size_t dst_offset) override {
    return PinnedCopy("copy from host", dst, dst_offset, bytes, src, cudaMemcpyHostToDevice);
  }

  absl::Status CopyToPinnedHost(const Tensor& src, size_t src_offset, size_t bytes,
                                void* dst) override {
    return PinnedCopy("copy to host", src, src_offset, bytes, dst, cudaMemcpyDeviceToHost);
  }

  absl::Status Run(const core::Node& node, absl::Span<const Tensor> inputs,
                   const Tensor& out) override {
    const cuda::KernelTable& kernels = cuda::CudaKernels();
    auto it = kernels.find(node.op);
    if (it == kernels.end()) {
      return absl::UnimplementedError(absl::StrCat("[", node.op, "] has no CUDA kernel"));
    }
    absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
    if (!entered.ok()) return entered.status();
    absl::ReaderMutexLock lock(&reset_mu_);
    if (out.type != node.out) {
      return absl::InternalError(
          absl::StrCat("[", node.op, "] output tensor ", core::TypeToString(out.type),
                       " does not match the node's type ", core::TypeToString(node.out)));
    }
    if (absl::Status ok = CheckTensor(node.op, out, 0, 0); !ok.ok()) return ok;
    for (const Tensor& input : inputs) {
      if (absl::Status ok = CheckTensor(node.op, input, 0, 0); !ok.ok()) return ok;
    }
    absl::Status ran;
    {
      cuda::Context context((*entered)->stream, pool_, options_.allow_tf32);
      ran = it->second(context, node, inputs, out);
    }
    if (!ran.ok()) {
      // A launch error may have come from an earlier kernel's fault.
      const cudaError_t pending = cudaGetLastError();
      if (IsSticky(pending)) return Fail(node.op, "kernel", pending, entered->get());
      return ran;
    }
    return Fail(node.op, "launch", cudaPeekAtLastError(), entered->get());
  }

  bool SupportsFusion() const override { return true; }

  // A kernel generated for the group and compiled with NVRTC, or null (RunFused then runs
  // the group op by op) when the generator does not cover it or NVRTC is missing.
  std::shared_ptr<const CompiledFused> CompileFused(const FusedExpr& fused) const override {
    std::string why;
    std::shared_ptr<const cuda::FusedKernel> kernel =
        cuda::CompileFusedKernel(fused.expr, major_, minor_, &why);
    if (kernel == nullptr && !why.empty()) {
      absl::MutexLock lock(&fusion_mu_);
      if (fusion_notes_.insert(why).second && fusion_notes_.size() <= 8) {
        std::fprintf(stderr, "ferry cuda: a fused group runs op by op: %s\n", why.c_str());
      }
    }
    return kernel;
  }

  absl::Status RunFused(const FusedExpr& fused, absl::Span<const Tensor> inputs,
                        const Tensor& out) override {
    if (const auto* kernel = dynamic_cast<const cuda::FusedKernel*>(fused.compiled.get())) {
      absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
      if (!entered.ok()) return entered.status();
      absl::ReaderMutexLock lock(&reset_mu_);
      if (absl::Status ok = CheckTensor("fused", out, 0, 0); !ok.ok()) return ok;
      for (const Tensor& input : inputs) {
        if (absl::Status ok = CheckTensor("fused", input, 0, 0); !ok.ok()) return ok;
      }
      const cudaError_t launched =
          kernel->Launch(inputs, out, (*entered)->stream, generation_->load());
      if (launched == cudaSuccess || IsSticky(launched)) {
        return Fail("fused", "launch", launched, entered->get());
      }
      // The kernel could not be loaded or launched here: the group runs op by op instead.
      cudaGetLastError();
    }
    return RunOpByOp(fused, inputs, out);
  }

  absl::Status Synchronize() override {
    absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
    if (!entered.ok()) return entered.status();
    absl::ReaderMutexLock lock(&reset_mu_);
    return Fail("synchronize", "queued work", cudaStreamSynchronize((*entered)->stream),
                entered->get());
  }

  bool HasDeviceCollectives() const override { return cuda::NcclUsable().ok(); }

  absl::StatusOr<std::string> NewDeviceGroupId() override {
    cudaSetDevice(options_.device);
    return cuda::NewNcclGroupId();
  }

  absl::StatusOr<std::unique_ptr<DeviceCollectives>> JoinDeviceGroup(
      const std::string& id, int rank, int size, absl::Duration join_within,
      absl::Duration call_timeout) override {
    cudaSetDevice(options_.device);
    return cuda::JoinNcclGroup(
        id, rank, size, join_within, call_timeout, [this]() -> absl::StatusOr<cuda::BoundStream> {
          absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
          if (!entered.ok()) return entered.status();
          Stream* stream = entered->get();
          return cuda::BoundStream{stream->stream, stream->generation, *entered,
                                   [this, stream](cudaError_t error) {
                                     return Fail("collective", "NCCL", error, stream);
                                   }};
        });
  }

  absl::Status InjectFault() {
    absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
    if (!entered.ok()) return entered.status();
    absl::ReaderMutexLock lock(&reset_mu_);
    return Fail("fault", "launch", cuda::LaunchFault((*entered)->stream), entered->get());
  }

 private:
  // A fused group as its nodes' own kernels, through temporaries; `out` is written last, so
  // it may share memory with an input.
  absl::Status RunOpByOp(const FusedExpr& fused, absl::Span<const Tensor> inputs,
                         const Tensor& out) {
    const std::vector<core::Node>& nodes = fused.expr.nodes;
    std::vector<Tensor> values(nodes.size());
    size_t params = 0;
    for (; params < nodes.size() && nodes[params].op == "parameter"; ++params) {
      if (params >= inputs.size()) {
        return absl::InternalError("[fused] fewer inputs than the group's parameters");
      }
      values[params] = inputs[params];
    }
    for (size_t j = params; j < nodes.size(); ++j) {
      if (j + 1 == nodes.size()) {
        values[j] = out;
      } else {
        absl::StatusOr<Tensor> temporary = Allocate(nodes[j].out);
        if (!temporary.ok()) return temporary.status();
        values[j] = *std::move(temporary);
      }
      std::vector<Tensor> operands;
      for (int32_t input : nodes[j].inputs) operands.push_back(values[input]);
      if (absl::Status ran = Run(nodes[j], operands, values[j]); !ran.ok()) return ran;
    }
    return absl::OkStatus();
  }

  // Makes this thread use the device, resets it first if a fault was seen, and returns
  // the stream of the thread's queue (made in the current generation).
  absl::StatusOr<std::shared_ptr<Stream>> Enter() {
    cudaSetDevice(options_.device);
    if (needs_reset_.load()) {
      absl::Status reset = Reset();
      if (!reset.ok()) return reset;
    }
    auto* queue = dynamic_cast<CudaQueue*>(QueueScope::Current());
    if (queue == nullptr) queue = &default_queue_;
    absl::MutexLock lock(&queue->mu);
    if (queue->stream == nullptr || queue->stream->generation != generation_->load()) {
      absl::StatusOr<std::shared_ptr<Stream>> stream = NewStream();
      if (!stream.ok()) return stream.status();
      queue->stream = *std::move(stream);
    }
    return queue->stream;
  }

  absl::StatusOr<std::shared_ptr<Stream>> NewStream() {
    auto stream = std::make_shared<Stream>();
    stream->device = options_.device;
    stream->generation = generation_->load();
    stream->current_generation = generation_;
    absl::Status created =
        CheckCuda("queue", "create stream",
                  cudaStreamCreateWithFlags(&stream->stream, cudaStreamNonBlocking));
    if (!created.ok()) {
      stream->current_generation = nullptr;  // nothing to destroy
      return absl::UnavailableError(created.message());
    }
    return stream;
  }

  // Resets the device after a fault; every buffer on it is gone (their storages see the
  // new generation and neither free nor accept use).
  absl::Status Reset() {
    absl::WriterMutexLock lock(&reset_mu_);
    if (!needs_reset_.load()) return absl::OkStatus();
    cudaDeviceReset();
    cudaSetDevice(options_.device);
    cuda::ForgetCublasLtHandles();
    cuda::ForgetAllSolverHandles();
    ++*generation_;
    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = options_.device;
    cudaError_t error = cudaMemPoolCreate(&pool_, &props);
    if (error == cudaSuccess) {
      uint64_t threshold = static_cast<uint64_t>(options_.memory_limit_bytes);
      error = cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold);
    }
    if (error != cudaSuccess) {
      return absl::UnavailableError(
          absl::StrCat("the GPU could not be reset after a fault: ", cudaGetErrorString(error)));
    }
    needs_reset_.store(false);
    return absl::OkStatus();
  }

  // OK for cudaSuccess; else INTERNAL naming the op. A sticky error (a kernel fault)
  // schedules a reset of the device before the next call.
  // One DMA between `host` (page-locked) and the tensor's bytes [offset, offset + bytes),
  // on this thread's stream after what is queued there; finished when it returns.
  absl::Status PinnedCopy(const std::string& op, const Tensor& tensor, size_t offset, size_t bytes,
                          const void* host, cudaMemcpyKind kind) {
    absl::StatusOr<std::shared_ptr<Stream>> entered = Enter();
    if (!entered.ok()) return entered.status();
    absl::ReaderMutexLock lock(&reset_mu_);
    if (absl::Status ok = CheckTensor(op, tensor, offset, bytes); !ok.ok()) return ok;
    Stream& s = **entered;
    absl::MutexLock staging_lock(&s.mu);  // after the staged copies queued before it
    char* device = static_cast<char*>(tensor.raw()) + offset;
    cudaError_t error =
        kind == cudaMemcpyHostToDevice
            ? cudaMemcpyAsync(device, host, bytes, kind, s.stream)
            : cudaMemcpyAsync(const_cast<void*>(host), device, bytes, kind, s.stream);
    if (error == cudaSuccess) error = cudaStreamSynchronize(s.stream);
    return Fail(op, "copy", error, &s);
  }

  absl::Status Fail(const std::string& op, const char* what, cudaError_t error, Stream*) {
    if (error == cudaSuccess) return absl::OkStatus();
    cudaGetLastError();
    if (IsSticky(error)) {
      needs_reset_.store(true);
      return absl::InternalError(
          absl::StrCat("[", op, "] a GPU kernel faulted (", cudaGetErrorString(error),
                       "); the device will be reset and every buffer on it is lost"));
    }
    if (error == cudaErrorMemoryAllocation) {
      return absl::ResourceExhaustedError(
          absl::StrCat("[", op, "] out of GPU memory: ", cudaGetErrorString(error)));
    }
    return CheckCuda(op, what, error);
  }

  // INTERNAL for a tensor lost in a reset or not on this backend; bounds as the CPU's.
  absl::Status CheckTensor(const std::string& op, const Tensor& tensor, size_t offset, size_t bytes)
      ABSL_SHARED_LOCKS_REQUIRED(reset_mu_) {
    auto* storage = dynamic_cast<const CudaStorage*>(tensor.storage.get());
    if (storage == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", op, "] the tensor has no storage on this GPU"));
    }
    if (!storage->valid()) {
      return absl::InternalError(absl::StrCat(
          "[", op, "] the tensor was lost when the GPU was reset after a kernel fault"));
    }
    const size_t nbytes = tensor.nbytes();
    if (tensor.offset > storage->size() || nbytes > storage->size() - tensor.offset) {
      return absl::InternalError(absl::StrCat("[", op, "] tensor ", core::TypeToString(tensor.type),
                                              " overruns its storage"));
    }
    if (offset > nbytes || bytes > nbytes - offset) {
      return absl::OutOfRangeError(absl::StrCat("[", op, "] bytes [", offset, ", ", offset + bytes,
                                                ") exceed tensor ", core::TypeToString(tensor.type),
                                                " of ", nbytes, " bytes"));
    }
    return absl::OkStatus();
  }

  const CudaOptions options_;
  const DeviceFacts facts_;
  const int major_, minor_;  // compute capability, for the fused kernels NVRTC compiles
  std::shared_ptr<MemoryBudget> budget_;
  absl::Mutex reset_mu_;  // readers: every call; writer: Reset
  cudaMemPool_t pool_;
  std::shared_ptr<std::atomic<int>> generation_ = std::make_shared<std::atomic<int>>(0);
  // Host memory PinHostMemory keeps page-locked; shared with the handles, which may
  // outlive the backend.
  std::shared_ptr<std::atomic<size_t>> pinned_bytes_ = std::make_shared<std::atomic<size_t>>(0);
  mutable absl::Mutex fusion_mu_;
  mutable absl::flat_hash_set<std::string> fusion_notes_ ABSL_GUARDED_BY(fusion_mu_);
  std::atomic<bool> needs_reset_{false};
  CudaQueue default_queue_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaOptions& options) {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0) {
    cudaGetLastError();
    return absl::UnavailableError(
        absl::StrCat("no usable CUDA device: ",
                     error != cudaSuccess ? cudaGetErrorString(error) : "none is present"));
  }
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--device=", options.device, " is not a CUDA device: this machine has ", count));
  }
  cudaDeviceProp prop;
  error = cudaGetDeviceProperties(&prop, options.device);
  if (error == cudaSuccess) error = cudaSetDevice(options.device);
  int pools = 0;
  if (error == cudaSuccess) {
    error = cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, options.device);
  }
  if (error != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("CUDA device ", options.device,
                                               " cannot be used: ", cudaGetErrorString(error)));
  }
  if (!pools) {
    return absl::UnavailableError(absl::StrCat("CUDA device ", options.device, " (", prop.name,
                                               ") has no stream-ordered memory pools"));
  }
  DeviceFacts facts;
  facts.backend = "cuda";
  facts.name = prop.name;
  facts.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  facts.compute_capability = absl::StrCat(prop.major, ".", prop.minor);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  facts.driver_version = Version(driver);
  facts.runtime_version = Version(runtime);

  CudaOptions resolved = options;
  if (resolved.memory_limit_bytes <= 0) {
    resolved.memory_limit_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  }
  cudaMemPool_t pool = nullptr;
  cudaMemPoolProps props = {};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = options.device;
  error = cudaMemPoolCreate(&pool, &props);
  if (error == cudaSuccess) {
    uint64_t threshold = static_cast<uint64_t>(resolved.memory_limit_bytes);
    error = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  }
  if (error != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("cannot create a memory pool on CUDA device ",
                                               options.device, ": ", cudaGetErrorString(error)));
  }
  auto backend =
      std::make_unique<CudaBackend>(resolved, std::move(facts), pool, prop.major, prop.minor);
  if (absl::Status ok = backend->Init(); !ok.ok()) return ok;
  return std::unique_ptr<Backend>(std::move(backend));
}

absl::Status InjectCudaFaultForTest(Backend& backend) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (cuda == nullptr) return absl::InvalidArgumentError("not a CUDA backend");
  return cuda->InjectFault();
}

}  // namespace ferry::kernels
