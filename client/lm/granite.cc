#include "client/lm/granite.h"

#include "absl/strings/match.h"

namespace ferry::lm {

std::optional<std::pair<int, int>> Granite::own_quantization(const std::string& path) const {
  // Their blocks' absolute maxima are small enough to underflow low-bit scales (mlx-lm's).
  if (absl::EndsWith(path, "self_attn.o_proj") || absl::EndsWith(path, "mlp.down_proj") ||
      path == "lm_head") {
    return kRouterQuantization;
  }
  return std::nullopt;
}

}  // namespace ferry::lm
