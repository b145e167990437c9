#!/usr/bin/env python3
"""Writes mlx-lm's Llama 4 models and what they compute, for client/lm/llama4_test.cc and
client/lm/models_mlx_test.cc (the models named llama4*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_llama4_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: hidden size
32, a vocabulary of 96, 4 layers of 4 query heads of 8 over 2 key/value heads:
  llama4        model_type "llama4", its text model under "text_config": layers 0-2 attend
                over chunks of 6 positions (attention_chunk_size) with llama3-scaled
                traditional RoPE and weightless q/k norms, layer 3 over every position
                without RoPE, its queries temperature-tuned (floor_scale 4, so the scale
                grows within the prompt); layers 1 and 3 are mixtures of 4 experts (top-1,
                sigmoid score on the input) with a shared expert (interleave_moe_layer_step
                2). In Hugging Face's layout: the experts' gate_up_proj fused and down_proj
                (input, output), a vision tower and projector beside them (dropped)
  llama4_4bit   the same text model saved as mlx-lm's convert does (sanitized, affine 4 bits
                in groups of 32)
  llama4_kv     llama4's text model with heads of 32, generated with kv_bits 4 (groups of 32,
                quantized_kv_start 0): the global layer's cache quantized, the chunked ones not
  llama4_text   model_type "llama4_text": dense, no_rope_layers [1, 0, 1, 1], q/k normalized
                before RoPE, an "output" head

lm_llama4_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and for llama4 also llama4.steps: the logits (20, vocab) of its prompt fed one token at a
time through make_prompt_cache's caches (ChunkedKVCache on the chunked layers), through
three chunk boundaries; llama4's greedy run crosses a fourth.
"""
import functools

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import llama4, llama4_text
from mlx_lm.models.cache import make_prompt_cache

import lm_fixture
from lm_fixture import HERE, reload, save_model

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)
build = functools.partial(lm_fixture.build, rng)

TEXT = dict(model_type="llama4_text", hidden_size=32, num_hidden_layers=4,
            intermediate_size=32, intermediate_size_mlp=64, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, num_local_experts=4, num_experts_per_tok=1,
            interleave_moe_layer_step=2, attention_chunk_size=6, attention_bias=False,
            rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=4096,
            rope_scaling=dict(rope_type="llama3", factor=8.0, high_freq_factor=4.0,
                              low_freq_factor=1.0, original_max_position_embeddings=64),
            use_qk_norm=True, attn_temperature_tuning=4, floor_scale=4, attn_scale=0.1,
            vocab_size=VOCAB)
CONFIG = dict(model_type="llama4", text_config=TEXT, vision_config=dict(hidden_size=16))


def hugging_face_layout(weights):
    """The experts as Hugging Face's Llama4TextExperts holds them, and vision weights."""
    out = {}
    for key, value in weights.items():
        if ".experts.gate_proj." in key:
            prefix = key.split(".gate_proj.")[0]
            up = weights[f"{prefix}.up_proj.weight"]
            out[f"{prefix}.gate_up_proj"] = mx.concatenate(
                [mx.swapaxes(value, 1, 2), mx.swapaxes(up, 1, 2)], axis=-1)
        elif ".experts.down_proj." in key:
            out[key.rsplit(".weight", 1)[0]] = mx.swapaxes(value, 1, 2)
        elif ".experts.up_proj." not in key:
            out[key] = value
    out["vision_model.patch_embedding.linear.weight"] = mx.zeros((16, 12))
    out["multi_modal_projector.linear_1.weight"] = mx.zeros((32, 16))
    return out


model = build(llama4, CONFIG)
save_model("llama4", hugging_face_layout(dict(tree_flatten(model.parameters()))), CONFIG)
loaded = reload("llama4")
record("llama4", loaded, prompt_length=20, steps=10)
cache = make_prompt_cache(loaded)
assert type(cache[0]).__name__ == "ChunkedKVCache" and type(cache[3]).__name__ == "KVCache"
arrays["llama4.steps"] = mx.concatenate(
    [loaded(t.reshape(1, 1), cache=cache)[0] for t in arrays["llama4.prompt"]]).astype(mx.float32)

model = build(llama4, CONFIG)
nn.quantize(model, group_size=32, bits=4)
save_model("llama4_4bit", dict(tree_flatten(model.parameters())),
           dict(CONFIG, quantization=dict(group_size=32, bits=4, mode="affine")))
record("llama4_4bit", reload("llama4_4bit"), prompt_length=15, steps=8)

TEXT_ONLY = dict(model_type="llama4_text", hidden_size=32, num_hidden_layers=4,
                 intermediate_size=48, intermediate_size_mlp=64, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-5, rope_theta=10000.0,
                 tie_word_embeddings=False, no_rope_layers=[1, 0, 1, 1], use_qk_norm=True,
                 vocab_size=VOCAB)
model = build(llama4_text, TEXT_ONLY)
save_model("llama4_text", dict(tree_flatten(model.parameters())), TEXT_ONLY)
record("llama4_text", reload("llama4_text"), prompt_length=13, steps=10)

# Heads of 32 features, a quantized cache's groups: kv_bits quantizes the global layer's
# cache (its KVCache) and leaves the chunked ones (ChunkedKVCache has no to_quantized).
KV_CONFIG = dict(CONFIG, text_config=dict(TEXT, head_dim=32))
model = build(llama4, KV_CONFIG)
save_model("llama4_kv", dict(tree_flatten(model.parameters())), KV_CONFIG)
record("llama4_kv", reload("llama4_kv"), prompt_length=16, steps=10, kv_bits=4,
       kv_group_size=32, quantized_kv_start=0)

mx.save_safetensors(f"{HERE}/lm_llama4_mlx.safetensors", arrays)
