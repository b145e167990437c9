#!/usr/bin/env python3
"""Writes mlx-lm's Hunyuan (dense and MoE), Seed-OSS, Apertus, Helium and InternLM3 models and
what they compute, for client/lm/models_mlx_test.cc, more_families_test.cc,
batch_generator_test.cc and tests/client_lm_remote_test.cc (the models named hunyuan*,
seed_oss*, apertus*, helium*, internlm3*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_families_3_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, a vocabulary
of 96, 4 query heads over 2 key/value heads:
  hunyuan_v1_dense   hidden 32, head_dim 8, 3 layers, q, k, v and o biased, q and k
                     normalized after RoPE (use_qk_norm), DynamicNTKAlphaRoPE (alpha 1000),
                     an lm_head. Hugging Face's names are mlx-lm's.
  hunyuan            hidden 32, 4 layers, cross-layer attention (use_cla, cla_share_factor 2:
                     layers 1 and 3 without k_proj and v_proj), 4 experts of 16, top 2 by
                     softmax (moe_topk a list, one per layer), a shared MLP of
                     intermediate_size (use_mixed_mlp_moe, num_shared_expert 1); in Hugging
                     Face's layout (mlp.experts.E.*)
  hunyuan_fused      hidden 32, 3 layers, num_experts 1 (a dense MLP), use_cla with
                     cla_share_factor 3, no biases (mlx-lm's split keeps a fused bias
                     (N, 1), which it cannot load); Hunyuan-Large's fused layout
                     (self_attn.qkv_proj per key/value head, mlp.gate_and_up_proj) that
                     mlx-lm's sanitize splits
  hunyuan_4bit       hidden 64, 2 layers, no CLA, 4 experts of 32, top 2, no shared MLP,
                     quantized as mlx_lm.convert does (affine 4 bits in groups of 32)
  seed_oss           hidden 32, head_dim 16 (not hidden / heads), 3 layers, q, k and v biased
                     (attention_bias), o not, tied
  seed_oss_4bit      hidden 64, head_dim 16, o biased too (attention_out_bias), the MLP
                     biased, an lm_head, quantized (4 bits, groups of 64)
  apertus            hidden 32, 3 layers, q and k normalized per head, xIELU MLP, llama3
                     rope_scaling, an lm_head; Hugging Face's alpha_p and alpha_n of shape
                     (1,) that mlx-lm's sanitize squeezes
  helium             hidden 32, 3 layers, q, k and v biased, the MLP biased, traditional RoPE,
                     config head_dim 16 (unread: hidden / heads), an lm_head
  internlm3          hidden 32, 3 layers, q, k, v and o biased (qkv_bias), the MLP biased
                     (bias), linear rope_scaling, an lm_head

lm_families_3_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
and <m>.steps: the logits (prompt length, vocab) of its prompt fed one token at a time
through make_prompt_cache's caches. For hunyuan_v1_dense, hunyuan, seed_oss and apertus also
mlx-lm's BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>, <m>.tokens<i>,
<m>.options.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models import apertus, helium, hunyuan, hunyuan_v1_dense, internlm3, seed_oss

import lm_fixture
from lm_fixture import HERE, flat, per_expert, save_model

rng = np.random.default_rng(20261209)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)


HUNYUAN_DENSE = dict(model_type="hunyuan_v1_dense", vocab_size=VOCAB, hidden_size=32,
                     num_hidden_layers=3, intermediate_size=64, num_attention_heads=4,
                     num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
                     max_position_embeddings=4096, attention_bias=True, use_qk_norm=True,
                     rope_scaling=dict(alpha=1000.0, factor=1.0, type="dynamic"),
                     tie_word_embeddings=False, head_dim=8)
save_model("hunyuan_v1_dense", flat(build(hunyuan_v1_dense, HUNYUAN_DENSE)), HUNYUAN_DENSE)
run("hunyuan_v1_dense")

HUNYUAN = dict(model_type="hunyuan", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=4,
               intermediate_size=32, num_attention_heads=4, num_key_value_heads=2,
               attention_bias=False, moe_topk=[2, 2, 2, 2], num_experts=4,
               num_shared_expert=1, use_mixed_mlp_moe=True, use_qk_norm=True,
               rms_norm_eps=1e-5, rope_theta=10000.0, use_cla=True, cla_share_factor=2,
               moe_intermediate_size=16,
               rope_scaling=dict(alpha=1000.0, factor=1.0, type="dynamic"))
save_model("hunyuan", per_expert(flat(build(hunyuan, HUNYUAN))), HUNYUAN)
run("hunyuan")


def fuse_hunyuan(weights, config):
    """Hunyuan-Large's layout: q, k and v as one qkv_proj, per key/value head its query
    heads, key and value; up and gate as one gate_and_up_proj (up first)."""
    kv_heads = config["num_key_value_heads"]
    groups = config["num_attention_heads"] // kv_heads
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    out = {}
    for key, value in weights.items():
        if ".k_proj." in key or ".v_proj." in key or ".gate_proj." in key:
            continue
        if ".q_proj." in key and key.replace(".q_proj.", ".k_proj.") in weights:
            q, k, v = (weights[key.replace(".q_proj.", p)] for p in (".q_proj.", ".k_proj.",
                                                                   ".v_proj."))
            rest = q.shape[1:]
            fused = mx.concatenate([q.reshape(kv_heads, groups, head_dim, *rest),
                                    k.reshape(kv_heads, 1, head_dim, *rest),
                                    v.reshape(kv_heads, 1, head_dim, *rest)], axis=1)
            out[key.replace(".q_proj.", ".qkv_proj.")] = fused.reshape(-1, *rest)
        elif ".up_proj." in key:
            gate = weights[key.replace(".up_proj.", ".gate_proj.")]
            out[key.replace(".up_proj.", ".gate_and_up_proj.")] = mx.concatenate([value, gate])
        else:
            out[key] = value
    return out


HUNYUAN_FUSED = dict(HUNYUAN, num_hidden_layers=3, num_experts=1, moe_topk=1,
                     cla_share_factor=3, intermediate_size=64)
save_model("hunyuan_fused", fuse_hunyuan(flat(build(hunyuan, HUNYUAN_FUSED)), HUNYUAN_FUSED),
           HUNYUAN_FUSED)
run("hunyuan_fused")

HUNYUAN_4BIT = dict(HUNYUAN, hidden_size=64, num_hidden_layers=2, intermediate_size=64,
                    moe_intermediate_size=32, moe_topk=2, use_mixed_mlp_moe=False,
                    use_cla=False)
save_quantized("hunyuan_4bit", hunyuan, HUNYUAN_4BIT, 32, 4)
run("hunyuan_4bit", prompt_length=15, steps=8)

SEED_OSS = dict(model_type="seed_oss", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
                num_attention_heads=4, rms_norm_eps=1e-6, vocab_size=VOCAB,
                num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
                attention_bias=True, attention_out_bias=False, mlp_bias=False,
                rope_theta=10000.0, tie_word_embeddings=True)
save_model("seed_oss", flat(build(seed_oss, SEED_OSS)), SEED_OSS)
run("seed_oss")

SEED_OSS_4BIT = dict(SEED_OSS, hidden_size=64, intermediate_size=128, attention_out_bias=True,
                     mlp_bias=True, tie_word_embeddings=False)
save_quantized("seed_oss_4bit", seed_oss, SEED_OSS_4BIT, 64, 4)
run("seed_oss_4bit", prompt_length=15, steps=8)

APERTUS = dict(model_type="apertus", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
               mlp_bias=False, num_attention_heads=4, attention_bias=False, rms_norm_eps=1e-5,
               vocab_size=VOCAB, num_key_value_heads=2, max_position_embeddings=4096,
               rope_theta=10000.0, post_norm=False, qk_norm=True, tie_word_embeddings=False,
               rope_scaling=dict(rope_type="llama3", factor=8.0, high_freq_factor=4.0,
                                 low_freq_factor=1.0, original_max_position_embeddings=64))
model = build(apertus, APERTUS)
# xIELU's own numbers near its defaults (the draw's would make eps and beta arbitrary).
for layer in model.model.layers:
    act = layer.mlp.act_fn
    act.alpha_p = mx.array(0.3 + 0.3 * rng.standard_normal(), dtype=mx.float32)
    act.alpha_n = mx.array(-0.9 + 0.3 * rng.standard_normal(), dtype=mx.float32)
    act.beta = mx.array(0.5, dtype=mx.float32)
    act.eps = mx.array(-1e-6, dtype=mx.float32)
weights = {k: (v.reshape(1) if k.endswith(("alpha_p", "alpha_n")) else v)
           for k, v in flat(model).items()}
save_model("apertus", weights, APERTUS)
run("apertus")

HELIUM = dict(model_type="helium", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
              num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-8,
              vocab_size=VOCAB, attention_bias=True, head_dim=16, max_position_embeddings=4096,
              mlp_bias=True, rope_theta=100000.0, tie_word_embeddings=False)
save_model("helium", flat(build(helium, HELIUM)), HELIUM)
run("helium")

INTERNLM3 = dict(model_type="internlm3", hidden_size=32, num_hidden_layers=3,
                 intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                 rms_norm_eps=1e-5, vocab_size=VOCAB, bias=True, qkv_bias=True,
                 rope_theta=50000.0, rope_scaling=dict(rope_type="linear", factor=2.0),
                 tie_word_embeddings=False)
save_model("internlm3", flat(build(internlm3, INTERNLM3)), INTERNLM3)
run("internlm3")

for seed, name in enumerate(["hunyuan_v1_dense", "hunyuan", "seed_oss", "apertus"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261240 + seed)

mx.save_safetensors(f"{HERE}/lm_families_3_mlx.safetensors", arrays)
