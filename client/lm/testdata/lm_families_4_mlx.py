#!/usr/bin/env python3
"""Writes mlx-lm's Gemma (1), Cohere (Command-R), Phi (Phi-2) and StableLM models and what they
compute, for client/lm/models_mlx_test.cc, families_4_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named gemma*, cohere*, phi*, stablelm*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_4_mlx.py

None of the four has a sanitize in mlx-lm 0.32.2: Hugging Face's names are mlx-lm's, so each
unquantized directory is both layouts at once (config.json as Hugging Face writes it, with
fields mlx-lm does not read). Each model has random weights, a vocabulary of 96:
  gemma            hidden 32, 3 layers, 4 query heads of head_dim 16 over 2 key/value heads
                   (heads * head_dim 64, not hidden), Gemma's norms (1 + weight) drawn near 0,
                   hidden_activation "gelu_pytorch_tanh" that mlx-lm ignores (its MLP's gelu is
                   the exact one)
  gemma_4bit       hidden 64, 2 layers, traditional RoPE, quantized as mlx_lm.convert does
                   (affine 4 bits in groups of 32; the embedding, tied, too)
  cohere           hidden 32, 3 layers, 4 heads over 2, use_qk_norm (LayerNorm2D q_norm and
                   k_norm per head), logit_scale 0.25, LayerNorms without bias
  cohere_4bit      hidden 64, biased attention and LayerNorms, no q/k norms, quantized (4 bits,
                   groups of 32)
  phi              hidden 64, 3 layers, 4 heads of 16 over 2, partial_rotary_factor 0.4 (int(6.4)
                   = 6 features rotated), LayerNorms, every Linear biased (lm_head too)
  phi_4bit         hidden 64, 2 layers, num_key_value_heads null (mlx-lm: the query heads'),
                   quantized (4 bits, groups of 32; lm_head's bias kept)
  stablelm         hidden 32, 3 layers, 4 heads over 2, partial_rotary_factor 0.25, q, k and v
                   biased, qk_layernorm (a LayerNorm without bias per head, "norms.N"), a
                   sequential residual
  stablelm_4bit    hidden 64, 2 layers, use_parallel_residual (no post_attention_layernorm),
                   no q/k norms, no biases, quantized (4 bits, groups of 32)

lm_families_4_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For gemma, cohere, phi and stablelm also mlx-lm's
BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>,
<m>.options.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import cohere, gemma, phi, stablelm

import lm_fixture
from lm_fixture import HERE, flat, save_model

rng = np.random.default_rng(20261208)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

GEMMA = dict(model_type="gemma", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
             vocab_size=VOCAB, rope_theta=10000.0, hidden_activation="gelu_pytorch_tanh",
             max_position_embeddings=8192, architectures=["GemmaForCausalLM"])
save_model("gemma", flat(build(gemma, GEMMA, norm_center=0.0)), GEMMA)
run("gemma")

GEMMA_4BIT = dict(GEMMA, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                  rope_traditional=True)
model = build(gemma, GEMMA_4BIT, norm_center=0.0)
save_model("gemma_4bit", *lm_fixture.quantized(model, GEMMA_4BIT, 32, 4))
run("gemma_4bit", prompt_length=15, steps=8)

COHERE = dict(model_type="cohere", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
              num_attention_heads=4, num_key_value_heads=2, rope_theta=8000000.0,
              vocab_size=VOCAB, layer_norm_eps=1e-5, logit_scale=0.25, attention_bias=False,
              layer_norm_bias=False, use_qk_norm=True, architectures=["CohereForCausalLM"])
save_model("cohere", flat(build(cohere, COHERE)), COHERE)
run("cohere")

COHERE_4BIT = dict(COHERE, hidden_size=64, intermediate_size=128, attention_bias=True,
                   layer_norm_bias=True, use_qk_norm=False)
save_quantized("cohere_4bit", cohere, COHERE_4BIT, 32, 4)
run("cohere_4bit", prompt_length=15, steps=8)

PHI = dict(model_type="phi", hidden_size=64, num_hidden_layers=3, intermediate_size=96,
           num_attention_heads=4, num_key_value_heads=2, partial_rotary_factor=0.4,
           layer_norm_eps=1e-5, vocab_size=VOCAB, rope_theta=10000.0,
           max_position_embeddings=2048, hidden_act="gelu_new", tie_word_embeddings=False,
           architectures=["PhiForCausalLM"])
save_model("phi", flat(build(phi, PHI)), PHI)
run("phi")

PHI_4BIT = dict(PHI, num_hidden_layers=2, intermediate_size=128, num_key_value_heads=None)
save_quantized("phi_4bit", phi, PHI_4BIT, 32, 4)
run("phi_4bit", prompt_length=15, steps=8)

STABLELM = dict(model_type="stablelm", hidden_size=32, num_hidden_layers=3,
                intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                rope_theta=10000.0, use_qkv_bias=True, partial_rotary_factor=0.25,
                layer_norm_eps=1e-5, vocab_size=VOCAB, use_parallel_residual=False,
                qk_layernorm=True, tie_word_embeddings=False,
                architectures=["StableLmForCausalLM"])
model = build(stablelm, STABLELM)
# Its per-head norms ("norms.N.weight") near 1, as draw_weights draws the others.
for layer in model.layers:
    for norm in layer.self_attn.q_layernorm.norms + layer.self_attn.k_layernorm.norms:
        norm.weight = mx.array(1 + 0.2 * rng.standard_normal(norm.weight.shape).astype(np.float32))
save_model("stablelm", flat(model), STABLELM)
run("stablelm")

STABLELM_4BIT = dict(STABLELM, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                     use_qkv_bias=False, use_parallel_residual=True, qk_layernorm=False)
save_quantized("stablelm_4bit", stablelm, STABLELM_4BIT, 32, 4)
run("stablelm_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["gemma", "cohere", "phi", "stablelm"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261230 + seed)

mx.save_safetensors(f"{HERE}/lm_families_4_mlx.safetensors", arrays)
