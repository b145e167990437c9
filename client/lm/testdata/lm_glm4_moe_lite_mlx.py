#!/usr/bin/env python3
"""Writes mlx-lm's GLM-4.7-Flash models (models/glm4_moe_lite.py) and what they compute, for
client/lm/models_mlx_test.cc and batch_generator_test.cc (the models named glm4_moe_lite*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_glm4_moe_lite_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: a vocabulary
of 96, hidden size 32, 2 layers (layer 0 dense), 2 heads of DeepSeek V3's latent attention
(kv_lora_rank 32, 32 latent-derived and 8 rotated key features per head, 32 values), its
query and latent norms of rms_norm_eps (0.01 here, so that DeepSeek's 1e-6 would show), 8
routed experts (top-4, norm_topk_prob, routed_scaling_factor 1.8, a correction bias) beside a
shared one:
  glm4_moe_lite       in Hugging Face's layout, which mlx-lm's sanitize rewrites: experts per
                      expert, each layer's kv_b_proj (not yet split into embed_q and
                      unembed_out), a multi-token prediction layer (model.layers.2.*, dropped);
                      q_lora_rank 32
  glm4_moe_lite_4bit  another without q_lora_rank (one q_proj), quantized as mlx-lm's convert
                      does (affine, 4 bits in groups of 32)

lm_glm4_moe_lite_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.greedy         generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
  <m>.steps          the prompt a token at a time through make_prompt_cache's caches
and, for glm4_moe_lite, mlx-lm's BatchGenerator over lm_fixture's batch (record_batch):
<m>.prompt<i>, <m>.tokens<i>, <m>.options.
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx_lm.models import glm4_moe_lite

import lm_fixture
from lm_fixture import HERE, flat, reload, save_model

rng = np.random.default_rng(20261208)
mx.random.seed(20261208)
arrays = {}
VOCAB = 96
build = functools.partial(lm_fixture.build, rng)

CONFIG = dict(model_type="glm4_moe_lite", vocab_size=VOCAB, hidden_size=32,
              intermediate_size=64, moe_intermediate_size=16, num_hidden_layers=2,
              num_attention_heads=2, num_key_value_heads=2, n_shared_experts=1,
              n_routed_experts=8, routed_scaling_factor=1.8, kv_lora_rank=32, q_lora_rank=32,
              qk_rope_head_dim=8, qk_nope_head_dim=32, v_head_dim=32, topk_method="noaux_tc",
              scoring_func="sigmoid", norm_topk_prob=True, n_group=1, topk_group=1,
              num_experts_per_tok=4, moe_layer_freq=1, first_k_dense_replace=1,
              max_position_embeddings=202752, rms_norm_eps=0.01, rope_theta=1000000.0,
              attention_bias=False, partial_rotary_factor=1.0, tie_word_embeddings=False,
              num_nextn_predict_layers=1)


def record_all(name, model):
    lm_fixture.record(arrays, rng, VOCAB, name, model, prompt_length=20, steps=10)
    lm_fixture.record_steps(arrays, name, model)


model = build(glm4_moe_lite, CONFIG)
weights = lm_fixture.hugging_face_layout(flat(model), rewrite=lm_fixture.deepseek_rewrite)
for suffix, shape in [("enorm.weight", (32,)), ("eh_proj.weight", (32, 64))]:
    weights[f"model.layers.2.{suffix}"] = mx.zeros(shape)
save_model("glm4_moe_lite", weights, CONFIG)
record_all("glm4_moe_lite", reload("glm4_moe_lite"))
lm_fixture.record_batch(arrays, "glm4_moe_lite", "glm4_moe_lite", VOCAB, 20261235)

config = dict(CONFIG, q_lora_rank=None)
save_model("glm4_moe_lite_4bit",
           *lm_fixture.quantized(build(glm4_moe_lite, config), config, 32, 4))
record_all("glm4_moe_lite_4bit", reload("glm4_moe_lite_4bit"))

for name in ["glm4_moe_lite", "glm4_moe_lite_4bit"]:
    size = os.path.getsize(os.path.join(HERE, name, "model.safetensors"))
    print(f"{name}/model.safetensors: {size} bytes")
mx.save_safetensors(os.path.join(HERE, "lm_glm4_moe_lite_mlx.safetensors"), arrays)
