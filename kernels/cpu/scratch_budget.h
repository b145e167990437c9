#ifndef FERRY_KERNELS_CPU_SCRATCH_BUDGET_H_
#define FERRY_KERNELS_CPU_SCRATCH_BUDGET_H_

// Host memory a CPU kernel takes for itself while it runs, where it grows with the operands
// (an FFT line's buffers: up to 28 times the line's output by Bluestein's algorithm), counted
// against the backend's budget as tensors are: a graph cannot take the machine's memory
// through a kernel's scratch, it gets RESOURCE_EXHAUSTED.

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/tensor.h"

namespace ferry::kernels::cpu {

// Makes `budget` the one ReserveScratch takes from on this thread while it lives
// (CpuBackend::Run, around each kernel).
class ScratchBudget {
 public:
  explicit ScratchBudget(MemoryBudget* budget);
  ~ScratchBudget();
  ScratchBudget(const ScratchBudget&) = delete;
  ScratchBudget& operator=(const ScratchBudget&) = delete;

 private:
  MemoryBudget* const outer_;
};

// Bytes taken from a budget, returned when it goes.
class ScratchReservation {
 public:
  ScratchReservation(MemoryBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}
  ScratchReservation(ScratchReservation&& other) noexcept
      : budget_(other.budget_), bytes_(other.bytes_) {
    other.budget_ = nullptr;
  }
  ScratchReservation& operator=(ScratchReservation&&) = delete;
  ~ScratchReservation() {
    if (budget_ != nullptr) budget_->Return(bytes_);
  }

 private:
  MemoryBudget* budget_;
  int64_t bytes_;
};

// `bytes` of the budget of the backend running the kernel on this thread (none counted for
// a kernel called outside a backend); RESOURCE_EXHAUSTED naming `op` and the sizes when they
// do not fit.
absl::StatusOr<ScratchReservation> ReserveScratch(absl::string_view op, int64_t bytes);

// Transient host memory for a kernel (a converted copy of an operand, a result before it is
// rounded), counted against the running backend's budget while it lives.
class HostScratch {
 public:
  // `bytes` of memory (at least 1), or RESOURCE_EXHAUSTED naming `op` as ReserveScratch.
  // Takes the place of what an earlier Take gave.
  absl::StatusOr<void*> Take(absl::string_view op, int64_t bytes);

 private:
  std::optional<ScratchReservation> reserved_;
  std::unique_ptr<char[]> bytes_;
};

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_SCRATCH_BUDGET_H_
