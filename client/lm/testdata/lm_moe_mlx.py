#!/usr/bin/env python3
"""Writes mlx-lm's mixture-of-experts models and what they compute, for
client/lm/models_mlx_test.cc (the models with "moe" or "mixtral" in their names).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_moe_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights:
  mixtral         4 experts, top-2 (softmax of the chosen gates), mlx-lm's stacked layout
  mixtral_hf      the same model in Hugging Face's layout (block_sparse_moe.experts.E.w1..w3),
                  which mlx-lm's sanitize stacks
  qwen2_moe_hf    4 experts, top-2 of the softmax, a shared expert behind a sigmoid gate, in
                  Hugging Face's layout (mlp.experts.E.gate_proj...); its 40-token prompt
                  routes 80 >= 64 (token, expert) pairs, so SwitchGLU sorts them
  qwen3_moe       8 experts, top-2 renormalized (norm_topk_prob), layer 1 dense
                  (mlp_only_layers), q/k norms
  qwen3_moe_4bit  qwen3_moe quantized as mlx-lm's convert does (affine, 4 bits in groups of
                  32; the routers' mlp.gate 8 bits, named in config.json's quantization)

lm_moe_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt      the prompt (int32)
  <m>.logits      model(prompt) without a cache, (1, L, V) float32
  <m>.greedy      generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs    the log-probabilities it sampled each of them from, (N, V) float32
"""
import functools
import os

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import mixtral, qwen2_moe, qwen3_moe

import lm_fixture
from lm_fixture import HERE, reload, save_model

rng = np.random.default_rng(20261208)
mx.random.seed(20261208)
arrays = {}

BASE = dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
            vocab_size=96, max_position_embeddings=2048)
CONFIGS = {
    "mixtral": dict(BASE, model_type="mixtral", num_hidden_layers=2, intermediate_size=32,
                    num_local_experts=4, num_experts_per_tok=2, rope_theta=1000000.0,
                    tie_word_embeddings=False),
    "qwen2_moe": dict(BASE, model_type="qwen2_moe", num_hidden_layers=2, intermediate_size=64,
                      num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                      shared_expert_intermediate_size=32, norm_topk_prob=False,
                      rope_theta=1000000.0, tie_word_embeddings=False),
    "qwen3_moe": dict(BASE, model_type="qwen3_moe", num_hidden_layers=3, intermediate_size=64,
                      num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
                      decoder_sparse_step=1, mlp_only_layers=[1], norm_topk_prob=True,
                      head_dim=16, rope_theta=1000000.0, tie_word_embeddings=False),
}
MODULES = {"mixtral": mixtral, "qwen2_moe": qwen2_moe, "qwen3_moe": qwen3_moe}
record = functools.partial(lm_fixture.record, arrays, rng, BASE["vocab_size"])


def unstack(weights, switch, experts, names):
    """Hugging Face's layout: each stacked <switch>.<n>.weight as per-expert matrices."""
    out = {}
    for key, value in weights.items():
        if f".{switch}." not in key:
            out[key] = value
            continue
        prefix, rest = key.split(f".{switch}.")
        name, kind = rest.split(".")
        for e in range(value.shape[0]):
            out[f"{prefix}.{experts}.{e}.{names.get(name, name)}.{kind}"] = value[e]
    return out


def build(name):
    """The model of CONFIGS[name], its weights drawn (norms near 1, so no layer is an
    identity)."""
    return lm_fixture.build(rng, MODULES[name], CONFIGS[name]), CONFIGS[name]


# Mixtral, saved as mlx-lm saves it and as Hugging Face does.
model, config = build("mixtral")
weights = dict(tree_flatten(model.parameters()))
save_model("mixtral", weights, config)
record("mixtral", reload("mixtral"), prompt_length=11, steps=10)
save_model("mixtral_hf",
           unstack(weights, "block_sparse_moe.switch_mlp", "block_sparse_moe.experts",
                   {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}), config)
record("mixtral_hf", reload("mixtral_hf"), prompt_length=11, steps=10)

# Qwen2-MoE in Hugging Face's layout, with a prompt long enough to sort.
model, config = build("qwen2_moe")
save_model("qwen2_moe_hf",
           unstack(dict(tree_flatten(model.parameters())), "mlp.switch_mlp", "mlp.experts", {}),
           config)
record("qwen2_moe_hf", reload("qwen2_moe_hf"), prompt_length=40, steps=8)

# Qwen3-MoE, then quantized with its routers at 8 bits, as mlx-lm's quant_predicate asks.
model, config = build("qwen3_moe")
save_model("qwen3_moe", dict(tree_flatten(model.parameters())), config)
record("qwen3_moe", reload("qwen3_moe"), prompt_length=11, steps=10)

quantization = dict(group_size=32, bits=4, mode="affine")


def router_8bit(path, module):
    """mlx-lm's qwen3_moe quant_predicate (in groups of 32), noting what it names."""
    if not hasattr(module, "to_quantized"):
        return False
    if path.endswith("mlp.gate"):
        quantization[path] = dict(group_size=32, bits=8)
        return quantization[path]
    return True


nn.quantize(model, group_size=32, bits=4, class_predicate=router_8bit)
save_model("qwen3_moe_4bit", dict(tree_flatten(model.parameters())),
           dict(config, quantization=quantization))
record("qwen3_moe_4bit", reload("qwen3_moe_4bit"), prompt_length=9, steps=8)

mx.save_safetensors(os.path.join(HERE, "lm_moe_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
