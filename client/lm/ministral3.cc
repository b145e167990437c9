#include "client/lm/ministral3.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"

namespace ferry::lm {

nn::Parameters Ministral3::sanitize(nn::Parameters weights) const {
  const std::string suffix = "_scale_inv";
  std::map<std::string, Array> scales;
  for (const auto& [name, array] : weights) {
    if (absl::EndsWith(name, suffix)) {
      scales.emplace(name.substr(0, name.size() - suffix.size()), array);
    }
  }
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::EndsWith(name, suffix) || absl::StrContains(name, "activation_scale") ||
        (args().tie_word_embeddings && name == "lm_head.weight")) {
      continue;
    }
    auto scale = scales.find(name);
    if (scale != scales.end()) {
      kept.emplace_back(name, array * scale->second);
      scales.erase(scale);
    } else {
      kept.emplace_back(std::move(name), std::move(array));
    }
  }
  if (!scales.empty()) {
    detail::ThrowOpError("load_model",
                         absl::StrCat("the checkpoint has ", scales.begin()->first, suffix,
                                      " but lacks ", scales.begin()->first, "."));
  }
  return kept;
}

}  // namespace ferry::lm
