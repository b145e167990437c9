#!/usr/bin/env python3
"""Writes mlx-lm's InternLM2, MiniCPM, MiniCPM3, Nemotron and EXAONE (3, 3.5) models and what
they compute, for client/lm/models_mlx_test.cc, families_5_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named internlm2*, minicpm*, minicpm3*, nemotron*,
exaone*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_5_mlx.py

Two of the five have a sanitize in mlx-lm 0.32.2: internlm2's drops "attention.rope.inv_freq"
(the internlm2 directory holds one, as a Hugging Face checkpoint would), minicpm's copies the
embedding to a missing lm_head (the minicpm directory, untied, has none). The others' Hugging
Face names are mlx-lm's. Each model has random weights, a vocabulary of 96:
  internlm2        hidden 32, 3 layers, 4 heads over 2 (wqkv fused per key/value group),
                   every Linear but the MLP's biased, rope_scaling "dynamic" (plain within
                   max_position_embeddings), an output layer of its own
  internlm2_4bit   hidden 64, 2 layers, no biases, tied, quantized (4 bits, groups of 32)
  minicpm          hidden 32, 3 layers, 4 heads over 2, scale_emb 3, scale_depth 1.4,
                   dim_model_base 8 (the hidden state divided by 4 before lm_head), no lm_head
                   in the checkpoint (sanitize: the embedding)
  minicpm_4bit     hidden 64, 2 layers, linear rope_scaling, lm_head of its own, quantized
  minicpm3         hidden 32, 3 layers, 4 heads, q_lora_rank 16, kv_lora_rank 16, qk_nope 8,
                   qk_rope 8 (v_head_dim hidden / heads = 8), SuScaledRoPE with long_factor a
                   list and max_position_embeddings 4 times the original (scaled rotated
                   features), lm_head of its own
  minicpm3_4bit    hidden 64, 2 layers, attention_bias, long_factor a number, tied, quantized
  nemotron         hidden 32, 3 layers, 4 heads over 2, LayerNorm1P (1 + weight, biased),
                   relu2 MLP, partial_rotary_factor 0.5, an lm_head of its own
  nemotron_4bit    hidden 64, head_dim 16 (heads * head_dim 64), partial 0.25, attention and
                   MLP biased, linear rope_scaling, tied, quantized
  exaone           hidden 32, 3 layers (num_layers), 4 heads over 2, tied
  exaone_4bit      hidden 64, 2 layers, attention and MLP biased, llama3 rope_scaling, an
                   lm_head of its own, quantized

lm_families_5_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For internlm2_4bit, minicpm, minicpm3, nemotron and exaone also
mlx-lm's BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>,
<m>.options.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import exaone, internlm2, minicpm, minicpm3, nemotron

import lm_fixture
from lm_fixture import HERE, flat, save_model

rng = np.random.default_rng(20261209)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

INTERNLM2 = dict(model_type="internlm2", hidden_size=32, num_hidden_layers=3,
                 intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                 rms_norm_eps=1e-5, vocab_size=VOCAB, bias=True, rope_theta=10000.0,
                 rope_scaling={"type": "dynamic", "factor": 2.0},
                 max_position_embeddings=2048, tie_word_embeddings=False,
                 architectures=["InternLM2ForCausalLM"])
weights = flat(build(internlm2, INTERNLM2))
# A Hugging Face checkpoint's rotary table, which mlx-lm's sanitize drops.
weights["model.layers.0.attention.rope.inv_freq"] = mx.arange(4, dtype=mx.float32)
save_model("internlm2", weights, INTERNLM2)
run("internlm2")

INTERNLM2_4BIT = dict(INTERNLM2, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                      bias=False, tie_word_embeddings=True, rope_scaling=None)
save_quantized("internlm2_4bit", internlm2, INTERNLM2_4BIT, 32, 4)
run("internlm2_4bit", prompt_length=14, steps=8)

MINICPM = dict(model_type="minicpm", hidden_size=32, dim_model_base=8, num_hidden_layers=3,
               intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
               rms_norm_eps=1e-5, vocab_size=VOCAB, scale_depth=1.4, scale_emb=3.0,
               max_position_embeddings=2048, rope_theta=10000.0, tie_word_embeddings=False,
               architectures=["MiniCPMForCausalLM"])
weights = flat(build(minicpm, MINICPM))
del weights["lm_head.weight"]  # sanitize's: the embedding
save_model("minicpm", weights, MINICPM)
run("minicpm")

MINICPM_4BIT = dict(MINICPM, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                    dim_model_base=32, rope_scaling={"type": "linear", "factor": 2.0})
save_quantized("minicpm_4bit", minicpm, MINICPM_4BIT, 32, 4)
run("minicpm_4bit", prompt_length=15, steps=8)

MINICPM3 = dict(model_type="minicpm3", hidden_size=32, dim_model_base=8, num_hidden_layers=3,
                intermediate_size=64, num_attention_heads=4, num_key_value_heads=4,
                rms_norm_eps=1e-5, vocab_size=VOCAB, q_lora_rank=16, qk_nope_head_dim=8,
                qk_rope_head_dim=8, kv_lora_rank=16, scale_depth=1.4, scale_emb=3.0,
                max_position_embeddings=64, rope_theta=10000.0,
                rope_scaling={"type": "longrope", "original_max_position_embeddings": 16,
                              "long_factor": [1.0, 1.5, 2.0, 4.0],
                              "short_factor": [1.0, 1.0, 1.0, 1.0]},
                tie_word_embeddings=False, architectures=["MiniCPM3ForCausalLM"])
save_model("minicpm3", flat(build(minicpm3, MINICPM3)), MINICPM3)
run("minicpm3")

MINICPM3_4BIT = dict(MINICPM3, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                     q_lora_rank=32, kv_lora_rank=32, attention_bias=True,
                     tie_word_embeddings=True,
                     rope_scaling={"original_max_position_embeddings": 32, "long_factor": 1.5})
save_quantized("minicpm3_4bit", minicpm3, MINICPM3_4BIT, 32, 4)
run("minicpm3_4bit", prompt_length=15, steps=8)

NEMOTRON = dict(model_type="nemotron", hidden_size=32, hidden_act="relu2", num_hidden_layers=3,
                intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                norm_eps=1e-5, vocab_size=VOCAB, partial_rotary_factor=0.5,
                rope_theta=10000.0, max_position_embeddings=4096, tie_word_embeddings=False,
                architectures=["NemotronForCausalLM"])
save_model("nemotron", flat(build(nemotron, NEMOTRON, norm_center=0.0)), NEMOTRON)
run("nemotron")

NEMOTRON_4BIT = dict(NEMOTRON, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                     head_dim=16, partial_rotary_factor=0.25, attention_bias=True,
                     mlp_bias=True, rope_scaling={"type": "linear", "factor": 2.0},
                     tie_word_embeddings=True)
model = build(nemotron, NEMOTRON_4BIT, norm_center=0.0)
save_model("nemotron_4bit", *lm_fixture.quantized(model, NEMOTRON_4BIT, 32, 4))
run("nemotron_4bit", prompt_length=15, steps=8)


def build_exaone(config):
    model = build(exaone, config)
    # Its norms (ln_1, ln_2, ln_f) near 1, as draw_weights draws those named *norm.
    for name, p in flat(model).items():
        if ".ln_" in name or name.startswith("transformer.ln_f"):
            model.update(dict(_set(name, p)))
    return model


def _set(name, p):
    from mlx.utils import tree_unflatten
    value = mx.array(1 + 0.2 * rng.standard_normal(p.shape).astype(np.float32))
    return tree_unflatten([(name, value)]).items()


EXAONE = dict(model_type="exaone", hidden_size=32, num_layers=3, intermediate_size=64,
              num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
              rope_theta=10000.0, layer_norm_epsilon=1e-5, max_position_embeddings=2048,
              tie_word_embeddings=True, architectures=["ExaoneForCausalLM"])
save_model("exaone", flat(build_exaone(EXAONE)), EXAONE)
run("exaone")

EXAONE_4BIT = dict(EXAONE, hidden_size=64, num_layers=2, intermediate_size=128,
                   attention_bias=True, mlp_bias=True, tie_word_embeddings=False,
                   rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64})
save_model("exaone_4bit", *lm_fixture.quantized(build_exaone(EXAONE_4BIT), EXAONE_4BIT, 32, 4))
run("exaone_4bit", prompt_length=15, steps=8)

# internlm2's dynamic NTK RoPE does not batch in mlx-lm (it reads the offset as a number):
# its batch is internlm2_4bit's.
for seed, name in enumerate(["internlm2_4bit", "minicpm", "minicpm3", "nemotron", "exaone"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261240 + seed)

mx.save_safetensors(f"{HERE}/lm_families_5_mlx.safetensors", arrays)
