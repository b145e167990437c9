#!/usr/bin/env python3
"""Writes mlx-lm's DeepSeek V3.2 models (models/deepseek_v32.py) and what they compute, for
client/lm/models_mlx_test.cc and batch_generator_test.cc (the models named deepseek_v32*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_deepseek_v32_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: a vocabulary
of 96, hidden size 32, 2 layers (layer 0 dense), 2 heads of DeepSeek V3's latent attention
(q_lora_rank 32, kv_lora_rank 32, 16 latent-derived and 8 rotated key features per head, 16
values), 8 routed experts in 2 groups (topk_group 1, top-2) and a shared expert; each layer's
lightning indexer of 8 heads of 16 features lets each query attend to its index_topk 8 best
keys, so the prompts of 28 tokens drop most of them:
  deepseek_v32       in Hugging Face's layout, which mlx-lm's sanitize rewrites: experts per
                     expert, each layer's kv_b_proj (not yet split into embed_q and
                     unembed_out), a multi-token prediction layer (model.layers.2.*, dropped);
                     DeepSeek's yarn RoPE (factor 40, mscale 1, mscale_all_dim 0.8), the
                     indexer's not interleaved
  deepseek_v32_4bit  another, without yarn, the indexer's RoPE interleaved
                     (indexer_rope_interleave), quantized as mlx-lm's convert does (affine, 4
                     bits in groups of 32: embed_q, unembed_out and the indexer's projections
                     among them)

lm_deepseek_v32_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.greedy         generate_step's greedy tokens from the prompt (int32), through
                     make_cache's CacheLists (the latent's cache and the indexer's)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
  <m>.cached_logits  the prompt through the caches: a prefill of 5 tokens (under index_topk,
                     where the indexer chooses nothing), one of 9, then a token at a time
  <m>.steps          the prompt a token at a time through make_prompt_cache's caches
and, for deepseek_v32, mlx-lm's BatchGenerator over lm_fixture's batch (record_batch):
<m>.prompt<i>, <m>.tokens<i>, <m>.options.

The script prints the smallest margin of the indexer's choices (between the index_topk-th
best score a query sees and the next, where it sees more than index_topk keys): the choices
are comparable only where it is not 0.
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx_lm.models import deepseek_v32

import lm_fixture
from lm_fixture import HERE, flat, reload, save_model

rng = np.random.default_rng(20261207)
mx.random.seed(20261207)
arrays = {}
VOCAB = 96
TOPK = 8
build = functools.partial(lm_fixture.build, rng)

CONFIG = dict(model_type="deepseek_v32", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
              moe_intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
              num_key_value_heads=2, n_shared_experts=1, n_routed_experts=8,
              routed_scaling_factor=2.5, kv_lora_rank=32, q_lora_rank=32, qk_rope_head_dim=8,
              v_head_dim=16, qk_nope_head_dim=16, topk_method="noaux_tc",
              scoring_func="sigmoid", norm_topk_prob=True, n_group=2, topk_group=1,
              num_experts_per_tok=2, moe_layer_freq=1, first_k_dense_replace=1,
              max_position_embeddings=163840, rms_norm_eps=1e-6, rope_theta=10000,
              rope_scaling=dict(type="yarn", factor=40, beta_fast=32, beta_slow=1, mscale=1.0,
                                mscale_all_dim=0.8, original_max_position_embeddings=4096),
              attention_bias=False, tie_word_embeddings=False, index_n_heads=8,
              index_head_dim=16, index_topk=TOPK, indexer_rope_interleave=False)

margins = {"indexer": np.inf}
indexer_call = deepseek_v32.Indexer.__call__


def watched_indexer(self, x, qr, mask, cache=None):
    """The indexer's choice, noting how close it came to another: recomputes its scores."""
    chosen = indexer_call(self, x, qr, mask, cache)
    if chosen is None:
        return chosen
    b, s, _ = x.shape
    q = self.wq_b(qr).reshape(b, s, self.n_heads, self.head_dim).swapaxes(1, 2)
    keys = cache.keys if cache is not None else None
    offset = (cache.offset - s) if cache is not None else 0
    q = self.rope(q, offset=offset)
    if keys is None:
        k = self.rope(self.k_norm(self.wk(x)).reshape(b, 1, s, self.head_dim), offset=0)
    else:
        k = keys[..., : getattr(cache, "_idx", cache.offset), :]
    scores = mx.maximum(q @ k.swapaxes(-1, -2), 0)
    w = self.weights_proj(x) * (self.n_heads**-0.5 * self.softmax_scale)
    scores = (scores * w.swapaxes(-1, -2)[..., None]).sum(axis=1)
    scores = np.array(scores)
    if mask is not None:
        visible = np.array(mask)
        visible = visible[:, 0] if visible.ndim == 4 else visible
        scores = np.where(np.broadcast_to(visible, scores.shape), scores, -np.inf)
    for row in scores.reshape(-1, scores.shape[-1]):
        seen = np.sort(row[np.isfinite(row)])
        if len(seen) > self.index_topk:
            margin = (seen[-self.index_topk] - seen[-self.index_topk - 1]) / np.max(np.abs(seen))
            margins["indexer"] = min(margins["indexer"], margin)
    return chosen


deepseek_v32.Indexer.__call__ = watched_indexer


def record_all(name, model):
    lm_fixture.record(arrays, rng, VOCAB, name, model, prompt_length=28, steps=10)
    lm_fixture.record_cached(arrays, name, model, [5, 9])
    lm_fixture.record_steps(arrays, name, model)


# deepseek_v32: Hugging Face's layout, a multi-token prediction layer beside the model's.
model = build(deepseek_v32, CONFIG)
weights = lm_fixture.hugging_face_layout(flat(model), rewrite=lm_fixture.deepseek_rewrite)
for suffix, shape in [("enorm.weight", (32,)), ("eh_proj.weight", (32, 64)),
                      ("self_attn.indexer.wk.weight", (16, 32))]:
    weights[f"model.layers.2.{suffix}"] = mx.zeros(shape)
save_model("deepseek_v32", weights, CONFIG)
record_all("deepseek_v32", reload("deepseek_v32"))
lm_fixture.record_batch(arrays, "deepseek_v32", "deepseek_v32", VOCAB, 20261232)

# deepseek_v32_4bit: no yarn, the indexer's RoPE interleaved, 4-bit.
config = dict(CONFIG, indexer_rope_interleave=True)
del config["rope_scaling"]
save_model("deepseek_v32_4bit",
           *lm_fixture.quantized(build(deepseek_v32, config), config, 32, 4))
record_all("deepseek_v32_4bit", reload("deepseek_v32_4bit"))

print(f"smallest margin of the indexer's choices: {margins['indexer']:.2e}")
for name in ["deepseek_v32", "deepseek_v32_4bit"]:
    size = os.path.getsize(os.path.join(HERE, name, "model.safetensors"))
    print(f"{name}/model.safetensors: {size} bytes")
mx.save_safetensors(os.path.join(HERE, "lm_deepseek_v32_mlx.safetensors"), arrays)
