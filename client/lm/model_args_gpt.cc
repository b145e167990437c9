// ModelArgs::from_json's readers for GPT-2, GPT-NeoX (Pythia) and GPT-BigCode (StarCoder 1,
// SantaCoder): each as mlx-lm's ModelArgs reads config.json, under the names ferry::lm's
// other families use (n_embd as hidden_size, n_layer as num_hidden_layers, and so on).
#include <string>

#include "absl/strings/str_cat.h"
#include "client/lm/model_args_internal.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

namespace {

// Heads that fill hidden_size exactly (mlx-lm's gpt2 and gpt_neox assert it; gpt_bigcode's
// c_proj needs it too), then the sizes every model needs.
void CheckHeadsFill(const ModelArgs& args) {
  if (args.num_attention_heads > 0 && args.hidden_size % args.num_attention_heads != 0) {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's hidden size (", args.hidden_size,
                                                   ") is not a multiple of its attention heads (",
                                                   args.num_attention_heads, ")."));
  }
  CheckSizes(args);
}

// GPT-2's and GPT-BigCode's names: n_embd, n_layer, n_head, n_positions, layer_norm_epsilon
// and vocab_size, required.
void ReadGptSizes(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "n_embd");
  args.num_hidden_layers = Required<int>(config, "n_layer");
  args.num_attention_heads = Required<int>(config, "n_head");
  args.max_position_embeddings = Required<int64_t>(config, "n_positions");
  args.rms_norm_eps = Required<float>(config, "layer_norm_epsilon");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.layer_norm = args.layer_norm_bias = true;
}

}  // namespace

// mlx-lm's gpt2 ModelArgs: every field required (n_ctx too, unread after). One key/value
// head per query head whatever num_key_value_heads says, every projection biased, an MLP 4 *
// n_embd wide, the output the embedding.
void ReadGpt2(const json& config, ModelArgs& args) {
  ReadGptSizes(config, args);
  Required<int64_t>(config, "n_ctx");
  args.num_key_value_heads = args.num_attention_heads;
  args.intermediate_size = 4 * args.hidden_size;
  args.attention_bias = args.output_bias = args.mlp_bias = true;
  args.tie_word_embeddings = true;
  CheckHeadsFill(args);
}

// mlx-lm's gpt_bigcode ModelArgs: the sizes and n_inner required. One key/value head where
// multi_query (its default), else one per query head, whatever num_key_value_heads says;
// c_attn and c_proj biased where attention_bias, the MLP where mlp_bias (both by default);
// tied unless tie_word_embeddings is false.
void ReadGptBigCode(const json& config, ModelArgs& args) {
  ReadGptSizes(config, args);
  args.intermediate_size = Required<int64_t>(config, "n_inner");
  args.num_key_value_heads =
      Optional<bool>(config, "multi_query", true) ? 1 : args.num_attention_heads;
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", true);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", true);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  CheckHeadsFill(args);
}

// mlx-lm's gpt_neox ModelArgs: every field required but use_parallel_residual (true). One
// key/value head per query head, query_key_value and dense biased, an MLP 4 * hidden_size
// wide whatever intermediate_size says, RoPE (rotary_emb_base) over the first
// int(head_dim * rotary_pct) features, its own embed_out.
void ReadGptNeox(const json& config, ModelArgs& args) {
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.rms_norm_eps = Required<float>(config, "layer_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.rope_theta = Required<float>(config, "rotary_emb_base");
  args.partial_rotary_factor = Required<float>(config, "rotary_pct");
  args.parallel_residual = Optional<bool>(config, "use_parallel_residual", true);
  args.num_key_value_heads = args.num_attention_heads;
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.intermediate_size = 4 * args.hidden_size;
  args.attention_bias = args.output_bias = args.mlp_bias = true;
  args.layer_norm = args.layer_norm_bias = true;
  args.tie_word_embeddings = false;
  CheckHeadsFill(args);
  const int64_t rotated = static_cast<int64_t>(static_cast<double>(args.head_dim) *
                                               static_cast<double>(args.partial_rotary_factor));
  if (rotated <= 0 || rotated > args.head_dim || rotated % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rotary_pct gives ", rotated, " rotated features of head_dim ",
                      args.head_dim, "; they must be even, 2 or more, at most head_dim."));
  }
}

}  // namespace ferry::lm::internal
