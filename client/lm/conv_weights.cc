#include "client/lm/conv_weights.h"

#include "absl/strings/match.h"
#include "client/ops.h"

namespace ferry::lm {

nn::Parameters sanitize_conv_weights(nn::Parameters weights, const std::string& suffix) {
  for (auto& [name, array] : weights) {
    if (absl::EndsWith(name, suffix) && array.ndim() == 3 && array.shape(1) == 1 &&
        array.shape(2) > 1) {
      array = moveaxis(array, 2, 1);
    }
  }
  return weights;
}

}  // namespace ferry::lm
