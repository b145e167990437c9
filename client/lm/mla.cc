#include "client/lm/mla.h"

#include <cmath>

#include "client/lm/switch_layers.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::lm {
namespace {

float Scale(const ModelArgs& args) {
  double scale =
      1.0 / std::sqrt(static_cast<double>(args.qk_nope_head_dim + args.qk_rope_head_dim));
  // Youtu-LLM's is q_head_dim^-0.5 whatever its yarn says.
  if (args.model_type == "youtu_llm") return static_cast<float>(scale);
  const auto all_dim = args.rope_scaling.find("mscale_all_dim");
  const auto factor = args.rope_scaling.find("factor");
  if (all_dim != args.rope_scaling.end() && all_dim->second != 0 &&
      factor != args.rope_scaling.end() && factor->second > 1) {
    const double s = 0.1 * all_dim->second * std::log(factor->second) + 1.0;
    scale = scale * s * s;
  }
  return static_cast<float>(scale);
}

// mlx-lm's DeepSeek norms the latent with eps 1e-6, its Kimi Linear, GLM-4.7-Flash and
// Youtu-LLM with rms_norm_eps.
float LatentNormEps(const ModelArgs& args) {
  // MiniCPM3's and LongCat-Flash's: nn.RMSNorm's default.
  if (args.model_type == "minicpm3" || args.model_type == "longcat_flash") return 1e-5f;
  return args.model_type == "kimi_linear" || args.model_type == "glm4_moe_lite" ||
                 args.model_type == "youtu_llm"
             ? args.rms_norm_eps
             : 1e-6f;
}

}  // namespace

MultiLinear::MultiLinear(int64_t input_dims, int64_t output_dims, int64_t num_heads) {
  const double scale = std::sqrt(1.0 / static_cast<double>(input_dims));
  register_parameter("weight",
                     random::uniform({num_heads, output_dims, input_dims}, float32, -scale, scale));
}

Array MultiLinear::operator()(const Array& x, bool transpose) {
  const Array& weight = parameter("weight");
  if (const std::optional<nn::Quantization>& q = quantization()) {
    return quantized_matmul(x, weight, parameter("scales"), quantized_biases(), transpose,
                            q->group_size, q->bits, q->mode);
  }
  return matmul(x, transpose ? swapaxes(weight, -1, -2) : weight);
}

MlaProjections::MlaProjections(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      nope_dims_(args.qk_nope_head_dim),
      rope_dims_(args.qk_rope_head_dim),
      v_head_dim_(args.v_head_dim),
      kv_lora_rank_(args.kv_lora_rank),
      scale_(Scale(args)),
      kv_a_proj_with_mqa_(register_module(
          "kv_a_proj_with_mqa",
          nn::Linear(args.hidden_size, kv_lora_rank_ + rope_dims_, args.attention_bias))),
      kv_a_layernorm_(
          register_module("kv_a_layernorm", nn::RMSNorm(kv_lora_rank_, LatentNormEps(args)))),
      o_proj_(register_module(
          "o_proj", nn::Linear(heads_ * v_head_dim_, args.hidden_size, args.attention_bias))),
      rope_(rope_dims_, args),
      rotate_(args.rope),
      q_scale_(args.mla_q_scale),
      kv_scale_(args.mla_kv_scale) {
  if (args.llama_4_scaling) temperature_.emplace(args);
  const int64_t q_width = heads_ * (nope_dims_ + rope_dims_);
  if (args.q_lora_rank == 0) {
    q_proj_ = &register_module("q_proj", nn::Linear(args.hidden_size, q_width, false));
  } else {
    q_a_proj_ = &register_module(
        "q_a_proj", nn::Linear(args.hidden_size, args.q_lora_rank, args.attention_bias));
    // GLM-4.7-Flash's and Youtu-LLM's with rms_norm_eps, DeepSeek's with 1e-6.
    q_a_layernorm_ = &register_module(
        "q_a_layernorm",
        nn::RMSNorm(args.q_lora_rank,
                    args.model_type == "glm4_moe_lite" || args.model_type == "youtu_llm"
                        ? args.rms_norm_eps
                    // MiniCPM3's and LongCat-Flash's: nn.RMSNorm's default.
                    : args.model_type == "minicpm3" || args.model_type == "longcat_flash" ? 1e-5f
                                                                                          : 1e-6f));
    q_b_proj_ = &register_module("q_b_proj", nn::Linear(args.q_lora_rank, q_width, false));
  }
}

MlaProjections::Projected MlaProjections::Project(const Array& x, const KVCache* cache,
                                                  const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  std::optional<Array> qr;
  if (!q_proj_) qr = (*q_a_layernorm_)((*q_a_proj_)(x));
  const Array q_flat = q_proj_ ? (*q_proj_)(x) : (*q_b_proj_)(*qr);
  Array q =
      transpose(reshape(q_flat, {batch, length, heads_, nope_dims_ + rope_dims_}), {0, 2, 1, 3});
  // LongCat-Flash's mla_scale_q_lora, of both halves of the queries.
  if (q_scale_ != 0.0f) q = q * q_scale_;
  const Array compressed = kv_a_proj_with_mqa_(x);
  const Array k_pe =
      transpose(reshape(slice_last_axis(compressed, kv_lora_rank_, kv_lora_rank_ + rope_dims_),
                        {batch, length, 1, rope_dims_}),
                {0, 2, 1, 3});
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  auto rotated = [&](const Array& y) { return rotate_ ? rope_(y, at) : y; };
  Array q_nope = slice_last_axis(q, 0, nope_dims_);
  Array q_pe = rotated(slice_last_axis(q, nope_dims_, nope_dims_ + rope_dims_));
  if (temperature_) {
    q_nope = (*temperature_)(q_nope, at);
    q_pe = (*temperature_)(q_pe, at);
  }
  Array latent = kv_a_layernorm_(slice_last_axis(compressed, 0, kv_lora_rank_));
  if (kv_scale_ != 0.0f) latent = latent * kv_scale_;  // LongCat-Flash's mla_scale_kv_lora
  return {q_nope, q_pe, latent, rotated(k_pe), qr};
}

Array MlaProjections::Output(const Array& heads) {
  return o_proj_(reshape(transpose(heads, {0, 2, 1, 3}),
                         {heads.shape(0), heads.shape(2), heads_ * v_head_dim_}));
}

}  // namespace ferry::lm
