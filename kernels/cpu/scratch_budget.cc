#include "kernels/cpu/scratch_budget.h"

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

}  // namespace ferry::kernels::cpu
