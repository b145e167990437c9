#include "kernels/cpu/scratch_budget.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ferry::kernels::cpu {
namespace {

thread_local MemoryBudget* current_budget = nullptr;

}  // namespace

ScratchBudget::ScratchBudget(MemoryBudget* budget) : outer_(current_budget) {
  current_budget = budget;
}

ScratchBudget::~ScratchBudget() { current_budget = outer_; }

absl::StatusOr<ScratchReservation> ReserveScratch(absl::string_view op, int64_t bytes) {
  MemoryBudget* budget = current_budget;
  if (budget == nullptr) return ScratchReservation(nullptr, 0);
  if (absl::Status reserved = budget->Reserve(bytes); !reserved.ok()) {
    return absl::Status(reserved.code(),
                        absl::StrCat("[", op, "] scratch memory: ", reserved.message()));
  }
  return ScratchReservation(budget, bytes);
}

absl::StatusOr<void*> HostScratch::Take(absl::string_view op, int64_t bytes) {
  bytes_.reset();
  reserved_.reset();
  absl::StatusOr<ScratchReservation> reserved = ReserveScratch(op, bytes);
  if (!reserved.ok()) return reserved.status();
  reserved_.emplace(std::move(*reserved));
  bytes_.reset(new char[static_cast<size_t>(std::max<int64_t>(bytes, 1))]);
  return bytes_.get();
}

}  // namespace ferry::kernels::cpu
