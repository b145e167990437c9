#!/usr/bin/env python3
"""Writes mlx-lm's Gemma 3 models and what they compute, for client/lm/models_mlx_test.cc
(the models named gemma3*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_gemma3_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, 7 layers of
which every third (2 and 5) attends globally and the others over a window of 8 positions;
the prompts are longer than the window, so the window changes every prediction after it:
  gemma3_text       tied embeddings (no lm_head, as Gemma 3's checkpoints), linear RoPE
                    scaling on the global layers, query_pre_attn_scalar 24 (not head_dim),
                    config.json's layer_types as transformers writes them (mlx-lm ignores them)
  gemma3            model_type "gemma3": the same kind of model under text_config (heads from
                    gemma3.py's defaults, 8 and 4), weights under language_model.model..., and
                    a vision_tower and multi_modal_projector that mlx-lm's sanitize drops
  gemma3_text_4bit  another gemma3_text quantized as mlx-lm's convert does (affine, 4 bits in
                    groups of 32), with its own lm_head (untied: mlx-lm ties only when the
                    checkpoint lacks lm_head.weight)

lm_gemma3_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt      the prompt (int32)
  <m>.logits      model(prompt) without a cache, (1, L, V) float32
  <m>.greedy      generate_step's greedy tokens from the prompt (int32), with mlx-lm's own
                  caches (make_cache: RotatingKVCache(sliding_window) for the sliding layers)
  <m>.logprobs    the log-probabilities it sampled each of them from, (N, V) float32
"""
import functools
import json
import os

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import gemma3, gemma3_text

import lm_fixture
from lm_fixture import HERE, reload, save_model

rng = np.random.default_rng(20261209)
mx.random.seed(20261209)
arrays = {}
VOCAB = 96
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)
# Gemma's norms scale by 1 + weight, so theirs near 0; the embedding small (tied models
# repeat the prompt's end otherwise).
build = functools.partial(lm_fixture.build, rng, norm_center=0.0, embed_scale=0.1)

TEXT = dict(model_type="gemma3_text", hidden_size=32, num_hidden_layers=7, intermediate_size=64,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
            vocab_size=VOCAB, rope_theta=1000000.0, rope_local_base_freq=10000.0,
            query_pre_attn_scalar=24, sliding_window=8, sliding_window_pattern=3,
            max_position_embeddings=4096, rope_scaling=dict(rope_type="linear", factor=8.0),
            layer_types=["sliding_attention", "sliding_attention", "full_attention"] * 2 +
            ["sliding_attention"])


def untied(weights, head="lm_head"):
    """Without the output layer: mlx-lm's sanitize then ties it to the embedding."""
    return {k: v for k, v in weights.items() if not k.startswith(head + ".")}


# gemma3_text, tied.
model = build(gemma3_text, TEXT)
save_model("gemma3_text", untied(dict(tree_flatten(model.parameters()))), TEXT)
record("gemma3_text", reload("gemma3_text"), prompt_length=20, steps=10)

# gemma3: the text model under text_config, beside a vision tower mlx-lm drops.
text_config = {k: v for k, v in TEXT.items()
               if k not in ("num_attention_heads", "num_key_value_heads", "head_dim",
                            "vocab_size", "layer_types")}
text_config["head_dim"] = 8
config = dict(model_type="gemma3", vocab_size=VOCAB, text_config=text_config)
model = build(gemma3, json.loads(json.dumps(config)))
weights = untied(dict(tree_flatten(model.parameters())), "language_model.lm_head")
weights["vision_tower.vision_model.embeddings.patch_embedding.weight"] = mx.zeros((4, 3))
weights["multi_modal_projector.mm_input_projection_weight"] = mx.zeros((3, 4))
save_model("gemma3", weights, config)
record("gemma3", reload("gemma3"), prompt_length=18, steps=10)

# gemma3_text quantized, with its own (quantized) lm_head.
model = build(gemma3_text, TEXT)
nn.quantize(model, group_size=32, bits=4)
save_model("gemma3_text_4bit", dict(tree_flatten(model.parameters())),
           dict(TEXT, quantization=dict(group_size=32, bits=4, mode="affine")))
record("gemma3_text_4bit", reload("gemma3_text_4bit"), prompt_length=14, steps=10)

mx.save_safetensors(os.path.join(HERE, "lm_gemma3_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
