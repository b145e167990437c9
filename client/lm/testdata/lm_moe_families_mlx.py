#!/usr/bin/env python3
"""Writes mlx-lm's MiniMax-M2 (minimax), dots.llm1 (dots1) and Ling / Ring (bailing_moe)
models and what they compute, for client/lm/models_mlx_test.cc, moe_families_test.cc,
more_families_test.cc, batch_generator_test.cc and tests/client_lm_remote_test.cc (the models
named minimax*, dots1*, bailing_moe*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_moe_families_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, a vocabulary
of 96, 4 query heads over 2 key/value heads:
  minimax       hidden 32, head_dim 8, 3 layers, RoPE over the first 4 features of each head
                (rotary_dim), q and k normalized over the whole projections, in every layer 4
                experts of 16, the top 2 by sigmoid scores ranked with e_score_correction_bias;
                in Hugging Face's layout (block_sparse_moe.experts.E.w1, w2, w3)
  minimax_4bit  hidden 64, head_dim 16, 2 layers, rotary_dim 8, 8 experts of 32, top 2, tied,
                quantized as mlx_lm.convert does (4 bits in groups of 32, the routers
                block_sparse_moe.gate 8 bits in groups of 64, mlx-lm's quant_predicate)
  dots1         hidden 32, 3 layers, layer 0 dense (first_k_dense_replace 1), then 8 experts
                of 16 in 2 groups (topk_group 1), top 2, norm_topk_prob, routed_scaling_factor
                2.5, one shared expert, q and k normalized per head, an lm_head; in Hugging
                Face's layout (mlp.experts.E.*), with rotary_emb.inv_freq buffers that mlx-lm's
                sanitize drops
  dots1_4bit    hidden 64, 2 layers, no dense layer, 4 experts of 32, top 2, 2 shared experts,
                mlp_bias (the shared experts biased), linear rope_scaling, tied, quantized (4
                bits in groups of 32)
  bailing_moe   hidden 32, 3 layers, layer 0 dense, then 8 experts of 16 in 2 groups
                (topk_group 1), top 2 by sigmoid scores ranked with the router's expert_bias,
                renormalized, routed_scaling_factor 2, one shared expert of 24
                (moe_shared_expert_intermediate_size), query_key_value biased, q and k
                normalized per head, RoPE over half of each head, norm_head (lm_head's columns
                normalized by mlx-lm's sanitize); in Hugging Face's layout (mlp.experts.E.*,
                the router as mlp.gate.weight)
  bailing_moe_4bit  hidden 64, 2 layers, 4 experts of 32, top 2 by softmax, 2 shared experts,
                use_bias (dense, MLPs and experts biased), rotary_dim 8 of 16, linear
                rope_scaling, tied, quantized (4 bits in groups of 32, the routers
                mlp.gate.gate_proj 8 bits in groups of 64)

lm_moe_families_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For minimax, dots1 and bailing_moe also mlx-lm's BatchGenerator over
lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>, <m>.options.
"""

import mlx.core as mx
import numpy as np
from mlx_lm.models import bailing_moe, dots1, minimax

import lm_fixture
from lm_fixture import HERE, save_model

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)


MINIMAX = dict(model_type="minimax", hidden_size=32, intermediate_size=16,
               num_attention_heads=4, num_key_value_heads=2, head_dim=8,
               max_position_embeddings=4096, num_experts_per_tok=2, num_local_experts=4,
               shared_intermediate_size=16, num_hidden_layers=3, rms_norm_eps=1e-5,
               rope_theta=10000.0, rotary_dim=4, vocab_size=VOCAB, use_qk_norm=True,
               scoring_func="sigmoid")
weights = lm_fixture.hugging_face_layout(
    lm_fixture.flat(build(minimax, MINIMAX)),
    rewrite=lm_fixture.split_experts(".switch_mlp.", ".experts.",
                                     dict(gate_proj="w1", down_proj="w2", up_proj="w3"), 4))
save_model("minimax", weights, MINIMAX)
run("minimax")

MINIMAX_4BIT = dict(MINIMAX, hidden_size=64, intermediate_size=32, head_dim=16, rotary_dim=8,
                    num_hidden_layers=2, num_local_experts=8, tie_word_embeddings=True)
save_quantized("minimax_4bit", minimax, MINIMAX_4BIT, 32, 4)
run("minimax_4bit", prompt_length=15, steps=8)

DOTS1 = dict(model_type="dots1", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
             vocab_size=VOCAB, max_position_embeddings=4096, first_k_dense_replace=1,
             moe_intermediate_size=16, n_routed_experts=8, n_shared_experts=1,
             norm_topk_prob=True, num_experts_per_tok=2, rope_theta=10000.0,
             routed_scaling_factor=2.5, n_group=2, topk_group=1, scoring_func="noaux_tc",
             tie_word_embeddings=False)
names = dict(gate_proj="gate_proj", down_proj="down_proj", up_proj="up_proj")
weights = lm_fixture.hugging_face_layout(
    lm_fixture.flat(build(dots1, DOTS1)),
    rewrite=lm_fixture.split_experts(".mlp.experts.", ".mlp.experts.", names, 8))
for layer in range(3):
    weights[f"model.layers.{layer}.self_attn.rotary_emb.inv_freq"] = mx.ones((4,))
save_model("dots1", weights, DOTS1)
run("dots1")

DOTS1_4BIT = dict(DOTS1, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                  first_k_dense_replace=0, moe_intermediate_size=32, n_routed_experts=4,
                  n_shared_experts=2, n_group=1, topk_group=1, mlp_bias=True,
                  rope_scaling=dict(type="linear", factor=2.0), tie_word_embeddings=True)
save_quantized("dots1_4bit", dots1, DOTS1_4BIT, 32, 4)
run("dots1_4bit", prompt_length=15, steps=8)

BAILING = dict(model_type="bailing_moe", hidden_size=32, intermediate_size=64,
               max_position_embeddings=4096, moe_intermediate_size=16, num_experts=8,
               num_shared_experts=1, norm_topk_prob=True, num_attention_heads=4,
               num_experts_per_tok=2, num_hidden_layers=3, num_key_value_heads=2,
               rms_norm_eps=1e-5, rope_theta=10000.0, vocab_size=VOCAB, first_k_dense_replace=1,
               use_qkv_bias=True, use_qk_norm=True, norm_head=True, partial_rotary_factor=0.5,
               moe_router_enable_expert_bias=True, routed_scaling_factor=2.0,
               score_function="sigmoid", n_group=2, topk_group=1,
               moe_shared_expert_intermediate_size=24)


split_bailing = lm_fixture.split_experts(".mlp.switch_mlp.", ".mlp.experts.", names, 8)


def bailing_hugging_face(key, value, weights):
    """Hugging Face's per-expert layout, and its router as mlp.gate.weight."""
    if key.endswith(".mlp.gate.gate_proj.weight"):
        return {key.replace(".gate.gate_proj.", ".gate."): value}
    return split_bailing(key, value, weights)


weights = lm_fixture.hugging_face_layout(
    lm_fixture.flat(build(bailing_moe, BAILING)), rewrite=bailing_hugging_face)
save_model("bailing_moe", weights, BAILING)
run("bailing_moe")

BAILING_4BIT = dict(BAILING, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                    moe_intermediate_size=32, num_experts=4, first_k_dense_replace=0,
                    use_qkv_bias=False, use_bias=True, use_qk_norm=False, norm_head=False,
                    partial_rotary_factor=1.0, rotary_dim=8, moe_router_enable_expert_bias=False,
                    routed_scaling_factor=1.0, score_function="softmax", n_group=1,
                    topk_group=4, num_shared_experts=2, moe_shared_expert_intermediate_size=None,
                    tie_word_embeddings=True, rope_scaling=dict(type="linear", factor=2.0))
save_quantized("bailing_moe_4bit", bailing_moe, BAILING_4BIT, 32, 4)
run("bailing_moe_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["minimax", "dots1", "bailing_moe"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261240 + seed)

mx.save_safetensors(f"{HERE}/lm_moe_families_mlx.safetensors", arrays)
