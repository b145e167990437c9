#include "kernels/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels {
namespace {

constexpr size_t kAlignment = 64;  // a cache line, and enough for any SIMD load

// Host memory that gives its bytes back to the budget when the last tensor using it goes.
// Holds the budget by shared_ptr so tensors may outlive the backend.
class CpuStorage : public Storage {
 public:
  CpuStorage(void* data, size_t size, std::shared_ptr<MemoryBudget> budget)
      : Storage(data, size), budget_(std::move(budget)) {}
  ~CpuStorage() override {
    std::free(data());
    budget_->Return(static_cast<int64_t>(size()));
  }

 private:
  std::shared_ptr<MemoryBudget> budget_;
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
      : budget_(std::make_shared<MemoryBudget>(memory_limit_bytes)) {
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
    void* data = std::aligned_alloc(kAlignment, padded);
    if (data == nullptr) {
      budget_->Return(static_cast<int64_t>(bytes));
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", bytes, " bytes of host memory"));
    }
    Tensor tensor;
    tensor.type = type;
    tensor.storage = std::make_shared<CpuStorage>(data, bytes, budget_);
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
    return it->second(node, inputs, out);
  }

  bool SupportsFusion() const override { return true; }

  absl::Status RunFused(const FusedExpr& fused, absl::Span<const Tensor> inputs,
                        const Tensor& out) override {
    return cpu::RunFused(fused, inputs, out);
  }

 private:
  std::shared_ptr<MemoryBudget> budget_;
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
    RegisterLayoutKernels(*t);
    RegisterSoftmaxKernels(*t);
    RegisterGeneratorKernels(*t);
    RegisterRandomKernels(*t);
    return t;
  }();
  return *table;
}

}  // namespace cpu

std::unique_ptr<Backend> MakeCpuBackend(int64_t memory_limit_bytes) {
  return std::make_unique<CpuBackend>(memory_limit_bytes);
}

}  // namespace ferry::kernels
