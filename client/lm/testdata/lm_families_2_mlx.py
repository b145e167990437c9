#!/usr/bin/env python3
"""Writes mlx-lm's GLM-4, EXAONE 4, ERNIE 4.5 (dense and MoE) and OLMoE models and what they
compute, for client/lm/models_mlx_test.cc, more_families_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named glm4*, exaone4*, ernie4_5*, olmoe*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_2_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, a vocabulary
of 96, 4 query heads over 2 key/value heads:
  glm4               hidden 32, head_dim 8, 3 layers, q, k and v biased, RoPE over half of each
                     head (partial_rotary_factor 0.5, traditional), an lm_head. Hugging Face's
                     names are mlx-lm's (gate_up_proj, post_self_attn_layernorm...).
  glm4_4bit          hidden 64, head_dim 16, no biases, quantized as mlx_lm.convert does
                     (affine 4 bits in groups of 64)
  exaone4            hidden 32, head_dim 8, 4 layers, sliding_window 6, sliding_window_pattern
                     "LLLG" (layers 0-2 sliding with llama3-scaled RoPE, 3 global without
                     RoPE), tied; its 20-token prompt and 10 greedy steps run past the window,
                     through the rings of make_prompt_cache. Hugging Face's names are mlx-lm's.
  exaone4_4bit       hidden 64, head_dim 16, 3 layers, no pattern (every layer global with
                     RoPE), an lm_head, quantized (4 bits, groups of 64)
  ernie4_5           hidden 32, 3 layers, use_bias (every projection and MLP biased), tied;
                     head_dim null (hidden / heads)
  ernie4_5_moe       hidden 32, 3 layers, 4 experts of 16, top 2 by softmax, 2 shared
                     experts, layer 0 dense (moe_layer_start_index 1), an lm_head; in Hugging
                     Face's layout (mlp.experts.E.*), with a router e_score_correction_bias
                     and multi-token prediction weights (mtp_*) that mlx-lm's sanitize drops
  ernie4_5_moe_4bit  hidden 64, 3 layers, 4 experts of 32, top 2 by sigmoid (moe_gate_act),
                     no shared experts, moe_layer_interval 2 (layer 1 sparse), use_bias,
                     quantized (4 bits, groups of 32)
  olmoe              hidden 32, 3 layers, 4 experts of 32, top 2, q and k normalized over
                     the whole projections, tied; in Hugging Face's layout (mlp.experts.E.*)
  olmoe_4bit         hidden 64, 2 layers, norm_topk_prob, linear rope_scaling, an lm_head,
                     quantized (4 bits, groups of 32)

lm_families_2_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For glm4, exaone4, ernie4_5_moe and olmoe also mlx-lm's
BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>,
<m>.options.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import ernie4_5, ernie4_5_moe, exaone4, glm4, olmoe

import lm_fixture
from lm_fixture import HERE, flat, per_expert, save_model

rng = np.random.default_rng(20261208)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)


GLM4 = dict(model_type="glm4", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
            num_attention_heads=4, num_key_value_heads=2, attention_bias=True, head_dim=8,
            rms_norm_eps=1e-5, vocab_size=VOCAB, partial_rotary_factor=0.5, rope_theta=10000.0,
            max_position_embeddings=4096)
save_model("glm4", flat(build(glm4, GLM4)), GLM4)
run("glm4")

GLM4_4BIT = dict(GLM4, hidden_size=64, head_dim=16, intermediate_size=128, attention_bias=False)
save_quantized("glm4_4bit", glm4, GLM4_4BIT, 64, 4)
run("glm4_4bit", prompt_length=15, steps=8)

EXAONE4 = dict(model_type="exaone4", hidden_size=32, num_hidden_layers=4, intermediate_size=64,
               num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
               vocab_size=VOCAB, max_position_embeddings=4096, rope_theta=10000.0, head_dim=8,
               tie_word_embeddings=True, sliding_window=6, sliding_window_pattern="LLLG",
               rope_scaling=dict(rope_type="llama3", factor=8.0, high_freq_factor=4.0,
                                 low_freq_factor=1.0, original_max_position_embeddings=64))
save_model("exaone4", flat(build(exaone4, EXAONE4)), EXAONE4)
cache = run("exaone4")
assert [type(c).__name__ for c in cache] == ["RotatingKVCache"] * 3 + ["KVCache"]

EXAONE4_4BIT = dict(EXAONE4, hidden_size=64, head_dim=16, num_hidden_layers=3,
                    intermediate_size=128, tie_word_embeddings=False, sliding_window=None,
                    sliding_window_pattern=None, rope_scaling=None)
save_quantized("exaone4_4bit", exaone4, EXAONE4_4BIT, 64, 4)
run("exaone4_4bit", prompt_length=15, steps=8)

ERNIE = dict(model_type="ernie4_5", hidden_size=32, intermediate_size=64,
             max_position_embeddings=4096, num_attention_heads=4, num_key_value_heads=2,
             head_dim=None, num_hidden_layers=3, rms_norm_eps=1e-5, vocab_size=VOCAB,
             rope_theta=500000.0, use_bias=True, tie_word_embeddings=True)
save_model("ernie4_5", flat(build(ernie4_5, ERNIE)), ERNIE)
run("ernie4_5")

ERNIE_MOE = dict(ERNIE, model_type="ernie4_5_moe", use_bias=False, tie_word_embeddings=False,
                 moe_num_experts=4, moe_k=2, moe_intermediate_size=16,
                 moe_num_shared_experts=2, moe_layer_start_index=1, moe_layer_end_index=2,
                 moe_layer_interval=1, moe_use_aux_free=True, moe_gate_act="softmax")
weights = per_expert(flat(build(ernie4_5_moe, ERNIE_MOE)))
for layer in (1, 2):
    weights[f"model.layers.{layer}.mlp.moe_statics.e_score_correction_bias"] = mx.array(
        rng.standard_normal((1, 4)).astype(np.float32))
weights["mtp_block.0.input_layernorm.weight"] = mx.ones((32,))
weights["mtp_linear_proj.0.weight"] = mx.zeros((32, 64))
save_model("ernie4_5_moe", weights, ERNIE_MOE)
run("ernie4_5_moe")

ERNIE_MOE_4BIT = dict(ERNIE_MOE, hidden_size=64, moe_intermediate_size=32, intermediate_size=128,
                      moe_num_shared_experts=0, moe_gate_act="sigmoid", moe_layer_interval=2,
                      moe_layer_start_index=0, moe_layer_end_index=None, use_bias=True)
save_quantized("ernie4_5_moe_4bit", ernie4_5_moe, ERNIE_MOE_4BIT, 32, 4)
run("ernie4_5_moe_4bit", prompt_length=15, steps=8)

OLMOE = dict(model_type="olmoe", hidden_size=32, num_hidden_layers=3, intermediate_size=32,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=VOCAB,
             num_experts=4, num_experts_per_tok=2, norm_topk_prob=False,
             max_position_embeddings=4096, rope_theta=10000.0, tie_word_embeddings=True)
save_model("olmoe", per_expert(flat(build(olmoe, OLMOE))), OLMOE)
run("olmoe")

OLMOE_4BIT = dict(OLMOE, hidden_size=64, num_hidden_layers=2, norm_topk_prob=True,
                  tie_word_embeddings=False, rope_scaling=dict(type="linear", factor=2.0))
save_quantized("olmoe_4bit", olmoe, OLMOE_4BIT, 32, 4)
run("olmoe_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["glm4", "exaone4", "ernie4_5_moe", "olmoe"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261230 + seed)

mx.save_safetensors(f"{HERE}/lm_families_2_mlx.safetensors", arrays)
