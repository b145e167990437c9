#include "kernels/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/scratch_budget.h"

namespace ferry::kernels {
namespace {

constexpr size_t kAlignment = 64;  // a cache line, and enough for any SIMD load

// Freed blocks of host memory kept for reuse. A fresh large block comes from mmap, and
// the first touch of each page faults and zeroes it, which costs more than the kernel that
// writes it (a 64 MiB elementwise result: ~25 ms of faults for ~5 ms of work). Blocks of
// one size are handed out again; the cache keeps at most `capacity` bytes, outside the
// budget (they are free memory the process has not yet given back).
class BlockCache {
 public:
  explicit BlockCache(size_t capacity) : capacity_(capacity) {}
  ~BlockCache() {
    for (auto& [size, block] : blocks_) std::free(block);
  }

  void* Take(size_t padded) {
    if (padded < kMinCachedBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(padded);
    if (it == blocks_.end()) return nullptr;
    void* block = it->second;
    blocks_.erase(it);
    bytes_ -= padded;
    return block;
  }

  // The block just freed displaces others (smallest first) when the cache is full: a loop
  // allocates again what it has just freed (a 1 GiB upload after the last one's release).
  void Give(void* block, size_t padded) {
    if (padded < kMinCachedBytes || padded > capacity_) {
      std::free(block);
      return;
    }
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (bytes_ + padded > capacity_) {
        auto smallest = blocks_.begin();
        evicted.push_back(smallest->second);
        bytes_ -= smallest->first;
        blocks_.erase(smallest);
      }
      blocks_.emplace(padded, block);
      bytes_ += padded;
    }
    for (void* old : evicted) std::free(old);  // munmap outside the lock
  }

 private:
  static constexpr size_t kMinCachedBytes = 256 << 10;  // malloc serves smaller ones well
  const size_t capacity_;
  std::mutex mu_;
  std::multimap<size_t, void*> blocks_;
  size_t bytes_ = 0;
};

// Host memory that gives its bytes back to the budget, and its block to the cache, when
// the last tensor using it goes. Holds both by shared_ptr so tensors may outlive the
// backend.
class CpuStorage : public Storage {
 public:
  CpuStorage(void* data, size_t size, size_t padded, std::shared_ptr<MemoryBudget> budget,
             std::shared_ptr<BlockCache> cache)
      : Storage(data, size),
        padded_(padded),
        budget_(std::move(budget)),
        cache_(std::move(cache)) {}
  ~CpuStorage() override {
    cache_->Give(data(), padded_);
    budget_->Return(static_cast<int64_t>(size()));
  }

 private:
  size_t padded_;
  std::shared_ptr<MemoryBudget> budget_;
  std::shared_ptr<BlockCache> cache_;
};

// OUT_OF_RANGE unless [offset, offset + bytes) lies within `tensor`'s bytes, and
// INVALID_ARGUMENT for a tensor without storage or a view past its storage's end.
absl::Status CheckCopyRange(const char* what, const Tensor& tensor, size_t offset, size_t bytes) {
  if (tensor.storage == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("[", what, "] the tensor has no storage"));
  }
  const size_t nbytes = tensor.nbytes();
  if (tensor.offset > tensor.storage->size() || nbytes > tensor.storage->size() - tensor.offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("[", what, "] tensor ", core::TypeToString(tensor.type), " at byte offset ",
                     tensor.offset, " overruns its storage of ", tensor.storage->size(), " bytes"));
  }
  if (offset > nbytes || bytes > nbytes - offset) {
    return absl::OutOfRangeError(absl::StrCat("[", what, "] bytes [", offset, ", ", offset + bytes,
                                              ") exceed tensor ", core::TypeToString(tensor.type),
                                              " of ", nbytes, " bytes"));
  }
  return absl::OkStatus();
}

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int64_t memory_limit_bytes)
      : budget_(std::make_shared<MemoryBudget>(memory_limit_bytes)),
        cache_(std::make_shared<BlockCache>(
            static_cast<size_t>(std::min<int64_t>(memory_limit_bytes / 4, int64_t{1} << 30)))) {
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    facts_.backend = "cpu";
    facts_.name = absl::StrCat("CPU (", threads, " threads)");
    facts_.memory_bytes = memory_limit_bytes;
  }

  const DeviceFacts& facts() const override { return facts_; }
  MemoryBudget& budget() override { return *budget_; }

  absl::StatusOr<Tensor> Allocate(const core::TensorType& type) override {
    if (static_cast<size_t>(type.dtype) >= std::size(core::kAllDTypes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot allocate a tensor of unknown dtype ", static_cast<int>(type.dtype)));
    }
    absl::Status shape_ok = core::CheckShape(type.shape);
    if (!shape_ok.ok()) return shape_ok;
    const size_t bytes =
        static_cast<size_t>(core::NumElements(type.shape)) * core::SizeOf(type.dtype);
    absl::Status reserved = budget_->Reserve(static_cast<int64_t>(bytes));
    if (!reserved.ok()) return reserved;
    // aligned_alloc wants a multiple of the alignment; an empty tensor still gets a block
    // so that every Storage has a valid pointer.
    const size_t padded = std::max(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
    void* data = cache_->Take(padded);
    if (data == nullptr) data = std::aligned_alloc(kAlignment, padded);
    if (data == nullptr) {
      budget_->Return(static_cast<int64_t>(bytes));
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", bytes, " bytes of host memory"));
    }
    Tensor tensor;
    tensor.type = type;
    tensor.storage = std::make_shared<CpuStorage>(data, bytes, padded, budget_, cache_);
    return tensor;
  }

  absl::Status CopyFromHost(const void* src, size_t bytes, const Tensor& dst,
                            size_t dst_offset) override {
    absl::Status in_range = CheckCopyRange("copy from host", dst, dst_offset, bytes);
    if (!in_range.ok()) return in_range;
    if (bytes > 0) std::memcpy(static_cast<char*>(dst.raw()) + dst_offset, src, bytes);
    return absl::OkStatus();
  }

  absl::Status CopyToHost(const Tensor& src, size_t src_offset, size_t bytes, void* dst) override {
    absl::Status in_range = CheckCopyRange("copy to host", src, src_offset, bytes);
    if (!in_range.ok()) return in_range;
    if (bytes > 0) std::memcpy(dst, static_cast<const char*>(src.raw()) + src_offset, bytes);
    return absl::OkStatus();
  }

  bool HostAddressable() const override { return true; }

  absl::Status Run(const core::Node& node, absl::Span<const Tensor> inputs,
                   const Tensor& out) override {
    const cpu::KernelTable& kernels = cpu::CpuKernels();
    auto it = kernels.find(node.op);
    if (it == kernels.end()) {
      return absl::UnimplementedError(absl::StrCat("[", node.op, "] has no CPU kernel"));
    }
    // Kernels trust types; a mismatch here is the caller's bug, refused before it can
    // write past a buffer.
    if (out.type != node.out || out.storage == nullptr ||
        out.offset + out.nbytes() > out.storage->size()) {
      return absl::InternalError(
          absl::StrCat("[", node.op, "] output tensor ", core::TypeToString(out.type),
                       " does not match the node's type ", core::TypeToString(node.out)));
    }
    for (const Tensor& input : inputs) {
      if (input.storage == nullptr || input.offset + input.nbytes() > input.storage->size()) {
        return absl::InternalError(
            absl::StrCat("[", node.op, "] an input tensor has no storage or overruns it"));
      }
    }
    const cpu::ScratchBudget scratch(budget_.get());  // what the kernel takes for itself
    return it->second(node, inputs, out);
  }

  bool SupportsFusion() const override { return true; }

  std::shared_ptr<const CompiledFused> CompileFused(const FusedExpr& fused) const override {
    return cpu::CompileFused(fused);
  }

  absl::Status RunFused(const FusedExpr& fused, absl::Span<const Tensor> inputs,
                        const Tensor& out) override {
    return cpu::RunFused(fused, inputs, out);
  }

 private:
  std::shared_ptr<MemoryBudget> budget_;
  std::shared_ptr<BlockCache> cache_;
  DeviceFacts facts_;
};

}  // namespace

namespace cpu {

const KernelTable& CpuKernels() {
  static const KernelTable* const table = [] {
    auto* t = new KernelTable;
    RegisterUnaryKernels(*t);
    RegisterBinaryKernels(*t);
    RegisterWhereKernels(*t);
    RegisterAstypeKernels(*t);
    RegisterReduceKernels(*t);
    RegisterMatmulKernels(*t);
    RegisterGatherMmKernels(*t);
    RegisterLayoutKernels(*t);
    RegisterSoftmaxKernels(*t);
    RegisterGeneratorKernels(*t);
    RegisterRandomKernels(*t);
    RegisterScanKernels(*t);  // part A
    RegisterIndexingKernels(*t);
    RegisterSortKernels(*t);
    RegisterConvolutionKernels(*t);
    RegisterQuantizedKernels(*t);
    RegisterLinalgKernels(*t);
    RegisterComplexKernels(*t);
    RegisterFftKernels(*t);
    RegisterGatedDeltaKernels(*t);
    RegisterGatedDeltaVjpKernels(*t);
    return t;
  }();
  return *table;
}

}  // namespace cpu

std::unique_ptr<Backend> MakeCpuBackend(int64_t memory_limit_bytes) {
  return std::make_unique<CpuBackend>(memory_limit_bytes);
}

}  // namespace ferry::kernels
