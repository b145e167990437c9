#include "client/lm/mimo.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"

namespace ferry::lm {

nn::Parameters Mimo::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if ((args().tie_word_embeddings && name == "lm_head.weight") ||
        absl::StrContains(name, "self_attn.rotary_emb.inv_freq") ||
        absl::StartsWith(name, "model.mtp_layers.")) {
      continue;
    }
    kept.emplace_back(name, std::move(array));
  }
  return kept;
}

}  // namespace ferry::lm
