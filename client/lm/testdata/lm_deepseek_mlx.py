#!/usr/bin/env python3
"""Writes mlx-lm's DeepSeek V3 and V2 models and what they compute, for
client/lm/models_mlx_test.cc (the models named deepseek_v*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_deepseek_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: hidden size
32, a vocabulary of 300, 3 layers (layer 0 dense: first_k_dense_replace 1), 4 heads of
multi-head latent attention (q_lora_rank 32, kv_lora_rank 32, 32 latent-derived and 16
rotated key features per head, 32 values), 8 routed experts in 2 groups (topk_group 1,
top-2, norm_topk_prob, routed_scaling_factor 2.5, a random e_score_correction_bias that
changes which experts win) and a shared expert, DeepSeek's yarn RoPE (factor 40; mscale 1
and mscale_all_dim 0.8, so that both the rotated features' scale and the softmax's are
not 1):
  deepseek_v3       in Hugging Face's layout, which mlx-lm's sanitize rewrites: experts
                    per expert (mlp.experts.E.gate_proj...), each layer's kv_b_proj (not yet
                    split into embed_q and unembed_out), a multi-token prediction layer
                    (model.layers.61.*, dropped) and a rotary table; its 36-token prompt
                    routes 72 >= 64 (token, expert) pairs, so SwitchGLU sorts them
  deepseek_v3_4bit  another, without q_lora_rank (one q_proj, as Moonlight's) and with
                    moe_layer_freq 2 (layers 0 and 1 dense), quantized as mlx-lm's convert
                    does (affine, 4 bits in groups of 32; the routers are not layers it
                    quantizes), then its embed_q and unembed_out put back into one quantized
                    kv_b_proj as mlx-community's DeepSeek-V3 and Kimi-K2 conversions hold it:
                    mlx-lm dequantizes, splits and quantizes it again on load
  deepseek_v2       DeepSeek V2 of the same sizes in Hugging Face's layout (experts per
                    expert, which mlx-lm stacks): kv_b_proj up-projects the latent into keys
                    and values, cached whole; the softmax router, "group_limited_greedy" (the
                    group of the best single score), routed_scaling_factor 2, two shared
                    experts; yarn with mscale 0.707 and mscale_all_dim 0.6

lm_deepseek_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt      the prompt (int32)
  <m>.logits      model(prompt) without a cache, (1, L, V) float32
  <m>.greedy      generate_step's greedy tokens from the prompt (int32), with its KV caches
                  (each position's latent and rotated key features)
  <m>.logprobs    the log-probabilities it sampled each of them from, (N, V) float32

The script also prints how far mlx-lm's own logits move when every weight changes by a
relative 1e-6 (the tests' tolerance is 2e-4), and the smallest margin of the routing: the
groups' and the experts' choices.
"""
import functools
import os

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_map
from mlx_lm.models import deepseek_v2, deepseek_v3

import lm_fixture
from lm_fixture import HERE, flat, reload, save_model

rng = np.random.default_rng(20261211)
mx.random.seed(20261211)
arrays = {}
VOCAB = 300
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)
# Norms near 1, the correction bias about as large as the sigmoid scores' differences.
build = functools.partial(lm_fixture.build, rng)

CONFIG = dict(model_type="deepseek_v3", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
              moe_intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=4, n_shared_experts=1, n_routed_experts=8,
              routed_scaling_factor=2.5, kv_lora_rank=32, q_lora_rank=32, qk_rope_head_dim=16,
              v_head_dim=32, qk_nope_head_dim=32, topk_method="noaux_tc",
              scoring_func="sigmoid", norm_topk_prob=True, n_group=2, topk_group=1,
              num_experts_per_tok=2, moe_layer_freq=1, first_k_dense_replace=1,
              max_position_embeddings=163840, rms_norm_eps=1e-6, rope_theta=10000,
              rope_scaling=dict(type="yarn", factor=40, beta_fast=32, beta_slow=1, mscale=1.0,
                                mscale_all_dim=0.8, original_max_position_embeddings=4096),
              attention_bias=False, tie_word_embeddings=False, num_nextn_predict_layers=1)


def hugging_face_layout(weights, v2=False):
    """The experts per expert; V3's embed_q and unembed_out as one kv_b_proj (heads x (nope
    + v), kv_lora_rank), a multi-token prediction layer and a rotary table beside them."""
    out = lm_fixture.hugging_face_layout(weights, rewrite=lm_fixture.deepseek_rewrite)
    if v2:
        return out
    out["model.layers.0.self_attn.rotary_emb.inv_freq"] = mx.ones((8,))
    for name, shape in [("enorm.weight", (32,)), ("eh_proj.weight", (32, 64)),
                        ("mlp.experts.0.up_proj.weight", (32, 32))]:
        out[f"model.layers.61.{name}"] = mx.zeros(shape)
    return out


def quantized_kv_b_proj(weights, group_size=32, bits=4):
    """A quantized model's embed_q and unembed_out as one quantized kv_b_proj."""
    out = {}
    for key, value in weights.items():
        if ".embed_q." in key or ".unembed_out." in key:
            continue
        out[key] = value
    for key in [k for k in weights if k.endswith("embed_q.weight")]:
        prefix = key[: -len("embed_q.weight")]

        def dense(name):
            return mx.dequantize(weights[f"{prefix}{name}.weight"],
                                 weights[f"{prefix}{name}.scales"],
                                 weights[f"{prefix}{name}.biases"], group_size, bits)

        wq, scales, biases = mx.quantize(
            lm_fixture.kv_b_proj(dense("embed_q"), dense("unembed_out")), group_size, bits)
        out[prefix + "kv_b_proj.weight"] = wq
        out[prefix + "kv_b_proj.scales"] = scales
        out[prefix + "kv_b_proj.biases"] = biases
    return out


margins = {"group": np.inf, "expert": np.inf, "chosen": np.inf}
select = deepseek_v3.group_expert_select


def watched_select(gates, bias, top_k, n_group, topk_group, scaling, norm):
    """group_expert_select, noting how close its choices came to going the other way."""
    scores = np.array(mx.sigmoid(gates.astype(mx.float32)) + bias).reshape(-1, gates.shape[-1])
    grouped = scores.reshape(scores.shape[0], n_group, -1)
    group_sums = np.sort(grouped, -1)[..., -2:].sum(-1)
    ranked_groups = np.sort(group_sums, -1)
    dropped = n_group - topk_group
    margins["group"] = min(margins["group"],
                           np.min(ranked_groups[:, dropped] - ranked_groups[:, dropped - 1]))
    masked = grouped.copy()
    for row, order in enumerate(np.argsort(group_sums, -1)):
        masked[row, order[:dropped]] = 0
    ranked = np.sort(masked.reshape(scores.shape[0], -1), -1)
    margins["expert"] = min(margins["expert"], np.min(ranked[:, -top_k] - ranked[:, -top_k - 1]))
    margins["chosen"] = min(margins["chosen"], np.min(ranked[:, -top_k]))
    return select(gates, bias, top_k, n_group, topk_group, scaling, norm)


deepseek_v3.group_expert_select = watched_select


def sensitivity(name, model, prompt):
    """How far the logits move when every weight is scaled by 1 + 1e-6."""
    base = model(prompt[None])
    saved = model.parameters()
    model.update(tree_map(lambda p: p * (1 + 1e-6) if p.dtype == mx.float32 else p, saved))
    moved = mx.max(mx.abs(model(prompt[None]) - base)).item()
    model.update(saved)
    print(f"{name}: logits moved {moved:.2e} by a relative 1e-6 in the weights")


model = build(deepseek_v3, CONFIG)
save_model("deepseek_v3", hugging_face_layout(flat(model)), CONFIG)
loaded = reload("deepseek_v3")
record("deepseek_v3", loaded, prompt_length=36, steps=10)
sensitivity("deepseek_v3", loaded, arrays["deepseek_v3.prompt"])

CONFIG_4BIT = dict(CONFIG, q_lora_rank=None, moe_layer_freq=2)
model = build(deepseek_v3, CONFIG_4BIT)
nn.quantize(model, group_size=32, bits=4)
save_model("deepseek_v3_4bit", quantized_kv_b_proj(flat(model)),
           dict(CONFIG_4BIT, quantization=dict(group_size=32, bits=4, mode="affine")))
record("deepseek_v3_4bit", reload("deepseek_v3_4bit"), prompt_length=12, steps=8)

CONFIG_V2 = dict({k: v for k, v in CONFIG.items() if k not in ("scoring_func", "norm_topk_prob")},
                 model_type="deepseek_v2", topk_method="group_limited_greedy",
                 routed_scaling_factor=2.0, n_shared_experts=2,
                 rope_scaling=dict(type="yarn", factor=40, beta_fast=32, beta_slow=1,
                                   mscale=0.707, mscale_all_dim=0.6,
                                   original_max_position_embeddings=4096))
model = build(deepseek_v2, CONFIG_V2)
save_model("deepseek_v2", hugging_face_layout(flat(model), v2=True),
           CONFIG_V2)
loaded = reload("deepseek_v2")
record("deepseek_v2", loaded, prompt_length=20, steps=10)
sensitivity("deepseek_v2", loaded, arrays["deepseek_v2.prompt"])

print("smallest routing margins: " + ", ".join(f"{k} {v:.4f}" for k, v in margins.items()))
mx.save_safetensors(os.path.join(HERE, "lm_deepseek_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
