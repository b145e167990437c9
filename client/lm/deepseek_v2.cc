#include "client/lm/deepseek_v2.h"

#include <tuple>

#include "client/lm/attention.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"

namespace ferry::lm {

DeepseekV2Attention::DeepseekV2Attention(const ModelArgs& args)
    : MlaProjections(args),
      kv_b_proj_(register_module(
          "kv_b_proj", nn::Linear(kv_lora_rank_, heads_ * (nope_dims_ + v_head_dim_), false))) {}

Array DeepseekV2Attention::operator()(const Array& x, const std::optional<Array>& mask,
                                      KVCache* cache, const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const Projected p = Project(x, cache, position);
  const Array kv =
      transpose(reshape(kv_b_proj_(p.latent), {batch, length, heads_, -1}), {0, 2, 1, 3});
  const Array k_pe = broadcast_to(p.k_pe, {batch, heads_, length, rope_dims_});
  Array keys = concatenate({slice_last_axis(kv, 0, nope_dims_), k_pe}, -1);
  Array values = slice_last_axis(kv, nope_dims_, nope_dims_ + v_head_dim_);
  const Array queries = concatenate({p.q_nope, p.q_pe}, -1);
  return Output(attention(queries, keys, values, cache, position, scale_, mask));
}

std::pair<Array, Array> deepseek_v2_select(const Array& gates, int top_k, int n_group,
                                           int topk_group, float routed_scaling_factor) {
  Array scores = softmax(gates, -1);
  if (n_group > 1) {
    Shape grouped = scores.shape();
    grouped.back() = n_group;
    grouped.push_back(scores.shape(-1) / n_group);
    const Array split = reshape(scores, grouped);
    // A group's score: its best one.
    scores =
        flatten(zero_weakest_groups(split, max(split, -1, /*keepdims=*/true), topk_group), -2, -1);
  }
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-scores, top_k - 1, -1), 0, top_k));
  return {indices, take_along_axis(scores, indices, -1) * routed_scaling_factor};
}

}  // namespace ferry::lm
