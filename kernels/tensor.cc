#include "kernels/tensor.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry::kernels {

absl::Status MemoryBudget::Reserve(int64_t bytes) {
  absl::Status reserved = TryReserve(bytes);
  if (reserved.ok() || !reclaimer_) return reserved;
  if (reclaimer_(bytes - (limit_ - in_use_.load())) <= 0) return reserved;
  return TryReserve(bytes);
}

absl::Status MemoryBudget::TryReserve(int64_t bytes) {
  int64_t used = in_use_.load();
  while (true) {
    if (bytes > limit_ - used) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes, " bytes: ", used,
                                                       " of ", limit_, " bytes are in use"));
    }
    if (in_use_.compare_exchange_weak(used, used + bytes)) {
      int64_t peak = peak_.load();
      while (used + bytes > peak && !peak_.compare_exchange_weak(peak, used + bytes)) {
      }
      return absl::OkStatus();
    }
  }
}

}  // namespace ferry::kernels
