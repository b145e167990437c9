#!/usr/bin/env python3
"""Writes mlx-lm's Gemma 2, Phi-3 and gpt-oss models and what they compute, for
client/lm/models_mlx_test.cc (the models named gemma2*, phi3*, gpt_oss*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_more_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, hidden size
64 and a vocabulary of 300:
  gemma2         3 layers; attention logits soft-capped at 4 and the output's at 6 (small
                 caps, so that the random logits reach them), query_pre_attn_scalar 24 (not
                 head_dim), config.json's sliding_window and cache_implementation as
                 Hugging Face writes them (mlx-lm's gemma2 ignores both: full attention, a
                 plain cache)
  phi3           2 layers, fused qkv_proj and gate_up_proj, "longrope" scaling (mlx-lm's
                 SuScaledRoPE: the long factors and the input scaled by
                 sqrt(1 + ln(131072 / 4096) / ln(4096))), partial_rotary_factor 0.75
                 (Phi-4-mini's)
  phi3_4bit      phi3 quantized as mlx-lm's convert does (affine, 4 bits in groups of 32)
  gpt_oss        3 layers (sliding, full, sliding; a window of 8 and prompts longer than it),
                 attention sinks, 4 experts with biases, top-2, the clamped SwiGLU (its limit
                 of 7 reached), yarn RoPE as gpt-oss's own config has it
  gpt_oss_mxfp4  another gpt_oss in the layout OpenAI published it: the experts'
                 gate_up_proj_blocks / _scales / _bias (gate and up rows interleaved) and
                 down_proj_*, mxfp4, config.json's quantization_config {"quant_method":
                 "mxfp4"}: mlx-lm's sanitize splits and renames them

lm_more_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt      the prompt (int32)
  <m>.logits      model(prompt) without a cache, (1, L, V) float32
  <m>.greedy      generate_step's greedy tokens from the prompt (int32), with mlx-lm's own
                  caches (gpt_oss: RotatingKVCache(sliding_window) on the sliding layers)
  <m>.logprobs    the log-probabilities it sampled each of them from, (N, V) float32
"""
import functools
import os

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import gemma2, gpt_oss, phi3

import lm_fixture
from lm_fixture import HERE, reload, save_model

rng = np.random.default_rng(20261210)
mx.random.seed(20261210)
arrays = {}
VOCAB = 300
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)
build = functools.partial(lm_fixture.build, rng)


# Gemma 2: tied embeddings (mlx-lm's gemma2 has no lm_head).
GEMMA2 = dict(model_type="gemma2", hidden_size=64, num_hidden_layers=3, intermediate_size=128,
              num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
              vocab_size=VOCAB, rope_theta=10000.0, query_pre_attn_scalar=24,
              attn_logit_softcapping=4.0, final_logit_softcapping=6.0, sliding_window=8,
              cache_implementation="hybrid", max_position_embeddings=8192)
model = build(gemma2, GEMMA2, norm_center=0.0, embed_scale=0.1)
save_model("gemma2", dict(tree_flatten(model.parameters())), GEMMA2)
record("gemma2", reload("gemma2"), prompt_length=20, steps=10)

# Phi-3 with Phi-3.5's longrope scaling and Phi-4-mini's partial rotary factor.
PHI3 = dict(model_type="phi3", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
            num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=VOCAB,
            rope_theta=10000.0, partial_rotary_factor=0.75, max_position_embeddings=131072,
            original_max_position_embeddings=4096, tie_word_embeddings=False,
            rope_scaling=dict(type="longrope",
                              short_factor=[1.0, 1.1, 1.3, 1.7, 2.5, 4.0],
                              long_factor=[1.0, 1.5, 2.5, 4.5, 9.0, 20.0]),
            sliding_window=262144)
model = build(phi3, PHI3)
save_model("phi3", dict(tree_flatten(model.parameters())), PHI3)
record("phi3", reload("phi3"), prompt_length=16, steps=10)

model = build(phi3, PHI3)
nn.quantize(model, group_size=32, bits=4)
save_model("phi3_4bit", dict(tree_flatten(model.parameters())),
           dict(PHI3, quantization=dict(group_size=32, bits=4, mode="affine")))
record("phi3_4bit", reload("phi3_4bit"), prompt_length=12, steps=8)

# gpt-oss. Its experts' weights large enough that the SwiGLU's clamp at 7 acts, the others
# small: at 0.5 throughout, a relative change of 1e-6 in the weights moved the logits by 4e-3,
# float32's rounding alone past the tolerance.
GPT_OSS = dict(model_type="gpt_oss", hidden_size=64, num_hidden_layers=3, intermediate_size=32,
               num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
               vocab_size=VOCAB, num_local_experts=4, num_experts_per_tok=2, sliding_window=8,
               rope_theta=150000,
               rope_scaling=dict(rope_type="yarn", factor=32.0, beta_fast=32.0, beta_slow=1.0,
                                 original_max_position_embeddings=4096, truncate=False),
               layer_types=["sliding_attention", "full_attention", "sliding_attention"],
               max_position_embeddings=131072, tie_word_embeddings=False)
model = build(gpt_oss, GPT_OSS, scale=0.15, embed_scale=0.15, expert_scale=0.5)
save_model("gpt_oss", dict(tree_flatten(model.parameters())), GPT_OSS)
record("gpt_oss", reload("gpt_oss"), prompt_length=20, steps=10)


def openai_layout(weights):
    """The experts as OpenAI published gpt-oss: gate and up rows interleaved in one
    gate_up_proj, each quantized matrix as _blocks (bytes, (..., in / 32, 16)) and _scales."""
    out = {}
    for key, value in weights.items():
        if ".experts." not in key:
            out[key] = value
            continue
        prefix, rest = key.split(".experts.")
        name, kind = rest.split(".")
        base = f"{prefix}.experts."
        if name == "down_proj":
            if kind == "weight":
                out[base + "down_proj_blocks"] = blocks(value)
            else:
                out[base + f"down_proj_{kind}"] = value
        elif name == "gate_proj":
            up = weights[f"{prefix}.experts.up_proj.{kind}"]
            shape = value.shape
            if kind == "bias":  # (E, I): interleaved along the last axis
                out[base + "gate_up_proj_bias"] = mx.stack([value, up], -1).reshape(
                    shape[0], 2 * shape[1])
                continue
            both = mx.stack([value, up], 2).reshape(shape[0], 2 * shape[1], shape[2])
            out[base + ("gate_up_proj_blocks" if kind == "weight" else "gate_up_proj_scales")] = (
                blocks(both) if kind == "weight" else both)
    return out


def blocks(packed):
    """mxfp4 codes packed in uint32 (..., in / 8) as OpenAI's bytes (..., in / 32, 16)."""
    raw = packed.view(mx.uint8)
    return raw.reshape(*raw.shape[:-1], raw.shape[-1] // 16, 16)


model = build(gpt_oss, GPT_OSS, scale=0.15, embed_scale=0.15, expert_scale=0.5)
nn.quantize(model, group_size=32, bits=4, mode="mxfp4",
            class_predicate=lambda path, m: ".experts." in path and hasattr(m, "to_quantized"))
save_model("gpt_oss_mxfp4", openai_layout(dict(tree_flatten(model.parameters()))),
           dict(GPT_OSS, quantization_config=dict(quant_method="mxfp4")))
record("gpt_oss_mxfp4", reload("gpt_oss_mxfp4"), prompt_length=14, steps=8)

mx.save_safetensors(os.path.join(HERE, "lm_more_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
