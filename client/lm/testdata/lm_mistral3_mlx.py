#!/usr/bin/env python3
"""Writes mlx-lm's Ministral 3, mistral3 and Mistral 4 models and what they compute, for
client/lm/models_mlx_test.cc, batch_generator_test.cc and tests/client_lm_remote_test.cc
(the models named ministral3*, mistral3*, mistral4*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_mistral3_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights and a
vocabulary of 96:
  ministral3        hidden 32, 4 query heads over 2 key/value heads, 4 layers, layer_types
                    sliding, full, sliding, full with sliding_window 6; yarn RoPE (factor 4)
                    and Llama 4's scaling with llama_4_scaling_beta 0.5 over
                    original_max_position_embeddings 8, so that its 20-token prompt and 10
                    greedy steps run past the window (through the rings of
                    make_prompt_cache) and through three of the scaling's steps; tied.
  mistral3          the mistral3 wrapper over a ministral3 text model (3 layers, the first
                    sliding over 5 positions, plain RoPE, beta 0.3 over 6), in Hugging
                    Face's layout: model.language_model.*, lm_head.weight, and
                    vision_tower / multi_modal_projector weights mlx-lm's sanitize drops;
                    untied (text_config does not say: mistral3's default).
  mistral3_llama    the wrapper over text_config model_type "mistral" (mlx-lm's llama: no
                    scaling), in the older layout language_model.model.*,
                    language_model.lm_head.weight.
  mistral3_4bit     hidden 64, the wrapper over ministral3 (4 layers, two sliding over 6),
                    quantized as mlx_lm.convert does (affine 4 bits in groups of 32), saved
                    under mlx-lm's own names (language_model.model.*).
  mistral4          hidden 32, 3 layers (the first dense), 4 heads of latent attention
                    (q_lora_rank 16, kv_lora_rank 16, 8 rotated and 8 unrotated query/key
                    features, 8 value features), 8 experts in 2 groups (topk_group 1), top
                    2, one shared expert, routed_scaling_factor 1.5; yarn RoPE (factor 4,
                    mscale_all_dim 1: the softmax scale grows too) and Llama 4's scaling
                    (beta 0.5 over 8); in Hugging Face's layout: self_attn.kv_b_proj
                    unabsorbed, each layer's experts fused as mlp.experts.gate_up_proj and
                    mlp.experts.down_proj; an lm_head.
  mistral4_4bit     hidden 64, q_proj without a bottleneck, 16 features per head, n_group
                    1, tied, quantized (4 bits, groups of 32; the router too, which mlx-lm's
                    mistral4 keeps as a Linear).

lm_mistral3_mlx.safetensors holds, for each model <m>, as lm_more_families_mlx.safetensors
does: <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs, and <m>.steps (its prompt fed one
token at a time through make_prompt_cache's caches). For ministral3 and mistral4 also
mlx-lm's BatchGenerator over lm_fixture's batch (record_batch): <m>.prompt<i>,
<m>.tokens<i>, <m>.options.
"""

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import mistral3, mistral4, ministral3

import lm_fixture
from lm_fixture import HERE, save_model

rng = np.random.default_rng(20261210)
arrays = {}
VOCAB = 96
build, run, save_quantized = lm_fixture.bind(rng, arrays, VOCAB)

MINISTRAL3 = dict(model_type="ministral3", hidden_size=32, num_hidden_layers=4,
                  intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                  head_dim=8, rms_norm_eps=1e-5, vocab_size=VOCAB, max_position_embeddings=32,
                  tie_word_embeddings=True, sliding_window=6,
                  layer_types=["sliding_attention", "full_attention"] * 2,
                  rope_parameters=dict(type="yarn", factor=4.0, rope_theta=10000.0,
                                       original_max_position_embeddings=8, beta_fast=32.0,
                                       beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0,
                                       llama_4_scaling_beta=0.5))
save_model("ministral3", lm_fixture.flat(build(ministral3, MINISTRAL3)),
           MINISTRAL3)
cache = run("ministral3")
assert [type(c).__name__ for c in cache] == ["RotatingKVCache", "KVCache"] * 2

# The wrapper over ministral3, in Hugging Face's layout.
TEXT = dict(MINISTRAL3, num_hidden_layers=3, sliding_window=5,
            layer_types=["sliding_attention", "full_attention", "full_attention"],
            rope_parameters=dict(rope_type="default", rope_theta=1e6,
                                 original_max_position_embeddings=6, llama_4_scaling_beta=0.3))
del TEXT["tie_word_embeddings"]
MISTRAL3 = dict(model_type="mistral3", text_config=TEXT,
                vision_config=dict(model_type="pixtral", hidden_size=16),
                image_token_index=10, spatial_merge_size=2)
model = build(mistral3, MISTRAL3)
weights = {}
for key, value in tree_flatten(model.parameters()):
    key = key.removeprefix("language_model.")
    weights[key.replace("model.", "model.language_model.", 1) if key.startswith("model.")
            else key] = value
weights["model.vision_tower.patch_conv.weight"] = mx.zeros((16, 3, 2, 2))
weights["model.multi_modal_projector.linear_1.weight"] = mx.zeros((32, 16))
weights["model.language_model.layers.0.self_attn.rotary_emb.inv_freq"] = mx.zeros((4,))
save_model("mistral3", weights, MISTRAL3)
cache = run("mistral3")
# mlx-lm's mistral3 has no make_cache: plain caches, the sliding layer masked over its own.
assert [type(c).__name__ for c in cache] == ["KVCache"] * 3

# The wrapper over mlx-lm's llama (text_config says "mistral"), its older layout.
MISTRAL3_LLAMA = dict(model_type="mistral3", text_config=dict(
    model_type="mistral", hidden_size=32, num_hidden_layers=2, intermediate_size=64,
    num_attention_heads=4, num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-5,
    vocab_size=VOCAB, rope_theta=1e6, max_position_embeddings=128, sliding_window=None))
model = build(mistral3, MISTRAL3_LLAMA)
save_model("mistral3_llama", lm_fixture.flat(model), MISTRAL3_LLAMA)
run("mistral3_llama", prompt_length=15, steps=8)

MISTRAL3_4BIT = dict(MISTRAL3, text_config=dict(
    MINISTRAL3, hidden_size=64, intermediate_size=128, head_dim=16, tie_word_embeddings=False))
save_quantized("mistral3_4bit", mistral3, MISTRAL3_4BIT, 32, 4)
run("mistral3_4bit")

MISTRAL4 = dict(model_type="mistral4", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                moe_intermediate_size=16, num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=4, n_shared_experts=1, n_routed_experts=8,
                routed_scaling_factor=1.5, kv_lora_rank=16, q_lora_rank=16,
                norm_topk_prob=True, max_position_embeddings=64, rms_norm_eps=1e-6,
                topk_group=1, num_experts_per_tok=2, first_k_dense_replace=1, n_group=2,
                qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8,
                tie_word_embeddings=False,
                rope_parameters=dict(type="yarn", factor=4.0, rope_theta=10000.0,
                                     original_max_position_embeddings=8, beta_fast=32.0,
                                     beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0,
                                     llama_4_scaling_beta=0.5))


def mistral4_hugging_face_layout(weights):
    """kv_b_proj from embed_q and unembed_out; the experts fused as Hugging Face's."""
    out = {}
    for key, value in weights.items():
        if key.endswith("self_attn.embed_q.weight"):
            prefix = key.removesuffix("embed_q.weight")
            out[prefix + "kv_b_proj.weight"] = lm_fixture.kv_b_proj(
                value, weights[prefix + "unembed_out.weight"])
        elif key.endswith("mlp.switch_mlp.gate_proj.weight"):
            prefix = key.removesuffix("switch_mlp.gate_proj.weight")
            up = weights[prefix + "switch_mlp.up_proj.weight"]
            out[prefix + "experts.gate_up_proj"] = mx.concatenate([value, up], axis=1)
        elif key.endswith("mlp.switch_mlp.down_proj.weight"):
            out[key.removesuffix("switch_mlp.down_proj.weight") + "experts.down_proj"] = value
        elif not (key.endswith("unembed_out.weight") or key.endswith("switch_mlp.up_proj.weight")):
            out[key] = value
    return out


model = build(mistral4, MISTRAL4)
save_model("mistral4",
           mistral4_hugging_face_layout(lm_fixture.flat(model)),
           MISTRAL4)
run("mistral4")

MISTRAL4_4BIT = dict(MISTRAL4, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                     q_lora_rank=None, kv_lora_rank=32, qk_rope_head_dim=16,
                     qk_nope_head_dim=16, v_head_dim=16, n_group=1, tie_word_embeddings=True)
save_quantized("mistral4_4bit", mistral4, MISTRAL4_4BIT, 32, 4)
run("mistral4_4bit", prompt_length=15, steps=8)

for seed, name in enumerate(["ministral3", "mistral4"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261250 + seed)

mx.save_safetensors(f"{HERE}/lm_mistral3_mlx.safetensors", arrays)
