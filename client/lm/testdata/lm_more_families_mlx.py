#!/usr/bin/env python3
"""Writes mlx-lm's Granite, Granite-MoE, Cohere 2 and StarCoder 2 models and what they
compute, for client/lm/models_mlx_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named granite*, cohere2*, starcoder2*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_more_families_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, a vocabulary
of 96, 4 query heads over 2 key/value heads:
  granite           hidden 32, 3 layers, Granite's multipliers (embedding 2, attention 0.3,
                    residual 0.7, logits divided by 4), llama3 rope_scaling, tied, an lm_head
                    beside the tied embedding (dropped by mlx-lm's sanitize)
  granite_4bit      hidden 64, biased attention and MLP, an lm_head, quantized as
                    mlx_lm.convert does (affine 4 bits in groups of 64, its quant_predicate's
                    o_proj, down_proj and lm_head 8 bits)
  granitemoe        hidden 32, 3 layers, 4 experts, top 2, tied, in Hugging Face's layout
                    (block_sparse_moe.input_linear, gate's rows then up's, output_linear)
  granitemoe_4bit   hidden 64, an lm_head, quantized as convert does (routers 8 bits)
  cohere2           hidden 32, 5 layers, sliding_window 6, sliding_window_pattern 4 (layers
                    0-2 and 4 sliding with traditional RoPE, 3 global without), logit_scale
                    0.25; its 20-token prompt and 10 greedy steps run past the window, through
                    the rings of make_prompt_cache. Hugging Face's names are mlx-lm's here.
  cohere2_4bit      hidden 64, biased attention and LayerNorms, quantized (4 bits, groups of
                    32)
  starcoder2        hidden 32, 3 layers, tied; its config's sliding_window 6 is one mlx-lm
                    does not read (every layer sees every position). Hugging Face's names are
                    mlx-lm's.
  starcoder2_4bit   hidden 64, an lm_head, quantized (4 bits, groups of 32)

lm_more_families_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For granite, granitemoe, cohere2 and starcoder2 also
mlx-lm's BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>,
<m>.tokens<i>, <m>.options.
"""

import mlx.core as mx
import numpy as np
from mlx_lm.models import cohere2, granite, granitemoe, starcoder2

import lm_fixture
from lm_fixture import HERE, save_model

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

GRANITE = dict(model_type="granite", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
               num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
               vocab_size=VOCAB, logits_scaling=4.0, attention_multiplier=0.3,
               embedding_multiplier=2.0, residual_multiplier=0.7,
               max_position_embeddings=4096, attention_bias=False, mlp_bias=False,
               rope_theta=10000.0, tie_word_embeddings=True,
               rope_scaling=dict(rope_type="llama3", factor=8.0, high_freq_factor=4.0,
                                 low_freq_factor=1.0, original_max_position_embeddings=64))
weights = lm_fixture.flat(build(granite, GRANITE))
weights["lm_head.weight"] = mx.zeros((VOCAB, 32))
save_model("granite", weights, GRANITE)
run("granite")

GRANITE_4BIT = dict(GRANITE, hidden_size=64, intermediate_size=128, attention_bias=True,
                    mlp_bias=True, tie_word_embeddings=False, rope_scaling=None)
save_quantized("granite_4bit", granite, GRANITE_4BIT, 64, 4)
run("granite_4bit", prompt_length=15, steps=8)

GRANITEMOE = dict(GRANITE, model_type="granitemoe", num_local_experts=4, num_experts_per_tok=2,
                  intermediate_size=48, rope_scaling=None)
del GRANITEMOE["mlp_bias"]


def granitemoe_hugging_face_layout(weights):
    out = {}
    for key, value in weights.items():
        if ".switch_mlp.gate_proj." in key:
            prefix = key.split(".switch_mlp.")[0]
            up = weights[f"{prefix}.switch_mlp.up_proj.weight"]
            out[f"{prefix}.input_linear.weight"] = mx.concatenate([value, up], axis=1)
        elif ".switch_mlp.down_proj." in key:
            out[key.replace("switch_mlp.down_proj", "output_linear")] = value
        elif ".switch_mlp.up_proj." not in key:
            out[key] = value
    return out


model = build(granitemoe, GRANITEMOE)
save_model("granitemoe", granitemoe_hugging_face_layout(lm_fixture.flat(model)),
           GRANITEMOE)
run("granitemoe")

GRANITEMOE_4BIT = dict(GRANITEMOE, hidden_size=64, intermediate_size=64, tie_word_embeddings=False)
save_quantized("granitemoe_4bit", granitemoe, GRANITEMOE_4BIT, 64, 4)
run("granitemoe_4bit", prompt_length=15, steps=8)

COHERE2 = dict(model_type="cohere2", hidden_size=32, head_dim=8, num_hidden_layers=5,
               intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
               rope_theta=50000.0, vocab_size=VOCAB, layer_norm_eps=1e-5, logit_scale=0.25,
               attention_bias=False, layer_norm_bias=False, sliding_window=6,
               sliding_window_pattern=4)
save_model("cohere2", lm_fixture.flat(build(cohere2, COHERE2)), COHERE2)
cache = run("cohere2")
assert [type(c).__name__ for c in cache] == ["RotatingKVCache"] * 3 + ["KVCache",
                                                                       "RotatingKVCache"]

COHERE2_4BIT = dict(COHERE2, hidden_size=64, head_dim=16, intermediate_size=128,
                    attention_bias=True, layer_norm_bias=True)
save_quantized("cohere2_4bit", cohere2, COHERE2_4BIT, 32, 4)
run("cohere2_4bit", prompt_length=15, steps=8)

STARCODER2 = dict(model_type="starcoder2", hidden_size=32, num_hidden_layers=3,
                  intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                  norm_epsilon=1e-5, vocab_size=VOCAB, rope_theta=100000.0,
                  tie_word_embeddings=True, sliding_window=6, use_bias=True)
save_model("starcoder2", lm_fixture.flat(build(starcoder2, STARCODER2)),
           STARCODER2)
run("starcoder2")

STARCODER2_4BIT = dict(STARCODER2, hidden_size=64, intermediate_size=128,
                       tie_word_embeddings=False)
save_quantized("starcoder2_4bit", starcoder2, STARCODER2_4BIT, 32, 4)
run("starcoder2_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["granite", "granitemoe", "cohere2", "starcoder2"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261220 + seed)

mx.save_safetensors(f"{HERE}/lm_more_families_mlx.safetensors", arrays)
