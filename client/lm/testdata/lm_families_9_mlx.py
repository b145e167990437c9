#!/usr/bin/env python3
"""Writes mlx-lm's OpenELM, OLMo hybrid and PLaMo 2 models and what they compute, for
client/lm/models_mlx_test.cc, arrays_models_mlx_test.cc, families_9_test.cc,
batch_generator_test.cc and tests/client_lm_remote_test.cc (the models named openelm*,
olmo_hybrid*, plamo2*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_9_mlx.py

Each model has random weights, a vocabulary of 96:
  openelm           model_dim 32, 3 layers of 2, 4 and 6 query heads over 1, 2 and 3 key/value
                    heads of head_dim 8, FFN multipliers 0.5, 1 and 1.75 (widths 16, 32, 56),
                    q/k norms, rope_freq_constant 5000, tied
  openelm_4bit      model_dim 64, 2 layers of 4 heads over 1 and 2 of 16, no q/k norms, an
                    lm_head of its own, quantized (affine 4 bits, groups of 32)
  olmo_hybrid       hidden 32, 4 layers as mlx-lm's default layer_types (the fourth full
                    attention, the others gated delta nets of 2 key heads and 4 value heads of
                    8, convs of 4 taps, beta in [0, 2]), rope_parameters' rope_theta, tied;
                    Hugging Face's layout: conv weights (C, 1, K), an lm_head.weight that
                    sanitize drops
  olmo_hybrid_4bit  hidden 64, layer_types [linear, full], beta in [0, 1], biased attention, an
                    lm_head of its own, quantized (4 bits, groups of 32)
  plamo2            hidden 32, 4 layers (mamba_step 2: layers 0 and 2 Mamba mixers of 4 heads of
                    8 over a state of 8, convs of 4 taps; 1 and 3 attention of 4 heads over 2),
                    tied; Hugging Face's layout: conv weights (C, 1, K)
  plamo2_4bit       hidden 64, 3 layers (mamba_step 3: layer 1 attention), heads of 16, an
                    lm_head of its own, quantized (4 bits, groups of 32)

lm_families_9_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches; for the olmo_hybrid and plamo2 models also
<m>.cached_logits (record_cached: a prefill of 7 tokens, one of 5, then one at a time). For openelm, olmo_hybrid and plamo2 also mlx-lm's
BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>,
<m>.options. olmo_hybrid's convs take a right-padded row's padding into their states, so
mlx-lm's BatchGenerator gives its prompt 4 other tokens than generate_step alone
(batch_generator_test leaves olmo_hybrid out).
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import olmo_hybrid, openelm, plamo2

import lm_fixture
from lm_fixture import HERE, flat, save_model

rng = np.random.default_rng(20261309)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)
CHUNKS = [7, 5]


def cached(name):
    """The prompt through make_cache()'s caches in pieces (record_cached of CHUNKS)."""
    lm_fixture.record_cached(arrays, name, lm_fixture.reload(name), CHUNKS)

OPENELM = dict(model_type="openelm", head_dim=8, num_transformer_layers=3, model_dim=32,
               vocab_size=VOCAB, ffn_dim_divisor=8, num_query_heads=[2, 4, 6],
               num_kv_heads=[1, 2, 3], ffn_multipliers=[0.5, 1.0, 1.75], ffn_with_glu=True,
               normalize_qk_projections=True, share_input_output_layers=True,
               rms_norm_eps=1e-6, rope_freq_constant=5000, architectures=["OpenELMForCausalLM"])
save_model("openelm", flat(build(openelm, OPENELM)), OPENELM)
run("openelm")

OPENELM_4BIT = dict(OPENELM, head_dim=16, num_transformer_layers=2, model_dim=64,
                    ffn_dim_divisor=32, num_query_heads=[4, 4], num_kv_heads=[1, 2],
                    ffn_multipliers=[1.0, 2.0], normalize_qk_projections=False,
                    share_input_output_layers=False)
save_quantized("openelm_4bit", openelm, OPENELM_4BIT, 32, 4)
run("openelm_4bit", prompt_length=15, steps=8)

OLMO_HYBRID = dict(model_type="olmo_hybrid", hidden_size=32, intermediate_size=64,
                   num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                   rms_norm_eps=1e-6, vocab_size=VOCAB, max_position_embeddings=4096,
                   linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8,
                   linear_value_head_dim=8, linear_conv_kernel_dim=4,
                   linear_allow_neg_eigval=True, tie_word_embeddings=True,
                   attention_bias=False, layer_norm_epsilon=1e-5,
                   rope_parameters=dict(rope_type="default", rope_theta=5000.0),
                   architectures=["OlmoHybridForCausalLM"])
weights = flat(build(olmo_hybrid, OLMO_HYBRID))
weights["lm_head.weight"] = mx.array(rng.standard_normal((VOCAB, 32)).astype(np.float32))
save_model("olmo_hybrid", lm_fixture.hugging_face_layout(weights, "conv1d.weight"), OLMO_HYBRID)
run("olmo_hybrid")
cached("olmo_hybrid")

OLMO_HYBRID_4BIT = dict(OLMO_HYBRID, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        layer_types=["linear_attention", "full_attention"], head_dim=16,
                        linear_num_key_heads=1, linear_num_value_heads=2,
                        linear_key_head_dim=16, linear_value_head_dim=16,
                        linear_allow_neg_eigval=False, tie_word_embeddings=False,
                        attention_bias=True, rope_parameters=None, rope_theta=10000.0)
save_quantized("olmo_hybrid_4bit", olmo_hybrid, OLMO_HYBRID_4BIT, 32, 4)
run("olmo_hybrid_4bit", prompt_length=15, steps=8)
cached("olmo_hybrid_4bit")

PLAMO2 = dict(model_type="plamo2", hidden_size=32, num_hidden_layers=4, rms_norm_eps=1e-6,
              tie_word_embeddings=True, num_attention_heads=4, num_key_value_heads=2,
              hidden_size_per_head=8, max_position_embeddings=4096, attention_window_size=4096,
              mamba_d_state=8, mamba_d_conv=4, mamba_num_heads=4, mamba_step=2,
              mamba_chunk_size=256, mamba_enabled=True, intermediate_size=64, vocab_size=VOCAB,
              architectures=["Plamo2ForCausalLM"])


def plamo2_model(config):
    # PLaMo 2's norms scale by weight + offset: weights near 0. The weights of dt's, B's and
    # C's norms near 1, as a checkpoint's.
    model = build(plamo2, config, norm_center=0.0)
    for layer in model.layers:
        if layer.is_mamba:
            mixer = layer.mixer
            for name in ("dt_norm_weight", "B_norm_weight", "C_norm_weight"):
                shape = getattr(mixer, name).shape
                setattr(mixer, name,
                        mx.array(1.0 + 0.2 * rng.standard_normal(shape).astype(np.float32)))
        else:
            attn = layer.mixer
            attn.q_weight = mx.array(1.0 + 0.2 * rng.standard_normal(attn.q_weight.shape)
                                     .astype(np.float32))
            attn.k_weight = mx.array(1.0 + 0.2 * rng.standard_normal(attn.k_weight.shape)
                                     .astype(np.float32))
    return model


save_model("plamo2", lm_fixture.hugging_face_layout(flat(plamo2_model(PLAMO2)), "conv1d.weight"),
           PLAMO2)
run("plamo2")
cached("plamo2")

PLAMO2_4BIT = dict(PLAMO2, hidden_size=64, num_hidden_layers=3, hidden_size_per_head=16,
                   mamba_step=3, intermediate_size=128, tie_word_embeddings=False)
save_model("plamo2_4bit", *lm_fixture.quantized(plamo2_model(PLAMO2_4BIT), PLAMO2_4BIT, 32, 4))
run("plamo2_4bit", prompt_length=15, steps=8)
cached("plamo2_4bit")

for seed, name in enumerate(["openelm", "olmo_hybrid", "plamo2"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261340 + seed)

mx.save_safetensors(f"{HERE}/lm_families_9_mlx.safetensors", arrays)
