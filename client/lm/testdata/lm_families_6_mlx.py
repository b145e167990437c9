#!/usr/bin/env python3
"""Writes mlx-lm's PhiMoE (Phi-3.5-MoE), DBRX, Mamba (1, and Falcon-Mamba through
MODEL_REMAPPING) and MiMo models and what they compute, for client/lm/models_mlx_test.cc,
arrays_models_mlx_test.cc, families_6_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named phimoe*, dbrx*, mamba*, falcon_mamba*, mimo*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_6_mlx.py

Each model has random weights, a vocabulary of 96:
  phimoe           hidden 32, 2 layers, 4 heads over 2, 4 experts (top 2) of 48, every
                   attention Linear and lm_head biased, LayerNorms, SuScaledRoPE (rope_scaling
                   longrope with long_mscale 1.2, max 4x the original), router_jitter_noise 0.2
                   (sparsemixer's band); Hugging Face's layout (experts.E.w1, w2, w3)
  phimoe_4bit      hidden 64, rope_scaling null (plain RoPE), quantized as mlx_lm.convert does
                   (affine 4 bits in groups of 32)
  dbrx             d_model 32, 2 blocks, 4 heads over 2, clip_qkv 0.8 (it clips), 4 experts
                   (top 2) of 32; Hugging Face's layout (ffn.experts.mlp.w1, v1, w2 fused
                   across experts, w2 transposed)
  dbrx_4bit        d_model 64, quantized (4 bits, groups of 32; each expert's Linear apart,
                   as mlx-lm keeps them)
  mamba            hidden 32, 2 layers, intermediate 64, state 8, conv 4, time_step_rank
                   "auto" (2), tied; Hugging Face's conv weights (C, 1, K)
  falcon_mamba     model_type "falcon_mamba" (mlx-lm: mamba with use_bcdt_rms), untied,
                   biased in_proj/out_proj and conv, mixer_rms_eps 1e-5, time_step_rank 3
  mamba_4bit       hidden 64, intermediate 128, quantized (4 bits, groups of 32; dt_proj's
                   input of time_step_rank 4 left unquantized)
  mimo             hidden 32, 3 layers, 4 heads over 2, q/k/v biased, untied, with
                   Hugging Face's extra model.mtp_layers.0.* and rotary_emb.inv_freq, which
                   sanitize drops
  mimo_4bit        hidden 64, tie_word_embeddings with an lm_head.weight sanitize drops before
                   quantizing, quantized (4 bits, groups of 32)

lm_families_6_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches; for the mamba models also <m>.cached_logits (record_cached:
a prefill of 7, one of 5, then a token at a time). For phimoe, dbrx and mimo also mlx-lm's BatchGenerator
over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>, <m>.options.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import dbrx, mamba, mimo, phimoe

import lm_fixture
from lm_fixture import HERE, flat, save_model

rng = np.random.default_rng(20261209)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

PHIMOE = dict(model_type="phimoe", vocab_size=VOCAB, hidden_size=32, intermediate_size=48,
              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=16384, original_max_position_embeddings=4096,
              rms_norm_eps=1e-5, num_local_experts=4, num_experts_per_tok=2,
              rope_theta=10000.0, router_jitter_noise=0.2,
              rope_scaling=dict(type="longrope", long_mscale=1.2, short_mscale=1.1,
                                long_factor=[1.0, 1.3, 1.7, 2.5],
                                short_factor=[1.0, 1.1, 1.2, 1.3]),
              architectures=["PhiMoEForCausalLM"])
weights = flat(build(phimoe, PHIMOE))
save_model("phimoe", lm_fixture.hugging_face_layout(weights, rewrite=lm_fixture.split_experts(
    ".block_sparse_moe.switch_mlp.", ".block_sparse_moe.experts.",
    dict(gate_proj="w1", down_proj="w2", up_proj="w3"), 4)), PHIMOE)
run("phimoe")

PHIMOE_4BIT = dict(PHIMOE, hidden_size=64, intermediate_size=64, rope_scaling=None)
save_quantized("phimoe_4bit", phimoe, PHIMOE_4BIT, 32, 4)
run("phimoe_4bit", prompt_length=15, steps=8)

DBRX = dict(model_type="dbrx", vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4,
            attn_config=dict(kv_n_heads=2, clip_qkv=0.8, rope_theta=500000.0),
            ffn_config=dict(ffn_hidden_size=32, moe_num_experts=4, moe_top_k=2),
            architectures=["DbrxForCausalLM"])


def dbrx_hugging_face(weights, experts):
    """DBRX's experts as Hugging Face stores them: ffn.experts.mlp.w1, v1 and w2, each
    (experts * ffn, d_model), w2 transposed per expert."""
    out = {k: v for k, v in weights.items() if ".ffn.experts." not in k}
    prefixes = {k.split(".ffn.experts.")[0] for k in weights if ".ffn.experts." in k}
    for prefix in prefixes:
        for n in ["w1", "v1", "w2"]:
            parts = [weights[f"{prefix}.ffn.experts.{e}.{n}.weight"] for e in range(experts)]
            if n == "w2":
                parts = [p.T for p in parts]
            out[f"{prefix}.ffn.experts.mlp.{n}"] = mx.concatenate(parts, axis=0)
    return out


save_model("dbrx", dbrx_hugging_face(flat(build(dbrx, DBRX)), 4), DBRX)
run("dbrx")

DBRX_4BIT = dict(DBRX, d_model=64, ffn_config=dict(ffn_hidden_size=64, moe_num_experts=4,
                                                   moe_top_k=2))
save_quantized("dbrx_4bit", dbrx, DBRX_4BIT, 32, 4)
run("dbrx_4bit", prompt_length=15, steps=8)

MAMBA = dict(model_type="mamba", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
             state_size=8, num_hidden_layers=2, conv_kernel=4, use_bias=False,
             use_conv_bias=True, time_step_rank="auto", tie_word_embeddings=True,
             layer_norm_epsilon=1e-5, architectures=["MambaForCausalLM"])


def mamba_weights(config):
    model = build(mamba, config)
    # A_log as Hugging Face initializes it (log 1..state), moved a little; D near 1.
    for layer in model.layers:
        m = layer.mixer
        m.A_log = m.A_log + 0.1 * mx.array(rng.standard_normal(m.A_log.shape).astype(np.float32))
        m.D = 1 + 0.1 * mx.array(rng.standard_normal(m.D.shape).astype(np.float32))
    return flat(model)


save_model("mamba", lm_fixture.hugging_face_layout(mamba_weights(MAMBA), "conv1d.weight"), MAMBA)
run("mamba")
lm_fixture.record_cached(arrays, "mamba", lm_fixture.reload("mamba"), (7, 5))

FALCON_MAMBA = dict(MAMBA, model_type="falcon_mamba", use_bias=True, use_conv_bias=True,
                    time_step_rank=3, tie_word_embeddings=False, mixer_rms_eps=1e-5,
                    architectures=["FalconMambaForCausalLM"])
save_model("falcon_mamba",
           lm_fixture.hugging_face_layout(mamba_weights(FALCON_MAMBA), "conv1d.weight"),
           FALCON_MAMBA)
run("falcon_mamba")
lm_fixture.record_cached(arrays, "falcon_mamba", lm_fixture.reload("falcon_mamba"), (7, 5))

MAMBA_4BIT = dict(MAMBA, hidden_size=64, intermediate_size=128, time_step_rank=4)
model = mamba.Model(mamba.ModelArgs.from_dict(MAMBA_4BIT))
lm_fixture.draw_weights(model, rng)
save_model("mamba_4bit", *lm_fixture.quantized(model, MAMBA_4BIT, 32, 4))
run("mamba_4bit", prompt_length=15, steps=8)
lm_fixture.record_cached(arrays, "mamba_4bit", lm_fixture.reload("mamba_4bit"), (7, 5))

MIMO = dict(model_type="mimo", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=3,
            intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
            rms_norm_eps=1e-6, rope_theta=640000.0, max_position_embeddings=32768,
            tie_word_embeddings=False, num_nextn_predict_layers=1,
            architectures=["MiMoForCausalLM"])
weights = flat(build(mimo, MIMO))
# What Hugging Face's checkpoint holds besides: the multi-token-prediction layer and RoPE's
# buffers, which mlx-lm's sanitize drops.
weights["model.mtp_layers.0.input_layernorm.weight"] = mx.ones((32,))
weights["model.mtp_layers.0.token_layernorm.weight"] = mx.ones((32,))
weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = mx.ones((4,))
save_model("mimo", weights, MIMO)
run("mimo")

MIMO_4BIT = dict(MIMO, hidden_size=64, intermediate_size=128, tie_word_embeddings=True)
model = build(mimo, MIMO_4BIT)
save_model("mimo_4bit", *lm_fixture.quantized(model, MIMO_4BIT, 32, 4))
run("mimo_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["phimoe", "dbrx", "mimo"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261240 + seed)
# Not Mamba's: its mixer reads no mask, so mlx-lm's BatchGenerator steps each row's left
# padding (token 0) through the conv and the scan; ferry's BatchGenerator pads with the row's
# first token, so the padded rows' tokens differ (batch_generator_test leaves it out).

mx.save_safetensors(f"{HERE}/lm_families_6_mlx.safetensors", arrays)
