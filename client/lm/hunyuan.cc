#include "client/lm/hunyuan.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "client/ops.h"

namespace ferry::lm {

HunyuanMoeBlock::HunyuanMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      gate_(register_module("gate.wg", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp",
          SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))) {
  if (args.shared_expert_intermediate_size > 0) {
    shared_mlp_ =
        &register_module("shared_mlp", Mlp(args.hidden_size, args.shared_expert_intermediate_size));
  }
}

Array HunyuanMoeBlock::operator()(const Array& x) {
  const auto [indices, scores] = softmax_top_k(gate_(x), top_k_, /*normalize=*/false);
  const Array routed = switch_mlp_(x, indices);
  const Array y =
      astype(sum(routed * expand_dims(astype(scores, float32), -1), -2), routed.dtype());
  return shared_mlp_ ? y + (*shared_mlp_)(x) : y;
}

Hunyuan::Hunyuan(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        ModelArgs layer = a;
        layer.kv_proj = index % a.cla_share_factor == 0;
        if (a.num_experts == 1) return TransformerBlock(layer);
        return TransformerBlock(layer, "mlp", HunyuanMoeBlock(layer));
      }) {}

nn::Parameters Hunyuan::sanitize(nn::Parameters weights) const {
  bool fused = false;
  for (const auto& [name, weight] : weights) {
    fused = fused || name == "model.layers.0.mlp.gate_and_up_proj.weight";
  }
  if (fused) {
    const ModelArgs& a = args();
    const int64_t kv_heads = a.num_key_value_heads;
    const int64_t groups = a.num_attention_heads / kv_heads;
    const int64_t head_dim = a.hidden_size / a.num_attention_heads;
    nn::Parameters split;
    for (auto& [name, weight] : weights) {
      if (absl::StrContains(name, "qkv_proj")) {
        // Per key/value head: its `groups` query heads, its key head, its value head.
        const Array heads = reshape(weight, {kv_heads, groups + 2, head_dim, -1});
        const int64_t width = heads.shape(3);
        const std::pair<const char*, std::pair<int64_t, int64_t>> parts[] = {
            {"q_proj", {0, groups}},
            {"k_proj", {groups, groups + 1}},
            {"v_proj", {groups + 1, groups + 2}}};
        for (const auto& part : parts) {
          const Array piece = slice(heads, {0, part.second.first, 0, 0},
                                    {kv_heads, part.second.second, head_dim, width});
          split.emplace_back(absl::StrReplaceAll(name, {{"qkv_proj", part.first}}),
                             reshape(piece, {-1, width}));
        }
      } else if (absl::StrContains(name, "gate_and_up_proj")) {
        const int64_t rows = weight.shape(0) / 2;
        Shape start(weight.ndim(), 0), middle = weight.shape(), rest = start;
        middle[0] = rows;
        rest[0] = rows;
        split.emplace_back(absl::StrReplaceAll(name, {{"gate_and_up_proj", "up_proj"}}),
                           slice(weight, start, middle));
        split.emplace_back(absl::StrReplaceAll(name, {{"gate_and_up_proj", "gate_proj"}}),
                           slice(weight, rest, weight.shape()));
      } else {
        split.emplace_back(std::move(name), std::move(weight));
      }
    }
    weights = std::move(split);
  }
  return stack_experts(
      std::move(weights), args().num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

}  // namespace ferry::lm
