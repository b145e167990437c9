#!/usr/bin/env python3
"""Writes the text models of mlx-lm's vision-language wrappers and what they compute, for
client/lm/models_mlx_test.cc, vl_test.cc and tests/client_lm_remote_test.cc (the models
named qwen2_vl*, qwen2_5_vl, qwen3_vl*, lfm2_vl, pixtral, kimi_vl, kimi_k25).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_vl_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights, a vocabulary
of 96 and vision weights mlx-lm's sanitize drops:
  qwen2_vl          Qwen2's text model (hidden 32, 4 query heads over 2, 2 layers) under
                    text_config, rope_scaling "mrope" (plain RoPE in mlx-lm); Hugging Face's
                    newer layout: model.language_model.*, model.visual.*, lm_head.weight.
  qwen2_5_vl        MODEL_REMAPPING's alias of qwen2_vl, its config flat (no text_config,
                    as qwen2_vl's from_dict allows), tied; Hugging Face's older layout:
                    model.*, visual.*.
  qwen3_vl          Qwen3's (q/k norms, head_dim 16) under text_config, rope_parameters with
                    mrope_section; mlx-lm's layout language_model.model.*, an lm_head.
  qwen3_vl_4bit     qwen3_vl hidden 64, quantized as mlx_lm.convert does (4 bits, groups of
                    32).
  qwen3_vl_moe      Qwen3-MoE's (8 experts, top 2, the second layer an MLP-only one) in
                    Hugging Face's newer layout: each layer's experts fused as
                    mlp.experts.gate_up_proj (E, hidden, 2 x moe) and mlp.experts.down_proj
                    (E, moe, hidden), which its sanitize splits; lm_head at the top.
  qwen3_vl_moe_4bit hidden 64, 4-bit (its routers 8-bit, the quant_predicate it forwards),
                    mlx-lm's layout.
  lfm2_vl           model_type "lfm2-vl": LFM2's (short convs and 2 attention layers) under
                    text_config, mlx-lm's layout, vision_tower and multi_modal_projector.
  pixtral           Llama's (num_attention_heads omitted: pixtral's default, 32 heads of 1)
                    under text_config, untied (pixtral's), mlx-lm's layout.
  kimi_vl           DeepSeek V3's (latent attention, 4 experts in the second layer beside a
                    shared one) under text_config with kimi_vl's TextArgs defaults, its
                    experts per expert (kimi_vl's sanitize stacks them), rotary_emb weights
                    it drops.
  kimi_k25          DeepSeek V3's under text_config, in DeepSeek's Hugging Face layout under
                    language_model. (kv_b_proj, experts per expert: deepseek_v3's sanitize,
                    which kimi_k25's runs), mm_projector and vision_model weights.

lm_vl_mlx.safetensors holds, for each model <m>, as lm_mistral3_mlx.safetensors does:
<m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs, and <m>.steps (its prompt fed one token at
a time through make_prompt_cache's caches).
"""
import importlib

import mlx.core as mx
import numpy as np

import lm_fixture
from lm_fixture import HERE, flat, save_model

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)


def module(name):
    return importlib.import_module(f"mlx_lm.models.{name}")


def vision(prefix):
    """A few weights of a vision tower and projector, under `prefix` ("model." or "")."""
    return {f"{prefix}vision_tower.patch_conv.weight": mx.zeros((16, 3, 2, 2)),
            f"{prefix}multi_modal_projector.linear_1.weight": mx.zeros((32, 16))}


def check_caches(cache, want):
    names = [type(c).__name__ for c in cache]
    assert names == want, names


QWEN2 = dict(model_type="qwen2", hidden_size=32, num_hidden_layers=2, intermediate_size=64,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
             vocab_size=VOCAB, rope_theta=1e6, max_position_embeddings=128)

# Qwen2-VL under text_config, in Hugging Face's newer layout (model.language_model.*).
QWEN2_VL = dict(model_type="qwen2_vl", vision_config=dict(depth=1, embed_dim=16),
                text_config=dict(QWEN2, tie_word_embeddings=False,
                                 rope_scaling=dict(type="mrope", mrope_section=[2, 1, 1])))
weights = {}
for key, value in flat(build(module("qwen2_vl"), QWEN2_VL)).items():
    key = key.removeprefix("language_model.")
    weights[key.replace("model.", "model.language_model.", 1)] = value
weights["model.visual.patch_embed.proj.weight"] = mx.zeros((16, 3, 2, 2))
weights["model.visual.blocks.0.attn.qkv.weight"] = mx.zeros((48, 16))
save_model("qwen2_vl", weights, QWEN2_VL)
check_caches(run("qwen2_vl"), ["KVCache"] * 2)

# MODEL_REMAPPING's qwen2_5_vl, flat, tied, in Hugging Face's older layout (model.*, visual.*).
QWEN2_5_VL = dict(QWEN2, model_type="qwen2_5_vl", tie_word_embeddings=True,
                  vision_config=dict(depth=1, hidden_size=16),
                  rope_scaling=dict(type="mrope", rope_type="default",
                                    mrope_section=[2, 1, 1]))
weights = {k.removeprefix("language_model."): v
           for k, v in flat(build(module("qwen2_vl"), QWEN2_5_VL)).items()}
weights["visual.patch_embed.proj.weight"] = mx.zeros((16, 3, 2, 2))
save_model("qwen2_5_vl", weights, QWEN2_5_VL)
run("qwen2_5_vl", prompt_length=15, steps=8)

QWEN3 = dict(model_type="qwen3_vl_text", hidden_size=32, num_hidden_layers=2,
             intermediate_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
             rms_norm_eps=1e-6, vocab_size=VOCAB, max_position_embeddings=128,
             tie_word_embeddings=False,
             rope_parameters=dict(rope_type="default", rope_theta=5e5, mrope_interleaved=True,
                                  mrope_section=[4, 2, 2]))
QWEN3_VL = dict(model_type="qwen3_vl", text_config=QWEN3,
                vision_config=dict(depth=1, hidden_size=16))
weights = flat(build(module("qwen3_vl"), QWEN3_VL))
weights["visual.patch_embed.proj.weight"] = mx.zeros((16, 3, 2, 2))
save_model("qwen3_vl", weights, QWEN3_VL)
run("qwen3_vl")

QWEN3_VL_4BIT = dict(QWEN3_VL, text_config=dict(QWEN3, hidden_size=64, intermediate_size=128))
save_quantized("qwen3_vl_4bit", module("qwen3_vl"), QWEN3_VL_4BIT, 32, 4)
run("qwen3_vl_4bit", prompt_length=15, steps=8)

QWEN3_MOE = dict(QWEN3, model_type="qwen3_vl_moe_text", num_experts=8, num_experts_per_tok=2,
                 decoder_sparse_step=1, mlp_only_layers=[1], moe_intermediate_size=16,
                 norm_topk_prob=True, rope_theta=5e5)
del QWEN3_MOE["rope_parameters"]
QWEN3_VL_MOE = dict(model_type="qwen3_vl_moe", text_config=QWEN3_MOE,
                    vision_config=dict(depth=1, hidden_size=16))


def qwen3_vl_moe_hugging_face_layout(weights):
    """model.language_model.*, lm_head at the top, each layer's experts fused as
    Hugging Face's Qwen3-VL-MoE stores them (the transposes of mlx-lm's)."""
    out = {}
    for key, value in weights.items():
        key = key.removeprefix("language_model.")
        key = key.replace("model.", "model.language_model.", 1)
        if key.endswith("switch_mlp.gate_proj.weight"):
            prefix = key.removesuffix("switch_mlp.gate_proj.weight")
            up = weights["language_model." + prefix.replace("model.language_model.", "model.", 1)
                         + "switch_mlp.up_proj.weight"]
            out[prefix + "experts.gate_up_proj"] = mx.concatenate(
                [value.swapaxes(-2, -1), up.swapaxes(-2, -1)], axis=-1)
        elif key.endswith("switch_mlp.down_proj.weight"):
            out[key.removesuffix("switch_mlp.down_proj.weight") + "experts.down_proj"] = (
                value.swapaxes(-2, -1))
        elif not key.endswith("switch_mlp.up_proj.weight"):
            out[key] = value
    return out


weights = qwen3_vl_moe_hugging_face_layout(flat(build(module("qwen3_vl_moe"), QWEN3_VL_MOE)))
weights["model.visual.patch_embed.proj.weight"] = mx.zeros((16, 3, 2, 2))
save_model("qwen3_vl_moe", weights, QWEN3_VL_MOE)
run("qwen3_vl_moe")

QWEN3_VL_MOE_4BIT = dict(QWEN3_VL_MOE, text_config=dict(
    QWEN3_MOE, hidden_size=64, intermediate_size=128, moe_intermediate_size=32))
save_quantized("qwen3_vl_moe_4bit", module("qwen3_vl_moe"), QWEN3_VL_MOE_4BIT, 32, 4)
run("qwen3_vl_moe_4bit", prompt_length=15, steps=8)

LFM2 = dict(model_type="lfm2", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            norm_eps=1e-5, conv_bias=False, conv_L_cache=3, block_dim=32,
            block_ff_dim=64, block_multiple_of=16, block_ffn_dim_multiplier=1.0,
            block_auto_adjust_ff_dim=True, full_attn_idxs=[1, 3], rope_theta=1e6)
LFM2_VL = dict(model_type="lfm2-vl", text_config=LFM2,
               vision_config=dict(model_type="siglip2_vision_model", hidden_size=16))
weights = flat(build(module("lfm2-vl"), LFM2_VL))
weights.update(vision(""))
save_model("lfm2_vl", weights, LFM2_VL)
check_caches(run("lfm2_vl"), ["ArraysCache", "KVCache"] * 2)

# Llama's under pixtral, num_attention_heads left to pixtral's default of 32 (heads of 1).
PIXTRAL = dict(model_type="pixtral", text_config=dict(
    model_type="mistral", hidden_size=32, num_hidden_layers=2, intermediate_size=64,
    num_key_value_heads=8, head_dim=4, rms_norm_eps=1e-5, vocab_size=VOCAB,
    rope_theta=1e6, max_position_embeddings=128), vision_config=dict(hidden_size=16))
weights = flat(build(module("pixtral"), PIXTRAL))
weights.update(vision(""))
save_model("pixtral", weights, PIXTRAL)
run("pixtral")

DEEPSEEK = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                num_hidden_layers=2, num_attention_heads=4, n_shared_experts=1,
                n_routed_experts=4, routed_scaling_factor=1.5, kv_lora_rank=16, q_lora_rank=16,
                qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, num_experts_per_tok=2,
                first_k_dense_replace=1, max_position_embeddings=128, rope_theta=1e4)

# kimi_vl: TextArgs' defaults for what text_config omits (rms_norm_eps, n_group...).
KIMI_VL = dict(model_type="kimi_vl", text_config=dict(DEEPSEEK, model_type="deepseek_v3"),
               vision_config=dict(model_type="moonvit", hidden_size=16))
weights = lm_fixture.per_expert(flat(build(module("kimi_vl"), KIMI_VL)))
weights.update(vision(""))
weights["language_model.model.layers.0.self_attn.rotary_emb.inv_freq"] = mx.zeros((4,))
save_model("kimi_vl", weights, KIMI_VL)
run("kimi_vl")

# kimi_k25: deepseek_v3's sanitize under language_model. (kv_b_proj, experts per expert).
KIMI_K25 = dict(model_type="kimi_k25", text_config=dict(DEEPSEEK, model_type="kimi_k2",
                                                        rms_norm_eps=1e-5),
                vision_config=dict(hidden_size=16))
weights = lm_fixture.hugging_face_layout(flat(build(module("kimi_k25"), KIMI_K25)),
                                         rewrite=lm_fixture.deepseek_rewrite)
weights["vision_model.patch_embed.weight"] = mx.zeros((16, 3, 2, 2))
weights["mm_projector.proj.0.weight"] = mx.zeros((32, 16))
save_model("kimi_k25", weights, KIMI_K25)
run("kimi_k25")

mx.save_safetensors(f"{HERE}/lm_vl_mlx.safetensors", arrays)
