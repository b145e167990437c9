// ModelArgs::from_json's readers for Llama and the models built on its layers (Mistral, Qwen 2 and
// 3 and their mixtures, SmolLM3, OLMo 2 and 3, Phi-3, Llama 4, Granite, Cohere 2, StarCoder 2,
// GLM-4, EXAONE 3 and 4, Seed-OSS, Apertus, Helium, InternLM2 and 3, Cohere, Phi, StableLM, MiMo,
// MiniCPM and MiniCPM3, Nemotron, Youtu-LLM, Nanbeige, TeleChat3, Baichuan-M1): each as mlx-lm's
// ModelArgs reads config.json.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/lm/model_args_internal.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

namespace {

// The experts of mixtral, qwen2_moe or qwen3_moe, with mlx-lm's defaults where it has them.
void ReadExperts(const json& config, ModelArgs& args) {
  const bool mixtral = args.model_type == "mixtral", qwen3 = args.model_type == "qwen3_moe";
  if (mixtral) {
    args.num_experts = Optional<int>(config, "num_local_experts", 8);
    args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 2);
  } else {
    args.num_experts = Required<int>(config, "num_experts");
    args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
    args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  }
  if (args.model_type == "qwen2_moe") {
    args.shared_expert_intermediate_size =
        Required<int64_t>(config, "shared_expert_intermediate_size");
  }
  if (qwen3) {
    args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", false);
    args.decoder_sparse_step = Optional<int>(config, "decoder_sparse_step", 1);
    args.mlp_only_layers = Optional<std::vector<int>>(config, "mlp_only_layers", {});
  }
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts || args.decoder_sparse_step <= 0 ||
      (!mixtral && args.moe_intermediate_size <= 0) ||
      (args.model_type == "qwen2_moe" && args.shared_expert_intermediate_size <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts (", args.num_experts, "), num_experts_per_tok (",
                      args.num_experts_per_tok,
                      "), decoder_sparse_step and the experts' sizes "
                      "must be positive, and num_experts_per_tok at most num_experts."));
  }
}

// mlx-lm's smollm3 ModelArgs: no_rope_layers as given, or 1 for every layer but each
// no_rope_layer_interval-th (4).
void ReadNoRopeLayers(const json& config, ModelArgs& args) {
  if (config.contains("no_rope_layers") && !config["no_rope_layers"].is_null()) {
    args.no_rope_layers = Required<std::vector<int>>(config, "no_rope_layers");
    if (args.no_rope_layers.size() != static_cast<size_t>(args.num_hidden_layers)) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's no_rope_layers holds ", args.no_rope_layers.size(),
                        " entries for ", args.num_hidden_layers, " layers."));
    }
    return;
  }
  const int interval = Optional<int>(config, "no_rope_layer_interval", 4);
  if (interval <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's no_rope_layer_interval must be positive.");
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    args.no_rope_layers.push_back((i + 1) % interval != 0 ? 1 : 0);
  }
}

// head_dim * partial_rotary_factor: the features RoPE rotates, even and at most head_dim.
void CheckRotated(const ModelArgs& args) {
  const int64_t rotated = static_cast<int64_t>(static_cast<double>(args.head_dim) *
                                               static_cast<double>(args.partial_rotary_factor));
  if (rotated <= 0 || rotated > args.head_dim || rotated % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's partial_rotary_factor gives ", rotated,
                      " rotated features of head_dim ", args.head_dim,
                      "; they must be even, 2 or more, at most head_dim."));
  }
}

}  // namespace

// mlx-lm's phi3 ModelArgs. rope_scaling must name its "type" and "long_factor"; "longrope"
// and "su" are SuScaledRoPE (with the top level's original_max_position_embeddings), "linear"
// divides the positions, and any other type is dropped with mlx-lm's warning (plain RoPE).
void ReadPhi3(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/false);
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  args.rope_theta = Optional<float>(config, "rope_theta", 1e4f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.partial_rotary_factor = Optional<float>(config, "partial_rotary_factor", 1.0f);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  CheckSizes(args);
  const int64_t rope_dims = static_cast<int64_t>(static_cast<double>(args.head_dim) *
                                                 static_cast<double>(args.partial_rotary_factor));
  if (rope_dims <= 0 || rope_dims > args.head_dim || rope_dims % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's partial_rotary_factor gives ", rope_dims,
                      " rotated features of ", args.head_dim, "; they must be even, 2 or more."));
  }
  if (!config.contains("rope_scaling") || !config["rope_scaling"].is_object()) return;
  const json& scaling = config["rope_scaling"];
  if (!scaling.contains("type") || !scaling.contains("long_factor")) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's rope_scaling must contain \"type\" and \"long_factor\".");
  }
  const std::string type = Required<std::string>(scaling, "type");
  if (type == "longrope" || type == "su") {
    args.rope_type = "longrope";
    args.rope_long_factor = scaling["long_factor"].is_array()
                                ? Required<std::vector<float>>(scaling, "long_factor")
                                : std::vector<float>(static_cast<size_t>(rope_dims / 2),
                                                     Required<float>(scaling, "long_factor"));
    if (static_cast<int64_t>(args.rope_long_factor.size()) != rope_dims / 2) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's rope_scaling long_factor has ", args.rope_long_factor.size(),
                        " numbers, not one per rotated pair (", rope_dims / 2, ")."));
    }
    args.rope_scaling["original_max_position_embeddings"] =
        static_cast<double>(Optional<int64_t>(config, "original_max_position_embeddings", 4096));
  } else if (type == "linear") {
    args.rope_type = "linear";
    args.rope_scaling["factor"] = Required<double>(scaling, "factor");
  }
}

// mlx-lm's llama4 TextArgs (under "text_config") and llama4_text ModelArgs: every field
// their dataclasses lack a default for required. Both rotate traditionally; llama4's RoPE
// follows rope_scaling (initialize_rope), llama4_text's is plain.
void ReadLlama4(const json& top, ModelArgs& args) {
  const bool text = args.model_type == "llama4_text";
  if (!text && (!top.contains("text_config") || !top["text_config"].is_object())) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"text_config\" (llama4's text model).");
  }
  const json& config = text ? top : top["text_config"];
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.intermediate_size_mlp = Required<int64_t>(config, "intermediate_size_mlp");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.rope_traditional = true;
  const bool qk_norm = Required<bool>(config, "use_qk_norm");
  CheckSizes(args);
  if (args.intermediate_size_mlp <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's intermediate_size_mlp must be positive.");
  }
  if (text) {
    args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
    args.no_rope_layers = Required<std::vector<int>>(config, "no_rope_layers");
    if (args.no_rope_layers.size() != static_cast<size_t>(args.num_hidden_layers)) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's no_rope_layers holds ", args.no_rope_layers.size(),
                        " entries for ", args.num_hidden_layers, " layers."));
    }
    args.weightless_qk_norm = qk_norm ? "before_rope" : "";
    return;
  }
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.attention_chunk_size = Required<int64_t>(config, "attention_chunk_size");
  args.interleave_moe_layer_step = Required<int>(config, "interleave_moe_layer_step");
  args.num_experts = Required<int>(config, "num_local_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.attn_temperature_tuning = Optional<int>(config, "attn_temperature_tuning", 4) != 0;
  args.floor_scale = Optional<float>(config, "floor_scale", 8192.0f);
  args.attn_scale = Optional<float>(config, "attn_scale", 0.1f);
  args.weightless_qk_norm = qk_norm ? "after_rope" : "";
  args.tie_word_embeddings = false;  // mlx-lm's LanguageModel always has its lm_head
  if (args.attention_chunk_size <= 0 || args.interleave_moe_layer_step <= 0 ||
      args.num_experts <= 0 || args.floor_scale <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's attention_chunk_size (", args.attention_chunk_size,
                      "), interleave_moe_layer_step (", args.interleave_moe_layer_step,
                      "), num_local_experts (", args.num_experts, ") and floor_scale (",
                      args.floor_scale, ") must be positive."));
  }
  if (args.num_experts_per_tok != 1) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok is ", args.num_experts_per_tok,
                      "; llama4 routes each token to 1 expert (as mlx-lm asserts)."));
  }
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args);
}

// mlx-lm's granite and granitemoe ModelArgs: every field without a default required (the
// multipliers too), head_dim hidden_size / num_attention_heads, attention_bias on all four
// projections, RoPE as initialize_rope makes it.
void ReadGranite(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.logits_scaling = Required<float>(config, "logits_scaling");
  args.attention_multiplier = Required<float>(config, "attention_multiplier");
  args.embedding_multiplier = Required<float>(config, "embedding_multiplier");
  args.residual_multiplier = Required<float>(config, "residual_multiplier");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.rope_theta = Required<float>(config, "rope_theta");
  if (args.model_type == "granitemoe") {
    args.num_experts = Required<int>(config, "num_local_experts");
    args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  } else {
    args.mlp_bias = Required<bool>(config, "mlp_bias");
  }
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  CheckSizes(args);
  if (args.logits_scaling == 0 || args.attention_multiplier <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's attention_multiplier (", args.attention_multiplier,
                      ") must be positive and logits_scaling (", args.logits_scaling, ") not 0."));
  }
  if (args.model_type == "granitemoe" && (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
                                          args.num_experts_per_tok > args.num_experts)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_local_experts (", args.num_experts, ")."));
  }
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
}

// mlx-lm's cohere2 ModelArgs: every field has its default. The heads must fill hidden_size
// (as mlx-lm raises), and the first global layer exist (mlx-lm takes its cache's mask).
void ReadCohere2(const json& config, ModelArgs& args) {
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 4096);
  args.head_dim = Optional<int64_t>(config, "head_dim", 128);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 14336);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 8);
  args.rope_theta = Optional<float>(config, "rope_theta", 50000.0f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 256000);
  args.rms_norm_eps = Optional<float>(config, "layer_norm_eps", 1e-5f);
  args.logit_scale = Optional<float>(config, "logit_scale", 0.0625f);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.layer_norm = true;
  args.layer_norm_bias = Optional<bool>(config, "layer_norm_bias", false);
  args.sliding_window = Optional<int64_t>(config, "sliding_window", 4096);
  args.sliding_window_pattern = Optional<int>(config, "sliding_window_pattern", 4);
  args.rope_traditional = true;
  args.tie_word_embeddings = true;
  CheckSizes(args);
  if (args.head_dim * args.num_attention_heads != args.hidden_size) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's head_dim (", args.head_dim, ") times num_attention_heads (",
                      args.num_attention_heads, ") is not hidden_size (", args.hidden_size, ")."));
  }
  if (args.sliding_window <= 0 || args.sliding_window_pattern <= 0 ||
      args.sliding_window_pattern > args.num_hidden_layers) {
    Fail(
        ErrorCode::kInvalidArgument,
        absl::StrCat("config.json's sliding_window (", args.sliding_window,
                     ") must be positive and sliding_window_pattern (", args.sliding_window_pattern,
                     ") from 1 to num_hidden_layers (", args.num_hidden_layers, ")."));
  }
}

// mlx-lm's starcoder2 ModelArgs: the sizes required, norm_epsilon, vocab_size, rope_theta
// and tie_word_embeddings its defaults; every projection biased, LayerNorms with bias, plain
// RoPE. It reads no sliding_window: every layer attends over every position.
void ReadStarcoder2(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.rms_norm_eps = Optional<float>(config, "norm_epsilon", 1e-5f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 49152);
  args.rope_theta = Optional<float>(config, "rope_theta", 100000.0f);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  args.attention_bias = args.output_bias = true;
  args.layer_norm = args.layer_norm_bias = true;
  CheckSizes(args);
}

// mlx-lm's cohere ModelArgs (Command-R): every field has its default. head_dim is
// hidden_size / heads (rounded down, as mlx-lm's), all four projections biased where
// attention_bias, LayerNorms biased where layer_norm_bias, use_qk_norm their LayerNorm per
// head (qk_norm), traditional RoPE in every layer, tied.
void ReadCohere(const json& config, ModelArgs& args) {
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 8192);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 40);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 22528);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 64);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 64);
  args.rope_theta = Optional<float>(config, "rope_theta", 8000000.0f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 256000);
  args.rms_norm_eps = Optional<float>(config, "layer_norm_eps", 1e-5f);
  args.logit_scale = Optional<float>(config, "logit_scale", 0.0625f);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.layer_norm_bias = Optional<bool>(config, "layer_norm_bias", false);
  args.qk_norm = Optional<bool>(config, "use_qk_norm", false);
  args.layer_norm = true;
  args.rope_traditional = true;
  args.tie_word_embeddings = true;
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  CheckSizes(args);
}

namespace {

// hidden_size / num_attention_heads, which must divide it (Phi's and StableLM's attention
// raise otherwise).
void ReadWholeHeads(ModelArgs& args) {
  if (args.num_attention_heads <= 0 || args.hidden_size % args.num_attention_heads != 0) {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's hidden_size (", args.hidden_size,
                                                   ") must be a multiple of num_attention_heads (",
                                                   args.num_attention_heads, ")."));
  }
  args.head_dim = args.hidden_size / args.num_attention_heads;
}

}  // namespace

// mlx-lm's phi ModelArgs (Phi-1.5, Phi-2): every field has its default; num_key_value_heads
// null is the query heads' (absent, its default 32). LayerNorms and every Linear biased, plain
// RoPE over int(head_dim * partial_rotary_factor) features, an lm_head of its own.
void ReadPhi(const json& config, ModelArgs& args) {
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 2048);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 51200);
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 2560);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.num_key_value_heads =
      config.contains("num_key_value_heads") && config["num_key_value_heads"].is_null()
          ? args.num_attention_heads
          : Optional<int>(config, "num_key_value_heads", 32);
  args.partial_rotary_factor = Optional<float>(config, "partial_rotary_factor", 0.4f);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 10240);
  args.rms_norm_eps = Optional<float>(config, "layer_norm_eps", 1e-5f);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.attention_bias = args.output_bias = args.mlp_bias = true;
  args.layer_norm = args.layer_norm_bias = true;
  args.tie_word_embeddings = false;
  ReadWholeHeads(args);
  CheckSizes(args);
  CheckRotated(args);
}

// mlx-lm's stablelm ModelArgs: every field required but use_parallel_residual and
// qk_layernorm (false). q, k and v biased where use_qkv_bias (o never), LayerNorms with bias,
// each head's queries and keys through a LayerNorm of its own where qk_layernorm (qk_norm),
// plain RoPE over int(head_dim * partial_rotary_factor) features, an lm_head of its own.
void ReadStablelm(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.attention_bias = Required<bool>(config, "use_qkv_bias");
  args.partial_rotary_factor = Required<float>(config, "partial_rotary_factor");
  args.rms_norm_eps = Required<float>(config, "layer_norm_eps");
  args.parallel_residual = Optional<bool>(config, "use_parallel_residual", false);
  args.qk_norm = Optional<bool>(config, "qk_layernorm", false);
  args.layer_norm = args.layer_norm_bias = true;
  args.tie_word_embeddings = false;
  ReadWholeHeads(args);
  CheckSizes(args);
  CheckRotated(args);
}

// mlx-lm's glm4 ModelArgs (GLM-4-0414): every field required but rope_traditional (true) and
// max_position_embeddings (32768); attention_bias biases q, k and v, not o. Plain RoPE over
// head_dim * partial_rotary_factor features whatever rope_scaling says; an lm_head of its own.
void ReadGlm4(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.attention_bias = Required<bool>(config, "attention_bias");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.partial_rotary_factor = Required<float>(config, "partial_rotary_factor");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.rope_traditional = Optional<bool>(config, "rope_traditional", true);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  args.sandwich_norms = true;
  args.tie_word_embeddings = false;
  CheckSizes(args);
  CheckRotated(args);
}

// mlx-lm's exaone4 ModelArgs: the sizes, rope_theta, head_dim and tie_word_embeddings
// required; q and k normalized per head, RoPE as rope_scaling says (not traditional). A
// sliding_window_pattern ("LLLG") repeats over the layers: its "L" layers attend over the
// last sliding_window positions with RoPE, its "G" layers over all of them without
// (no_rope_layers, layer_types). Without one every layer attends over all with RoPE.
void ReadExaone4(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  args.qk_norm = true;
  CheckSizes(args);
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
  if (!config.contains("sliding_window_pattern") || config["sliding_window_pattern"].is_null()) {
    return;
  }
  const json& pattern = config["sliding_window_pattern"];
  const std::string letters = pattern.is_string() ? pattern.get<std::string>() : "";
  if (letters.find_first_not_of("LG") != std::string::npos ||
      letters.find('L') == std::string::npos || letters.find('G') == std::string::npos) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sliding_window_pattern is ", pattern.dump(),
                      ", not a string of L (sliding) and G (global) holding both."));
  }
  args.sliding_window = Required<int64_t>(config, "sliding_window");
  if (args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    const bool local = letters[static_cast<size_t>(i) % letters.size()] == 'L';
    args.layer_types.push_back(local ? "sliding_attention" : "full_attention");
    args.no_rope_layers.push_back(local ? 1 : 0);
  }
}

// mlx-lm's seed_oss ModelArgs: the sizes and head_dim required, the rest its defaults. q, k
// and v biased where attention_bias, o where attention_out_bias, the MLP where mlp_bias,
// RoPE as rope_scaling says, tied unless tie_word_embeddings is false.
void ReadSeedOss(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.attention_bias = Optional<bool>(config, "attention_bias", false);
  args.output_bias = Optional<bool>(config, "attention_out_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's apertus ModelArgs: every field required but rope_traditional and rope_scaling.
// head_dim hidden_size / heads; no attention biases whatever attention_bias says, the MLP's
// where mlp_bias; q and k normalized per head and no norms after attention and the MLP,
// whatever qk_norm and post_norm say; RoPE as rope_scaling says.
void ReadApertus(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.mlp_bias = Required<bool>(config, "mlp_bias");
  Required<bool>(config, "attention_bias");
  Required<bool>(config, "post_norm");
  Required<bool>(config, "qk_norm");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.qk_norm = true;
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's helium ModelArgs: every field required. head_dim hidden_size / heads whatever the
// config's says; q, k and v biased where attention_bias (o never), the MLP where mlp_bias;
// traditional plain RoPE.
void ReadHelium(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.attention_bias = Required<bool>(config, "attention_bias");
  Required<int64_t>(config, "head_dim");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.mlp_bias = Required<bool>(config, "mlp_bias");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.rope_traditional = true;
  CheckSizes(args);
}

// mlx-lm's internlm3 ModelArgs: the sizes required, the rest its defaults. head_dim
// hidden_size / heads; q, k, v and o biased where qkv_bias, the MLP where bias. rope_scaling,
// where given, needs factor and rope_type "linear" or "dynamic". mlx-lm's dynamic NTK RoPE is
// plain RoPE while a call's length and offset stay within max_position_embeddings, which is
// what ferry::lm builds for it (past that mlx-lm raises the base, per call, and this differs).
void ReadInternlm3(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/false);
  args.mlp_bias = Optional<bool>(config, "bias", false);
  args.attention_bias = args.output_bias = Optional<bool>(config, "qkv_bias", false);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  CheckSizes(args);
  json scaling = RopeScalingOf(config);
  if (scaling.empty()) return;
  const std::string type = Optional<std::string>(scaling, "rope_type", "");
  if (!scaling.contains("factor") || (type != "linear" && type != "dynamic")) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rope_scaling is ", scaling.dump(),
                      "; InternLM3's needs a factor and rope_type \"linear\" or \"dynamic\"."));
  }
  if (type == "dynamic") scaling = json::object();
  ReadRopeScaling(scaling, args);
}

// mlx-lm's llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe, smollm3, olmo2 and
// olmo3 ModelArgs: the sizes required, each family's own defaults and fixed choices.
void ReadLlama(const json& config, ModelArgs& args) {
  // The mixtures of experts take their attention from these (mlx-lm's mixtral is llama's
  // without biases, qwen2_moe's qwen2's, qwen3_moe's qwen3's).
  const bool mixtral = args.model_type == "mixtral";
  const bool qwen2 = args.model_type == "qwen2" || args.model_type == "qwen2_moe";
  const bool qwen3 = args.model_type == "qwen3" || args.model_type == "qwen3_moe";
  const bool moe = mixtral || args.model_type == "qwen2_moe" || args.model_type == "qwen3_moe";
  const bool olmo3 = args.model_type == "olmo3";  // olmo2's with sliding layers
  ReadLlamaSizes(config, args, /*kv_required=*/false);
  if (args.hidden_size <= 0 || args.num_hidden_layers <= 0 || args.intermediate_size <= 0 ||
      args.num_attention_heads <= 0 || args.vocab_size <= 0 || args.num_key_value_heads <= 0 ||
      args.num_attention_heads % args.num_key_value_heads != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sizes must be positive and num_attention_heads (",
                      args.num_attention_heads, ") a multiple of num_key_value_heads (",
                      args.num_key_value_heads, ")."));
  }
  // qwen2 and mixtral compute head_dim from the width whatever the config says; qwen3
  // requires it.
  args.head_dim =
      qwen3 ? Required<int64_t>(config, "head_dim")
      : qwen2 || mixtral
          ? args.hidden_size / args.num_attention_heads
          : Optional<int64_t>(config, "head_dim", args.hidden_size / args.num_attention_heads);
  if (qwen2) {
    args.attention_bias = true;
  } else if (!qwen3 && !mixtral) {
    args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
    args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  }
  args.qk_norm = qwen3;
  args.qk_norm_whole = args.model_type == "olmo2" || olmo3;
  args.max_position_embeddings =
      olmo3 ? Required<int64_t>(config, "max_position_embeddings")
            : Optional<int64_t>(config, "max_position_embeddings", qwen2 ? 32768 : 2048);
  // mlx-lm's qwen2_moe has its own lm_head whatever the config says.
  args.tie_word_embeddings =
      args.model_type != "qwen2_moe" &&
      Optional<bool>(config, "tie_word_embeddings", !qwen3 && !moe && !olmo3);
  args.rope_traditional = args.model_type != "qwen2" && !qwen3 && !olmo3 &&
                          Optional<bool>(config, "rope_traditional", false);

  // transformers 5 nests rope_theta and the scaling under rope_parameters.
  const json none = json::object();
  const json& parameters =
      config.contains("rope_parameters") && config["rope_parameters"].is_object()
          ? config["rope_parameters"]
          : none;
  // mlx-lm's mixtures of experts build plain RoPE whatever rope_scaling says.
  const json& scaling = moe ? none
                        : config.contains("rope_scaling") && config["rope_scaling"].is_object()
                            ? config["rope_scaling"]
                            : parameters;
  args.rope_theta =
      olmo3
          ? Required<float>(config, "rope_theta")
          : Optional<float>(config, "rope_theta",
                            Optional<float>(parameters, "rope_theta", qwen2 || moe ? 1e6f : 1e4f));
  ReadRopeScaling(scaling, args, /*yarn=*/olmo3);

  if (moe) ReadExperts(config, args);

  if (args.model_type == "smollm3") ReadNoRopeLayers(config, args);
  if (olmo3) {
    args.sliding_window = Required<int64_t>(config, "sliding_window");
    if (args.sliding_window <= 0) {
      Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
    }
    ReadLayerTypes(config, args, /*full_every=*/4, /*full_at=*/3);
  } else if (config.contains("layer_types") && config["layer_types"].is_array()) {
    // mlx-lm's llama runs layers named "sliding_attention" over a window, which ferry::lm's
    // Llama does not: full attention there would give other numbers.
    for (const json& type : config["layer_types"]) {
      if (type.is_string() && type.get<std::string>() != "full_attention") {
        Fail(ErrorCode::kUnimplemented,
             absl::StrCat("layer_types \"", type.get<std::string>(),
                          "\" is not built by ferry::lm (full_attention is)."));
      }
    }
  }
}

// mlx-lm's mimo ModelArgs (Xiaomi MiMo): the sizes and num_key_value_heads required, the rest
// its defaults. Qwen2's layers: head_dim hidden_size / heads, q, k and v biased (o and the MLP
// not), RoPE as initialize_rope makes it from rope_scaling, untied unless tie_word_embeddings.
// num_nextn_predict_layers' multi-token-prediction layers are not built (sanitize drops them).
void ReadMimo(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.attention_bias = true;
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's youtu_llm ModelArgs: every field has its default (num_key_value_heads unread: the
// latent is one head). DeepSeek V2's latent attention, keys and values cached whole, q_proj
// without q_lora_rank (null); RoPE (traditional unless rope_traditional is false) as
// rope_scaling says, scaled by q_head_dim^-0.5 alone; q_a_proj, kv_a_proj_with_mqa and o_proj
// biased where attention_bias, the MLP where mlp_bias; tied unless tie_word_embeddings false.
void ReadYoutuLlm(const json& config, ModelArgs& args) {
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 128256);
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 2048);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 6144);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 16);
  args.num_key_value_heads = args.num_attention_heads;
  args.kv_lora_rank = Optional<int64_t>(config, "kv_lora_rank", 512);
  args.q_lora_rank = config.contains("q_lora_rank") && config["q_lora_rank"].is_null()
                         ? 0
                         : Optional<int64_t>(config, "q_lora_rank", 1536);
  args.qk_rope_head_dim = Optional<int64_t>(config, "qk_rope_head_dim", 64);
  args.v_head_dim = Optional<int64_t>(config, "v_head_dim", 128);
  args.qk_nope_head_dim = Optional<int64_t>(config, "qk_nope_head_dim", 128);
  args.head_dim = args.qk_nope_head_dim + args.qk_rope_head_dim;
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.rope_theta = Optional<float>(config, "rope_theta", 1600000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", true);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  CheckSizes(args);
  if (args.kv_lora_rank <= 0 || args.q_lora_rank < 0 || args.qk_nope_head_dim <= 0 ||
      args.qk_rope_head_dim <= 0 || args.qk_rope_head_dim % 2 != 0 || args.v_head_dim <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's kv_lora_rank, qk_nope_head_dim, v_head_dim and an even qk_rope_head_dim "
         "must be positive, q_lora_rank not negative.");
  }
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's nanbeige ModelArgs: the sizes required, the rest its defaults. Llama's layers
// (head_dim hidden_size / heads when omitted; q, k, v and o biased where attention_bias, the
// MLP where mlp_bias; RoPE as rope_scaling says), run num_loops times, or once more than
// loop_loss_weights has entries where it has any. The reference's features without weights
// of their own are refused, as mlx-lm raises for them.
void ReadNanbeige(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  if (args.num_attention_heads > 0) {
    args.head_dim =
        Optional<int64_t>(config, "head_dim", args.hidden_size / args.num_attention_heads);
  }
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.skip_loop_final_norm = Optional<bool>(config, "skip_loop_final_norm", false);
  for (const char* key : {"enable_double_loop_split", "loop_share_kv", "enable_depth_attention"}) {
    if (Optional<bool>(config, key, false)) {
      Fail(ErrorCode::kUnimplemented,
           absl::StrCat("config.json's \"", key, "\" is not built by ferry::lm (nor by mlx-lm)."));
    }
  }
  const std::vector<float> weights = Optional<std::vector<float>>(config, "loop_loss_weights", {});
  args.num_loops = weights.empty() ? Optional<int>(config, "num_loops", 1)
                                   : static_cast<int>(weights.size()) + 1;
  if (args.num_loops <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's num_loops must be positive.");
  }
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's telechat3 ModelArgs: the sizes, max_position_embeddings and rope_theta required.
// Llama's layers: head_dim hidden_size / heads when omitted (or 0), q, k, v and o biased where
// attention_bias, the MLP where mlp_bias, RoPE as rope_scaling says (not traditional), an
// lm_head of its own unless tie_word_embeddings.
void ReadTelechat3(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's baichuan_m1 ModelArgs: every field required but num_swa_attention_heads,
// num_swa_key_value_heads (null or 0: the other layers') and tie_word_embeddings. The layers
// of sliding_window_layers attend over the last sliding_window positions (layer_types), each
// layer's heads hidden_size / heads wide; conv_window must be 2, as mlx-lm asserts. Its
// output is always lm_head, so a tied model (which mlx-lm builds without one) is refused.
void ReadBaichuanM1(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.rope_theta = Required<float>(config, "rope_theta");
  args.sliding_window = Required<int64_t>(config, "sliding_window");
  const std::vector<int> sliding = Required<std::vector<int>>(config, "sliding_window_layers");
  const int conv_window = Required<int>(config, "conv_window");
  args.num_swa_attention_heads = Optional<int>(config, "num_swa_attention_heads", 0);
  args.num_swa_key_value_heads = Optional<int>(config, "num_swa_key_value_heads", 0);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  if (conv_window != 2) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's conv_window is ", conv_window, "; Baichuan-M1's is 2."));
  }
  if (args.tie_word_embeddings) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's tie_word_embeddings is true: mlx-lm's baichuan_m1 then has no lm_head "
         "to compute its logits with.");
  }
  if (args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    const bool swa = std::find(sliding.begin(), sliding.end(), i) != sliding.end();
    args.layer_types.push_back(swa ? "sliding_attention" : "full_attention");
  }
  const int swa_heads =
      args.num_swa_attention_heads > 0 ? args.num_swa_attention_heads : args.num_attention_heads;
  const int swa_kv_heads =
      args.num_swa_key_value_heads > 0 ? args.num_swa_key_value_heads : args.num_key_value_heads;
  for (const auto& [heads, kv_heads] :
       {std::pair<int, int>{args.num_attention_heads, args.num_key_value_heads},
        std::pair<int, int>{swa_heads, swa_kv_heads}}) {
    if (heads <= 0 || kv_heads <= 0 || args.hidden_size % heads != 0 || heads % kv_heads != 0) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's hidden_size (", args.hidden_size,
                        ") must be a multiple of the heads (", heads,
                        ", num_attention_heads or num_swa_attention_heads), and they of the "
                        "key/value heads (",
                        kv_heads, ")."));
    }
  }
  args.head_dim = args.hidden_size / args.num_attention_heads;
  CheckSizes(args);
}

// mlx-lm's internlm2 ModelArgs: the sizes required (num_key_value_heads the query heads'
// where omitted), the rest its defaults. head_dim hidden_size / heads; wqkv and wo biased
// where `bias` (true). rope_scaling, where given, needs "factor" and "type" "linear" or
// "dynamic"; mlx-lm's dynamic NTK RoPE is plain RoPE within max_position_embeddings, which is
// what ferry::lm builds for it (as InternLM3's).
void ReadInternlm2(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/false);
  args.attention_bias = args.output_bias = Optional<bool>(config, "bias", true);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  CheckSizes(args);
  json scaling = RopeScalingOf(config);
  if (scaling.empty()) return;
  const std::string type = Optional<std::string>(scaling, "type", "");
  if (!scaling.contains("factor") || (type != "linear" && type != "dynamic")) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rope_scaling is ", scaling.dump(),
                      "; InternLM2's needs a factor and type \"linear\" or \"dynamic\"."));
  }
  if (type == "dynamic") scaling = json::object();
  ReadRopeScaling(scaling, args);
}

namespace {

// MiniCPM's and MiniCPM3's scales: the embeddings times scale_emb, what each layer adds times
// scale_depth / sqrt(num_hidden_layers), the hidden state divided by hidden_size /
// dim_model_base before lm_head (held in logits_scaling), all three required.
void ReadMiniCPMScales(const json& config, ModelArgs& args) {
  const int64_t dim_model_base = Required<int64_t>(config, "dim_model_base");
  const double scale_depth = Required<double>(config, "scale_depth");
  args.embedding_multiplier = static_cast<float>(Required<double>(config, "scale_emb"));
  if (dim_model_base <= 0 || args.num_hidden_layers <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's dim_model_base must be positive.");
  }
  args.residual_multiplier =
      static_cast<float>(scale_depth / std::sqrt(static_cast<double>(args.num_hidden_layers)));
  args.logits_scaling = static_cast<float>(static_cast<double>(args.hidden_size) /
                                           static_cast<double>(dim_model_base));
}

}  // namespace

// mlx-lm's minicpm ModelArgs: the sizes, dim_model_base, scale_depth and scale_emb required,
// the rest its defaults (rope_theta 1e6, an lm_head of its own). head_dim hidden_size /
// heads; no biases; RoPE as rope_scaling says.
void ReadMinicpm(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.rope_theta = Optional<float>(config, "rope_theta", 1e6f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  CheckSizes(args);
  ReadMiniCPMScales(config, args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's minicpm3 ModelArgs: the sizes, the latent's (q_lora_rank, qk_nope_head_dim,
// qk_rope_head_dim, kv_lora_rank), max_position_embeddings and MiniCPM's scales required,
// num_key_value_heads too (unused: every head is cached). v_head_dim hidden_size / heads;
// q_a_proj, kv_a_proj_with_mqa and o_proj biased where attention_bias. rope_scaling is
// required: SuScaledRoPE over qk_rope_head_dim features, of its long_factor (a number or one
// per pair) and original_max_position_embeddings (4096), whatever its type says.
void ReadMinicpm3(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.q_lora_rank = Required<int64_t>(config, "q_lora_rank");
  args.qk_nope_head_dim = Required<int64_t>(config, "qk_nope_head_dim");
  args.qk_rope_head_dim = Required<int64_t>(config, "qk_rope_head_dim");
  args.kv_lora_rank = Required<int64_t>(config, "kv_lora_rank");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.attention_bias = Optional<bool>(config, "attention_bias", false);
  args.rope_theta = Optional<float>(config, "rope_theta", 1e6f);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.num_key_value_heads = args.num_attention_heads;
  args.head_dim = args.qk_nope_head_dim + args.qk_rope_head_dim;
  if (args.num_attention_heads > 0) args.v_head_dim = args.hidden_size / args.num_attention_heads;
  CheckSizes(args);
  if (args.q_lora_rank <= 0 || args.kv_lora_rank <= 0 || args.qk_nope_head_dim <= 0 ||
      args.qk_rope_head_dim <= 0 || args.qk_rope_head_dim % 2 != 0 || args.v_head_dim <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's q_lora_rank, kv_lora_rank, qk_nope_head_dim and an even "
         "qk_rope_head_dim must be positive, hidden_size at least num_attention_heads.");
  }
  ReadMiniCPMScales(config, args);
  if (!config.contains("rope_scaling") || !config["rope_scaling"].is_object()) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json lacks \"rope_scaling\", which MiniCPM3's SuScaledRoPE reads.");
  }
  const json& scaling = config["rope_scaling"];
  args.rope_type = "longrope";
  args.rope_scaling = {{"original_max_position_embeddings",
                        Optional<double>(scaling, "original_max_position_embeddings", 4096)}};
  const size_t pairs = static_cast<size_t>(args.qk_rope_head_dim / 2);
  std::vector<float> long_factor =
      scaling.contains("long_factor") && scaling["long_factor"].is_array()
          ? Required<std::vector<float>>(scaling, "long_factor")
          : std::vector<float>{Optional<float>(scaling, "long_factor", 1.0f)};
  if (long_factor.size() == 1) long_factor.resize(pairs, long_factor[0]);  // broadcast
  if (long_factor.size() != pairs) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rope_scaling long_factor has ", long_factor.size(),
                      " entries for qk_rope_head_dim / 2 (", pairs, ")."));
  }
  args.rope_long_factor = long_factor;
}

// mlx-lm's nemotron ModelArgs: the sizes, hidden_act (unread: the MLP is relu2's) and
// norm_eps required, the rest its defaults. head_dim hidden_size / heads where null or 0; all
// four projections biased where attention_bias, the MLP where mlp_bias; RoPE over
// int(head_dim * partial_rotary_factor) (0.5) features, never traditional; rope_scaling,
// where given, must be {"type": "linear", "factor": a float} (mlx-lm reads "type" and
// asserts the float).
void ReadNemotron(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  Required<std::string>(config, "hidden_act");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.partial_rotary_factor = Optional<float>(config, "partial_rotary_factor", 0.5f);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  CheckSizes(args);
  CheckRotated(args);
  const json scaling = RopeScalingOf(config);
  if (scaling.empty()) return;
  if (Optional<std::string>(scaling, "type", "") != "linear" || !scaling.contains("factor") ||
      !scaling["factor"].is_number_float()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rope_scaling is ", scaling.dump(),
                      "; Nemotron's needs type \"linear\" and a float factor."));
  }
  ReadRopeScaling(scaling, args);
}

// mlx-lm's exaone ModelArgs (EXAONE 3, 3.5): the sizes (num_layers, layer_norm_epsilon),
// rope_theta and num_key_value_heads required, the rest its defaults (tied). head_dim
// hidden_size / heads where omitted; heads * head_dim must be hidden_size (mlx-lm reshapes
// attention's output to it). q, k, v and out_proj biased where attention_bias, the MLP where
// mlp_bias; RoPE as rope_scaling says.
void ReadExaone(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.rms_norm_eps = Required<float>(config, "layer_norm_epsilon");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  CheckSizes(args);
  if (args.num_attention_heads * args.head_dim != args.hidden_size) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's head_dim (", args.head_dim, ") times num_attention_heads (",
                      args.num_attention_heads, ") is not hidden_size (", args.hidden_size,
                      "), as EXAONE's attention needs."));
  }
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's openelm ModelArgs (Apple's OpenELM): head_dim, num_transformer_layers, model_dim,
// vocab_size, ffn_dim_divisor and the per-layer lists num_query_heads, num_kv_heads and
// ffn_multipliers required (mlx-lm reads entry i for layer i; entries past the layers are
// unread); layer i's MLP make_divisible(ffn_multipliers[i] * model_dim, ffn_dim_divisor) wide,
// a GLU whatever ffn_with_glu says (mlx-lm's always is); q/k norms per head unless
// normalize_qk_projections is false; plain RoPE of rope_freq_constant; tied unless
// share_input_output_layers is false.
void ReadOpenelm(const json& config, ModelArgs& args) {
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.num_hidden_layers = Required<int>(config, "num_transformer_layers");
  args.hidden_size = Required<int64_t>(config, "model_dim");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  const int64_t divisor = Required<int64_t>(config, "ffn_dim_divisor");
  auto heads = Required<std::vector<int>>(config, "num_query_heads");
  auto kv_heads = Required<std::vector<int>>(config, "num_kv_heads");
  const auto multipliers = Required<std::vector<double>>(config, "ffn_multipliers");
  args.qk_norm = Optional<bool>(config, "normalize_qk_projections", true);
  args.tie_word_embeddings = Optional<bool>(config, "share_input_output_layers", true);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.rope_theta = Optional<float>(config, "rope_freq_constant", 10000.0f);
  const size_t layers = static_cast<size_t>(std::max(args.num_hidden_layers, 0));
  if (heads.size() < layers || kv_heads.size() < layers || multipliers.size() < layers) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_query_heads (", heads.size(), "), num_kv_heads (",
                      kv_heads.size(), ") and ffn_multipliers (", multipliers.size(),
                      ") need an entry for each of num_transformer_layers (",
                      args.num_hidden_layers, ")."));
  }
  if (divisor <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's ffn_dim_divisor must be positive.");
  }
  heads.resize(layers);
  kv_heads.resize(layers);
  args.intermediate_sizes.clear();
  for (size_t i = 0; i < layers; ++i) {
    // mlx-lm's make_divisible: the nearest multiple of the divisor, at least the divisor, and
    // not under 90% of the value.
    const double v = multipliers[i] * static_cast<double>(args.hidden_size);
    int64_t width = std::max<int64_t>(
        divisor, static_cast<int64_t>(v + static_cast<double>(divisor) / 2.0) / divisor * divisor);
    if (static_cast<double>(width) < 0.9 * v) width += divisor;
    args.intermediate_sizes.push_back(width);
    if (heads[i] <= 0 || kv_heads[i] <= 0 || heads[i] % kv_heads[i] != 0) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's num_query_heads[", i, "] (", heads[i],
                        ") must be a positive multiple of num_kv_heads[", i, "] (", kv_heads[i],
                        ")."));
    }
  }
  args.layer_num_attention_heads = heads;
  args.layer_num_key_value_heads = kv_heads;
  args.num_attention_heads = heads.empty() ? 0 : heads.front();
  args.num_key_value_heads = kv_heads.empty() ? 0 : kv_heads.front();
  args.intermediate_size = args.intermediate_sizes.empty() ? 0 : args.intermediate_sizes.front();
  CheckSizes(args);
}

}  // namespace ferry::lm::internal
