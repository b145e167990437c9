#!/usr/bin/env python3
"""Writes mlx-lm's Kimi Linear (kimi_linear) models and what they compute, for
client/lm/arrays_models_mlx_test.cc, kimi_linear_test.cc (and tests/client_lm_remote_test.cc).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_kimi_linear_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights and a
vocabulary of 96. Its layers of linear_attn_config's kda_layers (counted from 1) are Kimi
Delta Attention: q, k and v projected, each through a causal depthwise conv of 4 taps and a
silu, q and k L2-normalized, a decay per head and key feature (f_a_proj, f_b_proj, A_log,
dt_bias) and beta (b_proj) into the gated delta rule (on the CPU mlx-lm's gated_delta_ops, a
step at a time), an RMSNorm of each head's output gated by sigmoid(g_b_proj(g_a_proj(x))).
The others are multi-head latent attention without RoPE (q_proj, kv_a_proj_with_mqa, a latent
of kv_lora_rank, embed_q and unembed_out up-projecting it). Layers from first_k_dense_replace
on (on moe_layer_freq) route to experts in groups, with shared experts beside them.
  kimi_linear       hidden size 32, 4 layers (KDA, KDA, MLA, KDA; 2 KDA heads of 16, 4 MLA
                    heads of 8 + 4 key features, latent 16), 8 experts of 16 in 2 groups (top
                    2 of topk_group 1), sigmoid scores, one shared expert, layer 0 dense;
                    routed_scaling_factor 2.5; in Hugging Face's layout, which mlx-lm's
                    sanitize rewrites: block_sparse_moe's experts per expert (w1, w2, w3),
                    gate and e_score_correction_bias, q_conv1d/k_conv1d/v_conv1d weights
                    (C, 1, K), each MLA layer's kv_b_proj (not yet split into embed_q and
                    unembed_out), a multi-token prediction layer (model.mtp.*, dropped)
  kimi_linear_tied  hidden size 32, 3 layers (MLA, KDA, KDA: the first layer attends), tied
                    embeddings, softmax scores without renormalizing, no shared experts,
                    experts every second layer (moe_layer_freq 2), one group; heads of
                    head_dim 8 (no qk_nope_head_dim or v_head_dim: head_dim stands in), 1 KDA
                    head of 32; mlx-lm's own layout
  kimi_linear_4bit  kimi_linear of hidden size 64 (KDA heads of 32, MLA heads of 32 + 8)
                    quantized by mlx-lm's quantize_model with the model's quant_predicate
                    (affine, 4 bits in groups of 32; the routers 8 bits in groups of 64,
                    named in config.json; the convs are no layers it quantizes), saved in
                    mlx-lm's layout

lm_kimi_linear_mlx.safetensors holds, for each model <m>:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.cached_logits  the same prompt through make_cache()'s caches in pieces: a prefill of
                     CHUNKS[0] tokens, one of CHUNKS[1], then one token at a time, (1, L, V)
  <m>.greedy         generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
and, for kimi_linear, mlx-lm's BatchGenerator over lm_fixture's batch (five prompts joining
at different calls, prefilled 4 tokens at a time), as lm_lfm2_mlx.py records it:
  <m>.prompt<i>, <m>.tokens<i>  int32
  <m>.options                   (max_kv_size or 0, prefill_step_size) int32
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx_lm.models import kimi_linear

import lm_fixture
from lm_fixture import HERE

rng = np.random.default_rng(20261209)
mx.random.seed(20261209)
arrays = {}
VOCAB = 96
CHUNKS = (7, 5)
build = functools.partial(lm_fixture.build, rng, kimi_linear)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)

CONFIG = dict(model_type="kimi_linear", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=4,
              num_attention_heads=4, num_key_value_heads=4, intermediate_size=48, head_dim=12,
              rope_theta=10000.0, rms_norm_eps=1e-5, model_max_length=4096,
              linear_attn_config=dict(kda_layers=[1, 2, 4], full_attn_layers=[3], num_heads=2,
                                      head_dim=16, short_conv_kernel_size=4),
              num_experts=8, moe_intermediate_size=16, kv_lora_rank=16,
              qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8, mla_use_nope=True,
              num_experts_per_token=2, num_shared_experts=1, moe_router_activation_func="sigmoid",
              moe_renormalize=True, routed_scaling_factor=2.5, first_k_dense_replace=1,
              moe_layer_freq=1, use_grouped_topk=True, num_expert_group=2, topk_group=1,
              tie_word_embeddings=False, rope_scaling=None)
TIED = dict(CONFIG, num_hidden_layers=3, head_dim=8, tie_word_embeddings=True,
            linear_attn_config=dict(kda_layers=[2, 3], full_attn_layers=[1], num_heads=1,
                                    head_dim=32, short_conv_kernel_size=4),
            moe_router_activation_func="softmax", moe_renormalize=False, num_shared_experts=0,
            first_k_dense_replace=0, moe_layer_freq=2, num_expert_group=1,
            routed_scaling_factor=1.0)
for key in ("qk_nope_head_dim", "v_head_dim"):
    del TIED[key]
WIDE = dict(CONFIG, hidden_size=64, intermediate_size=64, head_dim=40, kv_lora_rank=32,
            qk_nope_head_dim=32, qk_rope_head_dim=8, v_head_dim=32, moe_intermediate_size=32,
            linear_attn_config=dict(CONFIG["linear_attn_config"], head_dim=32))


def hugging_face_layout(weights, config):
    """block_sparse_moe's experts per expert, its gate and bias; conv weights (C, 1, K) under
    q_conv1d...; embed_q and unembed_out as one kv_b_proj (heads x (nope + v), kv_lora_rank);
    a multi-token prediction layer beside them."""
    out = {}
    names = {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}
    for key, value in weights.items():
        if ".mlp.switch_mlp." in key:
            prefix, rest = key.split(".mlp.switch_mlp.")
            name = names[rest.split(".")[0]]
            for e in range(value.shape[0]):
                out[f"{prefix}.block_sparse_moe.experts.{e}.{name}.weight"] = value[e]
        elif ".mlp.shared_experts." in key or ".mlp.gate." in key:
            moe = key.split(".mlp.")[0] + ".mlp.switch_mlp.gate_proj.weight"
            if moe in weights:
                key = key.replace(".mlp.", ".block_sparse_moe.")
            out[key] = value
        elif key.endswith(".mlp.e_score_correction_bias"):
            out[key.replace(".mlp.", ".block_sparse_moe.gate.")] = value
        elif key.endswith("_conv.conv.weight"):
            out[key.replace("_conv.conv.weight", "_conv1d.weight")] = value.swapaxes(1, 2)
        elif key.endswith(".embed_q.weight"):
            prefix = key[: -len("embed_q.weight")]
            out[prefix + "kv_b_proj.weight"] = lm_fixture.kv_b_proj(
                value, weights[prefix + "unembed_out.weight"])
        elif not key.endswith("unembed_out.weight"):
            out[key] = value
    out["model.mtp.0.norm.weight"] = mx.ones((config["hidden_size"],))
    return out


model = build(CONFIG)
save_and_record("kimi_linear",
                hugging_face_layout(lm_fixture.flat(model), CONFIG), CONFIG, 20)

model = build(TIED)
save_and_record("kimi_linear_tied", lm_fixture.flat(model), TIED, 18)

save_and_record("kimi_linear_4bit", *lm_fixture.quantized(build(WIDE), WIDE, 32, 4), 14)

lm_fixture.record_batch(arrays, "kimi_linear", "kimi_linear", VOCAB, 20261219)

mx.save_safetensors(os.path.join(HERE, "lm_kimi_linear_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
