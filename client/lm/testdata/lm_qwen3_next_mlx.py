#!/usr/bin/env python3
"""Writes mlx-lm's Qwen3-Next and Qwen3.5 models and what they compute, for
client/lm/qwen3_next_test.cc.

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_qwen3_next_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: hidden size
32, a vocabulary of 300, 4 layers, every second one (full_attention_interval 2) gated full
attention (4 query heads of 16 features, 2 key-value heads, a quarter of each head rotated)
and the others gated delta nets (2 key heads of 16 features, 4 value heads of 8: grouped as
the attention's, a causal conv1d of kernel 4). On the CPU mlx-lm runs the recurrence as
gated_delta_ops, a step at a time, as ferry's lm::gated_delta_update does.
  qwen3_next     in Hugging Face's layout, which mlx-lm's sanitize rewrites: experts per
                 expert (4 experts, top 2, a gated shared expert; layer 1 dense through
                 mlp_only_layers), norms stored as weight - 1, conv1d weights as (C, 1, K),
                 and a multi-token prediction layer (mtp.*, dropped)
  qwen3_5        the dense Qwen3.5 text model in mlx-lm's own layout (language_model.*,
                 already sanitized: nothing is shifted), tied embeddings, a flat config.json
  qwen3_5_moe    Qwen3.5-MoE in Hugging Face's layout: config.json's text_config,
                 model.language_model.*, each layer's experts fused (experts.gate_up_proj,
                 experts.down_proj), norms as weight - 1, a vision tower (model.visual.*,
                 dropped); norm_topk_prob
  qwen3_next_4bit  Qwen3-Next of hidden size 64 quantized by mlx-lm's quantize_model with the
                 model's quant_predicate (affine, 4 bits in groups of 32; the routers and the
                 shared experts' gates 8 bits in groups of 64, named in config.json; the
                 conv1d is no layer it quantizes), saved in mlx-lm's layout

lm_qwen3_next_mlx.safetensors holds, for each model <m>:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.cached_logits  the same prompt through make_cache()'s caches in pieces: a prefill of
                     CHUNKS[0] tokens, one of CHUNKS[1], then one token at a time, (1, L, V)
  <m>.greedy         generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map_with_path
from mlx_lm.models import qwen3_5, qwen3_5_moe, qwen3_next

import lm_fixture
from lm_fixture import HERE

rng = np.random.default_rng(20261207)
mx.random.seed(20261207)
arrays = {}
VOCAB = 300
CHUNKS = (7, 5)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)

LINEAR = dict(linear_num_value_heads=4, linear_num_key_heads=2, linear_key_head_dim=16,
              linear_value_head_dim=8, linear_conv_kernel_dim=4, full_attention_interval=2)
CONFIG = dict(model_type="qwen3_next", vocab_size=VOCAB, hidden_size=32, intermediate_size=48,
              num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              num_experts=4, num_experts_per_tok=2, decoder_sparse_step=1,
              shared_expert_intermediate_size=24, mlp_only_layers=[1],
              moe_intermediate_size=16, rms_norm_eps=1e-6, rope_theta=10000.0,
              partial_rotary_factor=0.25, max_position_embeddings=4096,
              tie_word_embeddings=False, **LINEAR)
TEXT_CONFIG = dict(model_type="qwen3_5_text", vocab_size=VOCAB, hidden_size=32,
                   intermediate_size=48, num_hidden_layers=4, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                   max_position_embeddings=4096, tie_word_embeddings=True,
                   rope_parameters=dict(rope_type="default", rope_theta=50000.0,
                                        partial_rotary_factor=0.25,
                                        mrope_section=[1, 1, 0], mrope_interleaved=True),
                   **LINEAR)
MOE_TEXT_CONFIG = dict(TEXT_CONFIG, model_type="qwen3_5_moe_text", tie_word_embeddings=False,
                       num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                       shared_expert_intermediate_size=24, norm_topk_prob=True)
NORMS = (".input_layernorm.weight", ".post_attention_layernorm.weight", "model.norm.weight",
         ".q_norm.weight", ".k_norm.weight")


def build(module, config):
    """A model of `config` with every weight drawn: norms near 1, A_log about log(1..16)."""
    model = module.Model(module.ModelArgs.from_dict(config))

    def draw(path, p):
        if path.endswith("norm.weight"):
            return mx.array(1.0 + 0.2 * rng.standard_normal(p.shape).astype(np.float32))
        if path.endswith("A_log"):
            return mx.array(np.log(rng.uniform(1, 16, p.shape)).astype(np.float32))
        if path.endswith("dt_bias"):
            return mx.array(1.0 + 0.5 * rng.standard_normal(p.shape).astype(np.float32))
        return mx.array(0.3 * rng.standard_normal(p.shape).astype(np.float32))

    model.update(tree_map_with_path(draw, model.parameters()))
    mx.eval(model.parameters())
    return model


def hugging_face_layout(weights, fused_experts=False):
    """Norms as weight - 1, conv1d weights (C, 1, K), the experts per expert (or fused)."""
    out = {}
    for key, value in weights.items():
        if any(key.endswith(s) for s in NORMS):
            value = value - 1.0
        if "conv1d.weight" in key:
            value = value.swapaxes(1, 2)
        if ".switch_mlp." not in key:
            out[key] = value
            continue
        prefix, rest = key.split(".switch_mlp.")
        if fused_experts:
            if rest == "gate_proj.weight":
                up = weights[f"{prefix}.switch_mlp.up_proj.weight"]
                out[f"{prefix}.experts.gate_up_proj"] = mx.concatenate([value, up], axis=-2)
            elif rest == "down_proj.weight":
                out[f"{prefix}.experts.down_proj"] = value
        else:
            for e in range(value.shape[0]):
                out[f"{prefix}.experts.{e}.{rest}"] = value[e]
    return out


model = build(qwen3_next, CONFIG)
weights = hugging_face_layout(dict(tree_flatten(model.parameters())))
weights["mtp.fc.weight"] = mx.zeros((32, 64))
save_and_record("qwen3_next", weights, CONFIG, 18)

model = build(qwen3_5, dict(TEXT_CONFIG, model_type="qwen3_5"))
save_and_record("qwen3_5", dict(tree_flatten(model.parameters())),
                dict(TEXT_CONFIG, model_type="qwen3_5"), 16)

MOE_CONFIG = dict(model_type="qwen3_5_moe", text_config=MOE_TEXT_CONFIG,
                  vision_config=dict(depth=1), tie_word_embeddings=False)
model = build(qwen3_5_moe, MOE_CONFIG)
weights = {}
for key, value in hugging_face_layout(dict(tree_flatten(model.parameters())),
                                      fused_experts=True).items():
    if key.startswith("language_model.model."):
        key = key.replace("language_model.model.", "model.language_model.", 1)
    elif key.startswith("language_model."):
        key = key[len("language_model."):]
    weights[key] = value
weights["model.visual.patch_embed.proj.weight"] = mx.zeros((8, 3))
weights["mtp.fc.weight"] = mx.zeros((32, 64))
save_and_record("qwen3_5_moe", weights, MOE_CONFIG, 20)

CONFIG_4BIT = dict(CONFIG, hidden_size=64, intermediate_size=64, moe_intermediate_size=32,
                   shared_expert_intermediate_size=32)
save_and_record("qwen3_next_4bit",
                *lm_fixture.quantized(build(qwen3_next, CONFIG_4BIT), CONFIG_4BIT, 32, 4), 14,
                steps=8)

mx.save_safetensors(os.path.join(HERE, "lm_qwen3_next_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
