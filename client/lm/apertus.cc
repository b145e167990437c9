#include "client/lm/apertus.h"

#include <utility>

#include "absl/strings/match.h"
#include "client/ops.h"

namespace ferry::lm {

ApertusMlp::ApertusMlp(const ModelArgs& args)
    : up_proj_(register_module(
          "up_proj", nn::Linear(args.hidden_size, args.intermediate_size, args.mlp_bias))),
      down_proj_(register_module(
          "down_proj", nn::Linear(args.intermediate_size, args.hidden_size, args.mlp_bias))),
      act_fn_(register_module("act_fn", nn::XieLU())) {}

Array ApertusMlp::operator()(const Array& x) { return down_proj_(act_fn_(up_proj_(x))); }

Apertus::Apertus(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int) {
        return TransformerBlock(a, "mlp", ApertusMlp(a),
                                {"attention_layernorm", "feedforward_layernorm"});
      }) {}

nn::Parameters Apertus::sanitize(nn::Parameters weights) const {
  for (auto& [name, weight] : weights) {
    if (absl::EndsWith(name, "alpha_p") || absl::EndsWith(name, "alpha_n")) {
      weight = reshape(weight, {});
    }
  }
  return weights;
}

}  // namespace ferry::lm
