#!/usr/bin/env python3
"""Writes mlx-lm's models and what they compute, for client/lm/models_mlx_test.cc.

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (CPU wheels from PyPI:
  python3 -m venv /tmp/mlxenv
  /tmp/mlxenv/bin/pip install 'mlx[cpu]==0.32.4' 'mlx-lm==0.32.2' 'numpy<2'
  /tmp/mlxenv/bin/python client/lm/testdata/lm_mlx.py

Each model is a directory as mlx-lm saves one (config.json, model.safetensors), with random
weights: llama (grouped-query attention, llama3 rope scaling, its own lm_head), qwen2 (q/k/v
biases, tied embeddings; qwen2_bf16 the same in bfloat16), qwen3 (q/k norms, a head_dim
apart from hidden/heads),
llama_4bit (the llama quantized by nn.quantize, affine, 4 bits in groups of 32) and
mistral_mxfp4 (llama's layout under mistral's name, quantized to mxfp4).

lm_mlx.safetensors holds, for each model <m>:
  <m>.prompt      the prompt (int32)
  <m>.logits      model(prompt) without a cache, (1, L, V) float32
  <m>.greedy      generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs    the log-probabilities it sampled each of them from, (N, V) float32
  qwen2_bf16.logits_f32  qwen2_bf16's logits computed in float32 from its bfloat16 weights
and sampler.* / processor.*: mlx-lm's sample_utils applied to fixed inputs.
"""
import functools
import os

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import llama, qwen2, qwen3
from mlx_lm import sample_utils

import lm_fixture
from lm_fixture import HERE

rng = np.random.default_rng(20261207)
mx.random.seed(20261207)
arrays = {}

BASE = dict(hidden_size=32, num_hidden_layers=2, intermediate_size=64, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=96)
CONFIGS = {
    "llama": dict(BASE, model_type="llama", tie_word_embeddings=False, rope_theta=500000.0,
                  max_position_embeddings=2048,
                  rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                    high_freq_factor=4.0,
                                    original_max_position_embeddings=64)),
    "qwen2": dict(BASE, model_type="qwen2", tie_word_embeddings=True, rope_theta=1000000.0,
                  max_position_embeddings=2048),
    "qwen3": dict(BASE, model_type="qwen3", tie_word_embeddings=False, head_dim=16,
                  rope_theta=1000000.0, max_position_embeddings=2048),
}
MODULES = {"llama": llama, "qwen2": qwen2, "qwen3": qwen3}


def save_model(name, model, config):
    lm_fixture.save_model(name, dict(tree_flatten(model.parameters())), config)


record = functools.partial(lm_fixture.record, arrays, rng, BASE["vocab_size"])


def build(name):
    """The model of CONFIGS[name], its weights drawn (norms near 1, so no layer is an
    identity)."""
    return lm_fixture.build(rng, MODULES[name], CONFIGS[name]), CONFIGS[name]


for name in ["llama", "qwen2", "qwen3"]:
    model, config = build(name)
    save_model(name, model, config)
    record(name, model, prompt_length=11, steps=12)

    if name == "qwen2":
        model.set_dtype(mx.bfloat16)
        save_model("qwen2_bf16", model, dict(config, torch_dtype="bfloat16"))
        record("qwen2_bf16", model, prompt_length=11, steps=12)
        # The same bfloat16 weights computed in float32: what bfloat16's rounding departs from.
        model.set_dtype(mx.float32)
        arrays["qwen2_bf16.logits_f32"] = model(arrays["qwen2_bf16.prompt"][None])

    if name == "llama":
        nn.quantize(model, group_size=32, bits=4)
        save_model("llama_4bit", model,
                   dict(config, quantization=dict(group_size=32, bits=4, mode="affine")))
        record("llama_4bit", model, prompt_length=9, steps=8)

        mistral = dict(config, model_type="mistral")
        del mistral["rope_scaling"]
        model = lm_fixture.build(rng, llama, mistral)
        nn.quantize(model, group_size=32, bits=4, mode="mxfp4",
                    class_predicate=lambda p, m: isinstance(m, nn.Linear))
        save_model("mistral_mxfp4", model,
                   dict(mistral, quantization=dict(group_size=32, bits=4, mode="mxfp4")))
        record("mistral_mxfp4", model, prompt_length=7, steps=8)

# Samplers and logits processors on fixed inputs (two rows, a vocabulary of 40).
logits = mx.array((2.0 * rng.standard_normal((2, 40))).astype(np.float32))
logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
arrays["sampler.logprobs"] = logprobs
arrays["sampler.top_p_0.9"] = sample_utils.apply_top_p(logprobs, 0.9)
arrays["sampler.top_p_0.3"] = sample_utils.apply_top_p(logprobs, 0.3)
arrays["sampler.min_p_0.1"] = sample_utils.apply_min_p(logprobs, 0.1)
arrays["sampler.min_p_0.9_keep_3"] = sample_utils.apply_min_p(logprobs, 0.9, 3)
arrays["sampler.top_k_5"] = sample_utils.apply_top_k(logprobs, 5)

history = mx.array([3, 7, 7, 12, 30, 3, 7], dtype=mx.int32)
arrays["processor.history"] = history
arrays["processor.logits"] = logits
processors = {
    "repetition_1.3": sample_utils.make_repetition_penalty(1.3, 5),
    "presence_0.5": sample_utils.make_presence_penalty(0.5, 20),
    "frequency_0.5": sample_utils.make_frequency_penalty(0.5, 20),
}
for key, processor in processors.items():
    arrays[f"processor.{key}"] = processor(history, mx.array(logits))
bias = sample_utils.make_logits_processors(logit_bias={4: 3.0, 9: -2.5})[0]
arrays["processor.logit_bias"] = bias(history, mx.array(logits))

mx.save_safetensors(os.path.join(HERE, "lm_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
