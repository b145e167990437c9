#!/usr/bin/env python3
"""Writes mlx-lm's Gemma 4 models and what they compute, for client/lm/gemma4_test.cc,
batch_generator_test.cc and tests/client_lm_remote_test.cc (the models named gemma4*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_gemma4_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights (norms and
layer scalars near 1), a vocabulary of 96, 4 query heads, sliding layers over a window of 6
positions (the prompts are longer) with head_dim 8, full layers with global_head_dim 16:
  gemma4         model_type "gemma4" in Hugging Face's layout (model.language_model.*, a
                 vision tower and embedder that sanitize drops, k/v projections of the
                 KV-shared layers that it drops too, an input_max it drops): hidden 32, 6
                 layers [s s f s s f], the last 2 KV-shared (layer 4 reads layer 3's cache, 5
                 reads 2's) with double-wide MLPs, per-layer inputs of 8 per layer,
                 "proportional" RoPE on the full layers (half of 16 features rotated, theta
                 1e6), final_logit_softcapping 30, tied
  gemma4_text    model_type "gemma4_text" as mlx-lm saves it: hidden 32, 5 layers (pattern 3:
                 [s s f s s]), attention_k_eq_v with num_global_key_value_heads 1 on the full
                 layer, no per-layer inputs, no KV sharing, rope_parameters left to mlx-lm's
                 default (proportional, a quarter rotated), no logit softcap, an lm_head
  gemma4_moe     enable_moe_block in Hugging Face's layout (experts.gate_up_proj,
                 experts.down_proj): hidden 32, 4 layers [s f s f], 4 experts of 16, top 2,
                 per-layer inputs, no KV sharing
  gemma4_4bit    hidden 64, 5 layers, experts, per-layer inputs, 2 KV-shared layers, tied,
                 quantized as mlx_lm.convert does (affine 4 bits in groups of 32, its
                 quant_predicate's routers 8 bits in groups of 64; per_layer_projection, 8
                 wide, stays unquantized)

lm_gemma4_mlx.safetensors holds, for each model <m>:
  <m>.prompt, <m>.logits (the whole prompt), <m>.greedy, <m>.logprobs (generate_step's), as
  lm_mlx.safetensors does, and <m>.cached_logits: the prompt through make_cache()'s caches as
  a prefill of 7 tokens (past the window), one of 5 continuing it (over the ring's kept
  positions), then a token at a time.
For gemma4, gemma4_text and gemma4_moe also mlx-lm's BatchGenerator over lm_fixture's batch
(record_batch): <m>.prompt<i>, <m>.tokens<i>, <m>.options.
"""
import functools
import json

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map_with_path
from mlx_lm.models import gemma4, gemma4_text

import lm_fixture
from lm_fixture import HERE, reload

rng = np.random.default_rng(20261213)
arrays = {}
VOCAB = 96
CHUNKS = (7, 5)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)


def build(module, config):
    """lm_fixture's build, then layer scalars, router scales and expert scales drawn near 1
    too and the embedding drawn again, small (tied models repeat the prompt's end otherwise)."""
    model = lm_fixture.build(rng, module, config)

    def near_one(path, p):
        if path.endswith(("layer_scalar", "router.scale", "per_expert_scale")):
            return mx.array(1.0 + 0.2 * rng.standard_normal(p.shape).astype(np.float32))
        if path.endswith("embed_tokens.weight"):
            return mx.array(0.1 * rng.standard_normal(p.shape).astype(np.float32))
        return p

    model.update(tree_map_with_path(near_one, model.parameters()))
    mx.eval(model.parameters())
    return model


def hugging_face_experts(weights):
    """switch_glu's stacked gate and up as one gate_up_proj (gate's rows first), down_proj."""
    out = {}
    for key, value in weights.items():
        if ".experts.switch_glu.gate_proj.weight" in key:
            base = key.split(".switch_glu.")[0]
            up = weights[f"{base}.switch_glu.up_proj.weight"]
            out[f"{base}.gate_up_proj"] = mx.concatenate([value, up], axis=-2)
        elif ".experts.switch_glu.down_proj.weight" in key:
            out[key.split(".switch_glu.")[0] + ".down_proj"] = value
        elif ".experts.switch_glu.up_proj." not in key:
            out[key] = value
    return out


ROPE = dict(full_attention=dict(rope_type="proportional", partial_rotary_factor=0.5,
                                rope_theta=1000000.0),
            sliding_attention=dict(rope_type="default", rope_theta=10000.0))
TEXT = dict(model_type="gemma4_text", hidden_size=32, num_hidden_layers=6, intermediate_size=32,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8, global_head_dim=16,
            rms_norm_eps=1e-6, vocab_size=VOCAB, vocab_size_per_layer_input=VOCAB,
            hidden_size_per_layer_input=8, num_kv_shared_layers=2, sliding_window=6,
            sliding_window_pattern=3, max_position_embeddings=4096, final_logit_softcapping=30.0,
            use_double_wide_mlp=True, attention_k_eq_v=False, enable_moe_block=False,
            tie_word_embeddings=True, rope_parameters=ROPE,
            layer_types=["sliding_attention", "sliding_attention", "full_attention"] * 2)

# gemma4: the text model under text_config, in Hugging Face's names, beside a vision tower.
config = dict(model_type="gemma4", vocab_size=VOCAB, text_config=dict(TEXT),
              vision_config=dict(hidden_size=8))
model = build(gemma4, json.loads(json.dumps(config)))
weights = {}
for key, value in tree_flatten(model.parameters()):
    weights["model." + key.replace("language_model.model.", "language_model.")] = value
for layer in (4, 5):  # the KV-shared layers' own projections, which mlx-lm drops
    prefix = f"model.language_model.layers.{layer}.self_attn"
    weights[f"{prefix}.k_proj.weight"] = mx.zeros((32, 32))
    weights[f"{prefix}.v_proj.weight"] = mx.zeros((32, 32))
    weights[f"{prefix}.k_norm.weight"] = mx.zeros((16,))
weights["model.language_model.layers.0.mlp.gate_proj.input_max"] = mx.array(1.0)
weights["model.vision_tower.encoder.weight"] = mx.zeros((4, 3))
weights["model.embed_vision.embedding_projection.weight"] = mx.zeros((3, 4))
save_and_record("gemma4", weights, config, 20)
assert [type(c).__name__ for c in reload("gemma4").make_cache()] == [
    "RotatingKVCache", "RotatingKVCache", "KVCache", "RotatingKVCache"]

# gemma4_text: k = v on the full layer, mlx-lm's default rope_parameters, an lm_head.
GEMMA4_TEXT = dict(TEXT, num_hidden_layers=5, attention_k_eq_v=True, num_global_key_value_heads=1,
                   hidden_size_per_layer_input=0, num_kv_shared_layers=0,
                   final_logit_softcapping=None, tie_word_embeddings=False)
del GEMMA4_TEXT["rope_parameters"], GEMMA4_TEXT["layer_types"]
model = build(gemma4_text, GEMMA4_TEXT)
save_and_record("gemma4_text", dict(tree_flatten(model.parameters())), GEMMA4_TEXT, 20)

# gemma4_moe: experts beside the MLP, in Hugging Face's layout.
MOE = dict(TEXT, num_hidden_layers=4, sliding_window_pattern=2, num_kv_shared_layers=0,
           use_double_wide_mlp=False, enable_moe_block=True, num_experts=4, top_k_experts=2,
           moe_intermediate_size=16,
           layer_types=["sliding_attention", "full_attention"] * 2)
model = build(gemma4_text, MOE)
save_and_record("gemma4_moe", hugging_face_experts(dict(tree_flatten(model.parameters()))), MOE,
                20)

# gemma4_4bit: as mlx_lm.convert quantizes it.
QUANTIZED = dict(MOE, hidden_size=64, num_hidden_layers=5, intermediate_size=64, head_dim=16,
                 global_head_dim=32, moe_intermediate_size=32, num_kv_shared_layers=2,
                 use_double_wide_mlp=True, sliding_window_pattern=3,
                 layer_types=["sliding_attention", "sliding_attention", "full_attention",
                              "sliding_attention", "full_attention"])
model = build(gemma4_text, QUANTIZED)
save_and_record("gemma4_4bit", *lm_fixture.quantized(model, QUANTIZED, 32, 4), 16, steps=8)

for seed, name in enumerate(["gemma4", "gemma4_text", "gemma4_moe"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261230 + seed)

mx.save_safetensors(f"{HERE}/lm_gemma4_mlx.safetensors", arrays)
print(f"wrote {len(arrays)} arrays")
