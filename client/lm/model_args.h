#ifndef FERRY_CLIENT_LM_MODEL_ARGS_H_
#define FERRY_CLIENT_LM_MODEL_ARGS_H_

// A model's config.json as mlx-lm reads it: Hugging Face's names, mlx-lm's defaults, and the
// "quantization" mlx-lm's convert writes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::lm {

struct Quantization {
  int group_size = 64;
  int bits = 4;
  std::string mode = "affine";
};

struct ModelArgs {
  // One of the types ModelArgs::from_json's table (model_args.cc, kTypes) lists, as
  // mlx-lm's module of that name reads it; the refusal of any other names them all. Some
  // hold their text model under "text_config" (gemma3, gemma3n, gemma4, llama4, mistral3,
  // qwen3_5, and mlx-lm's vision-language wrappers in vl.h). Aliases are read and named as
  // the type they are built as: "solar_open" as "glm4_moe", "glm_moe_dsa" as
  // "deepseek_v32", and MODEL_REMAPPING's "llava", "joyai_llm_flash", "qwen2_5_vl",
  // "minimax_m2", "iquestcoder", "xverse" and "gemma4_unified" as their targets
  // ("falcon_mamba" keeps its name: mamba's model with its own norms).
  std::string model_type;
  int64_t hidden_size = 0;
  int num_hidden_layers = 0;
  int64_t intermediate_size = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;  // num_attention_heads when the config omits it
  int64_t head_dim = 0;         // hidden_size / num_attention_heads when omitted
  float rms_norm_eps = 1e-6f;
  int64_t vocab_size = 0;
  bool attention_bias = false;  // biases of the q, k and v projections
  bool output_bias = false;     // of the o projection (llama's attention_bias sets both)
  bool mlp_bias = false;
  // RMSNorm of each head's queries and keys (qwen3); Cohere's and StableLM's a LayerNorm.
  bool qk_norm = false;
  // OLMo 2's and 3's: q_norm and k_norm over the whole projections, before the heads split.
  bool qk_norm_whole = false;
  // SmolLM3's (mlx-lm's no_rope_layers): 1 where layer i rotates its queries and keys, 0
  // where it sees no positions at all (NoPE); empty: every layer rotates. `rope` is one
  // layer's, as its attention is built.
  std::vector<int> no_rope_layers;
  bool rope = true;
  float rope_theta = 10000.0f;
  bool rope_traditional = false;
  // rope_scaling (or transformers 5's rope_parameters): "rope_type" or "type" and its
  // numbers; empty for plain RoPE.
  std::string rope_type = "default";
  std::map<std::string, double> rope_scaling;
  int64_t max_position_embeddings = 2048;
  // A mixture of experts' (num_local_experts in mixtral's config): 0 for a dense model.
  int num_experts = 0;
  int num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;  // each expert's (qwen; mixtral's is intermediate_size)
  int64_t shared_expert_intermediate_size = 0;  // qwen2_moe's expert every token takes
  bool norm_topk_prob = false;                  // qwen3_moe: the top-k weights sum to 1
  // qwen3_moe: layer i is sparse when (i + 1) % decoder_sparse_step == 0 and it is not one of
  // mlp_only_layers (EXAONE MoE's and Step-3.5's dense layers, their experts elsewhere).
  int decoder_sparse_step = 1;
  std::vector<int> mlp_only_layers;
  bool tie_word_embeddings = true;
  // Gemma 3: every sliding_window_pattern-th layer attends globally (rope_theta and the
  // scaling), the others over the last sliding_window positions (rope_local_base_freq);
  // attention scaled by query_pre_attn_scalar^-0.5. from_json leaves its
  // tie_word_embeddings false: load ties it when the checkpoint lacks lm_head.weight, as
  // mlx-lm's sanitize does.
  int64_t sliding_window = 0;
  int sliding_window_pattern = 1;
  float rope_local_base_freq = 10000.0f;
  float query_pre_attn_scalar = 0;
  // Gemma 2: its attention scores and logits soft-capped, cap * tanh(x / cap).
  float attn_logit_softcapping = 50.0f;
  float final_logit_softcapping = 30.0f;
  // Phi-3: RoPE over the first head_dim * partial_rotary_factor features of each head, and
  // rope_type "longrope" (config.json's "su" or "longrope") its long_factor, one per rotated
  // pair: mlx-lm's SuScaledRoPE uses it at every length, never short_factor.
  float partial_rotary_factor = 1.0f;
  std::vector<float> rope_long_factor;
  // gpt-oss: "sliding_attention" or "full_attention", one per layer.
  std::vector<std::string> layer_types;
  // DeepSeek V3 (and Kimi K2): multi-head latent attention. Queries through a q_lora_rank
  // bottleneck (0: config.json's null, one q_proj); keys and values from a kv_lora_rank
  // latent, each head's qk_nope_head_dim key features and v_head_dim values up-projected
  // from it, and qk_rope_head_dim rotated key features shared by every head (head_dim is
  // qk_nope_head_dim + qk_rope_head_dim, the queries'). Its experts (num_experts is
  // n_routed_experts, 0 for none): sigmoid scores plus e_score_correction_bias choose the
  // topk_group best of n_group groups, then the top-k experts in them; their weights
  // (norm_topk_prob) times routed_scaling_factor; n_shared_experts of moe_intermediate_size
  // each take every token. Layers before first_k_dense_replace and off moe_layer_freq are
  // dense.
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t v_head_dim = 0;
  int n_shared_experts = 0;
  float routed_scaling_factor = 1.0f;
  int n_group = 1;
  int topk_group = 1;
  int first_k_dense_replace = 0;
  int moe_layer_freq = 1;
  // DeepSeek V2 ("deepseek_v2": the same layers, the keys and values up-projected by one
  // kv_b_proj and cached whole, yarn RoPE whatever rope_scaling's type) routes by the softmax
  // of the gates, without correction bias, norm or sum of two: topk_method
  // "group_limited_greedy" keeps the topk_group groups of the highest single score, any other
  // all of them. V3 builds "noaux_tc" only.
  std::string topk_method = "noaux_tc";
  // DeepSeek V3.2 ("deepseek_v32"): each layer's lightning indexer scores every cached key
  // with index_n_heads heads of index_head_dim features (its first qk_rope_head_dim rotated,
  // traditionally where indexer_rope_interleave) and lets each query attend to its
  // index_topk best only (all of them while the keys number index_topk or fewer).
  int index_n_heads = 64;
  int64_t index_head_dim = 128;
  int64_t index_topk = 2048;
  bool indexer_rope_interleave = false;
  // Qwen3-Next and Qwen3.5: every full_attention_interval-th layer gated full attention
  // (head_dim * partial_rotary_factor features rotated), the others gated delta nets of
  // linear_num_key_heads query and key heads of linear_key_head_dim features,
  // linear_num_value_heads value heads of linear_value_head_dim, after a causal conv1d of
  // linear_conv_kernel_dim. Qwen3.5's experts are in every layer (decoder_sparse_step 1).
  // Kimi Linear's KDA layers: linear_attn_config's num_heads (key and value heads alike) of
  // head_dim, convs of short_conv_kernel_size taps (linear_conv_kernel_dim).
  int linear_num_key_heads = 0;
  int linear_num_value_heads = 0;
  int64_t linear_key_head_dim = 0;
  int64_t linear_value_head_dim = 0;
  int linear_conv_kernel_dim = 4;
  int full_attention_interval = 4;
  // Llama 4 ("llama4": its text model under "text_config"): layers off every fourth attend
  // within chunks of attention_chunk_size positions (mlx-lm's ChunkedKVCache), with RoPE;
  // every fourth over all positions without it, its queries at position p scaled by
  // log(floor((p + 1) / floor_scale) + 1) * attn_scale + 1 when attn_temperature_tuning.
  // Every interleave_moe_layer_step-th layer's feed-forward is num_experts experts of
  // intermediate_size (top-1, num_experts_per_tok) and a shared one, the others' an MLP of
  // intermediate_size_mlp. use_qk_norm normalizes each head's queries and keys without a
  // weight: weightless_qk_norm "after_rope" (llama4's RoPE layers, eps 1e-6) or "before_rope"
  // ("llama4_text", every layer, rms_norm_eps); empty for none.
  int64_t attention_chunk_size = 0;
  int interleave_moe_layer_step = 1;
  int64_t intermediate_size_mlp = 0;
  bool attn_temperature_tuning = false;
  float floor_scale = 8192.0f;
  float attn_scale = 0.1f;
  std::string weightless_qk_norm;
  // Ministral 3's and Mistral 4's llama_4_scaling_beta (attn_scale) over
  // original_max_position_embeddings (floor_scale), from rope_parameters: the temperature
  // tuning in every layer, rotated or not, at position p rather than p + 1.
  bool llama_4_scaling = false;
  // mistral3's text model (its "text_config"): "ministral3", "mistral4" or "llama" (any other
  // model_type there, as mlx-lm builds it); the family the other vision-language wrappers
  // build theirs with (vl.h: "qwen2", "qwen3", "qwen3_moe", "lfm2", "llama", "deepseek_v3").
  std::string text_model_type;
  // LFM2 and LFM2-MoE: the layers of full_attn_idxs (or those layer_types calls
  // "full_attention") attend, the others are short convolutions of conv_L_cache taps,
  // biased (and their projections) when conv_bias. LFM2's MLP is intermediate_size wide:
  // block_ff_dim (or intermediate_size), as block_auto_adjust_ff_dim, block_ffn_dim_multiplier
  // and block_multiple_of adjust it. LFM2-MoE's first num_dense_layers (first_k_dense_replace)
  // layers are dense; the others' experts are chosen by sigmoid scores plus expert_bias when
  // use_expert_bias. Their output is the embedding (tie_word_embeddings). Kimi Linear's
  // latent-attention layers (those not in linear_attn_config's kda_layers) are full_attn_idxs.
  std::vector<int> full_attn_idxs;
  int conv_l_cache = 3;
  bool conv_bias = false;
  bool use_expert_bias = false;
  // Granite and Granite-MoE: the embeddings times embedding_multiplier, attention scaled by
  // attention_multiplier (0: head_dim^-0.5), each layer's attention and MLP outputs times
  // residual_multiplier before they join the residual, the logits divided by logits_scaling.
  float embedding_multiplier = 1.0f;
  float attention_multiplier = 0.0f;
  float residual_multiplier = 1.0f;
  float logits_scaling = 1.0f;
  // Cohere 2 and StarCoder 2: LayerNorm (biased when layer_norm_bias) where Llama has
  // RMSNorm, of eps rms_norm_eps; Cohere 2's logits times logit_scale.
  bool layer_norm = false;
  bool layer_norm_bias = false;
  float logit_scale = 1.0f;
  // StableLM's and GPT-NeoX's use_parallel_residual: attention and the MLP side by side on
  // one norm's output (GPT-NeoX's: each its own norm's).
  bool parallel_residual = false;
  // GLM-4's: norms of what attention and the MLP add too (post_self_attn_layernorm,
  // post_mlp_layernorm), besides Llama's before them.
  bool sandwich_norms = false;
  // Hunyuan's ("hunyuan_v1_dense", "hunyuan"): each head's queries and keys normalized after
  // RoPE, by query_layernorm and key_layernorm (use_qk_norm).
  bool qk_norm_after_rope = false;
  // Hunyuan's cross-layer attention (use_cla): only every cla_share_factor-th layer projects
  // keys and values, the layers after it attend over its projections (1: none). `kv_proj` is
  // one layer's, as its attention is built: false where it has no k_proj and v_proj.
  int cla_share_factor = 1;
  bool kv_proj = true;
  // ERNIE 4.5-MoE's moe_gate_act "sigmoid": its router's scores sigmoids, not a softmax.
  // Kimi Linear's moe_router_activation_func "sigmoid" (its default) too.
  bool sigmoid_router = false;
  // Bailing MoE's (Ling's): moe_router_enable_expert_bias (the router's "expert_bias" ranks
  // the experts), norm_head (each column of lm_head divided by its norm when loaded).
  bool router_expert_bias = false;
  bool norm_head = false;
  // Mamba-2 ("mamba2") and Granite 4.0's mamba layers ("granitemoehybrid": layer_types says
  // "mamba" or "attention" for each layer; position_embedding_type "nope" sets rope false):
  // mamba_n_heads heads of mamba_d_head features over a state mamba_d_state wide, B and C
  // shared by the heads of each of mamba_n_groups groups, a causal depthwise conv1d of
  // mamba_d_conv taps (biased when mamba_conv_bias) over x, B and C, in_proj and out_proj
  // biased when mamba_proj_bias, the time steps clipped to time_step_limit. The scan takes
  // mamba_chunk_size positions at a time (config.json's chunk_size or mamba_chunk_size; mlx-lm
  // always takes 256: the same sums, grouped otherwise).
  int mamba_n_heads = 0;
  int64_t mamba_d_head = 0;
  int64_t mamba_d_state = 0;
  int mamba_n_groups = 1;
  int mamba_d_conv = 4;
  bool mamba_conv_bias = false;
  bool mamba_proj_bias = false;
  std::pair<float, float> time_step_limit = {0.001f, 100.0f};
  int64_t mamba_chunk_size = 256;
  // Falcon-H1 ("falcon_h1"): its mixer's gated norm only when mamba_rms_norm (else y times
  // silu(gate)), normalizing before the gate when mamba_norm_before_gate; out_proj biased when
  // projectors_bias (none: mamba_proj_bias, as Mamba-2's and Granite 4.0's).
  bool mamba_rms_norm = true;
  bool mamba_norm_before_gate = false;
  std::optional<bool> projectors_bias;
  // Nemotron-H ("nemotron_h"): layer_types holds hybrid_override_pattern's characters, one
  // per layer: "M" a Mamba-2 mixer, "*" attention without positions, "-" a relu2 MLP, "E"
  // experts (num_experts routed as DeepSeek V3's, n_shared_experts > 0: a shared relu2 MLP
  // shared_expert_intermediate_size wide). Its gated norm normalizes each of mamba_n_groups
  // groups apart (mamba_norm_per_group); moe_latent_size (0: none) the experts' width, between
  // fc1_latent_proj and fc2_latent_proj.
  bool mamba_norm_per_group = false;
  int64_t moe_latent_size = 0;
  // Falcon-H1's muP multipliers, folded into a Hugging Face checkpoint's weights by
  // sanitize (embedding_multiplier the embeddings'; a tied model's logits times
  // lm_head_multiplier / embedding_multiplier): q_proj's and k_proj's, o_proj's,
  // in_proj's (times ssm_multipliers, one each for its gate, x, B, C and dt), out_proj's,
  // lm_head's, and gate_proj's and down_proj's (mlp_multipliers).
  float attention_in_multiplier = 1.0f;
  float attention_out_multiplier = 1.0f;
  float ssm_in_multiplier = 1.0f;
  float ssm_out_multiplier = 1.0f;
  float lm_head_multiplier = 1.0f;
  std::vector<float> ssm_multipliers;
  std::vector<float> mlp_multipliers;
  // Gemma 4 ("gemma4_text", and "gemma4" with its text model under "text_config"): layer_types
  // says which layers slide (sliding_window) and which are full; rope_parameters'
  // "full_attention" RoPE is rope_theta, rope_type (also "proportional") and rope_scaling,
  // its "sliding_attention" one these three. final_logit_softcapping 0 (null): none.
  std::string rope_local_type = "default";
  std::map<std::string, double> rope_local_scaling;
  int64_t global_head_dim = 0;              // the full layers' head size (0: head_dim)
  int num_global_key_value_heads = 0;       // the full layers' with attention_k_eq_v (0: theirs)
  bool attention_k_eq_v = false;            // full layers' values are their keys (no v_proj)
  int num_kv_shared_layers = 0;             // the last ones, reading an earlier layer's keys
  bool use_double_wide_mlp = false;         // KV-shared layers' MLPs 2 * intermediate_size wide
  int64_t hidden_size_per_layer_input = 0;  // per-layer inputs' width (0: none)
  int64_t vocab_size_per_layer_input = 0;   // embed_tokens_per_layer's rows
  // Gemma 3n ("gemma3n", its text model under "text_config"): Gemma 4's layer_types,
  // num_kv_shared_layers and per-layer inputs, rope_theta the full layers' RoPE and
  // rope_local_base_freq the sliding ones'; final_logit_softcapping 0 (null): none.
  std::vector<int64_t> intermediate_sizes;  // each layer's MLP width (empty: intermediate_size)
  std::vector<float> activation_sparsity_pattern;  // each layer's gaussian top-k (empty: none)
  int altup_num_inputs = 0;                        // AltUp's predictions of the hidden state
  int altup_active_idx = 0;                        // the prediction the layers compute on
  float altup_coef_clip = 0.0f;                    // AltUp's coefficients' bound (0: none)
  bool altup_correct_scale = false;                // correct_output_scale scales the active one
  int64_t laurel_rank = 0;                         // Laurel's low-rank residual width
  // Nanbeige's: the layers run num_loops times (each pass its own caches), the final norm
  // after each pass unless skip_loop_final_norm (then once, after the last).
  int num_loops = 1;
  bool skip_loop_final_norm = false;
  // Baichuan-M1's sliding layers' heads (layer_types "sliding_attention"; 0: the others').
  int num_swa_attention_heads = 0;
  int num_swa_key_value_heads = 0;
  // PhiMoE's sparsemixer: the band of gates within 2 * router_jitter_noise of the top one.
  float router_jitter_noise = 0.01f;
  float clip_qkv = 0.0f;  // DBRX's fused q/k/v clipped to [-clip_qkv, clip_qkv]
  // Mamba 1's: dt's rank, and Falcon-Mamba's weightless norms of dt, B and C (mixer_rms_eps).
  int64_t time_step_rank = 0;
  bool use_bcdt_rms = false;
  float mixer_rms_eps = 1e-6f;
  // OpenELM's ("openelm"): each layer's query and key/value heads (its MLP widths in
  // intermediate_sizes); empty: num_attention_heads and num_key_value_heads in every layer.
  std::vector<int> layer_num_attention_heads;
  std::vector<int> layer_num_key_value_heads;
  // OLMo hybrid's ("olmo_hybrid") gated delta nets: beta in [0, 2] rather than [0, 1].
  bool linear_allow_neg_eigval = false;
  // MiMo-V2-Flash's sliding layers' query and value head sizes (0: head_dim's, v_head_dim's);
  // attention sinks in its sliding and its full layers; the values times
  // attention_value_scale (none: not).
  int64_t swa_head_dim = 0;
  int64_t swa_v_head_dim = 0;
  bool swa_sinks = false;
  bool full_sinks = false;
  std::optional<float> attention_value_scale;
  // Laguna's: each layer's query heads (empty: num_attention_heads), a softplus gate per head
  // on the attention's output (attention_gating), the sliding layers' rotated fraction (their
  // RoPE rope_local_base_freq, rope_local_type, rope_local_scaling); its router's logits
  // soft-capped at router_softcap (0: not) and scored by router_score_func ("sigmoid" or
  // "sqrtsoftplus").
  std::vector<int> heads_per_layer;
  bool attention_gating = false;
  float local_partial_rotary_factor = 1.0f;
  float router_softcap = 0.0f;
  std::string router_score_func = "sigmoid";
  // LongCat-Flash's: the queries and the latent times sqrt(hidden_size / rank) (mla_scale_q_lora,
  // mla_scale_kv_lora; 0: not), zero_experts identity experts beside the routed ones, its
  // router's classifier biased where router_bias.
  float mla_q_scale = 0.0f;
  float mla_kv_scale = 0.0f;
  int zero_experts = 0;
  bool router_bias = false;
  // Step-3.5's ("step3p5"): rope_theta and the rotated fraction of each layer (empty:
  // rope_theta, partial_rotary_factor), rope_scaling only in the layers of yarn_only_types
  // (empty: every layer), a sigmoid gate per head on the attention's output, and its SwiGLUs
  // clamped at each layer's limit (0: not) in the experts and in the shared or dense MLP.
  std::vector<float> layer_rope_thetas;
  std::vector<float> partial_rotary_factors;
  std::vector<std::string> yarn_only_types;
  bool head_wise_attn_gate = false;
  std::vector<float> swiglu_limits;
  std::vector<float> swiglu_limits_shared;
  // The whole model's quantization, and a layer path's own where config.json names one.
  std::optional<Quantization> quantization;
  std::map<std::string, std::optional<Quantization>> layer_quantization;
  // eos_token_id (one or a list), from config.json and generation_config.json.
  std::vector<int32_t> eos_token_ids;

  // Throws ferry::Error INVALID_ARGUMENT naming the field that is missing or malformed, and
  // UNIMPLEMENTED for a model_type or rope_type ferry::lm does not build.
  static ModelArgs from_json(const std::string& json_text);
  // config.json in `model_path` (a directory); NOT_FOUND when it is not there.
  static ModelArgs from_directory(const std::string& model_path);
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MODEL_ARGS_H_
