#!/usr/bin/env python3
"""Writes mlx-lm's Gemma 3n models (their text model) and what they compute, for
client/lm/gemma3n_test.cc, models_mlx_test.cc, batch_generator_test.cc and
tests/client_lm_remote_test.cc (the models named gemma3n*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_gemma3n_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights (norms near 1),
model_type "gemma3n" with the text model under text_config, a vocabulary of 96, 4 query heads
over 2 key heads of 8, AltUp over 4 predictions, sliding layers over a window of 6 positions
(the prompts are longer):
  gemma3n       Hugging Face's layout (model.language_model.*, beside a vision tower, an
                audio tower and their embedders, which sanitize drops): hidden 32, 6 layers
                [s s f s s f], the last 2 KV-shared (with a cache, layer 4 reads layer 3's,
                5 reads 2's; without one they use their own projections, as mlx-lm's do),
                activation sparsity 0.95 and 0.9 on the first two layers' MLPs, per-layer
                inputs of 8 per layer over a per-layer vocabulary of 64 (tokens past it read
                row 0), Laurel of rank 8, altup_coef_clip 0.5, altup_correct_scale,
                final_logit_softcapping 30
  gemma3n_mlx   as mlx-lm saves it: hidden 32, 4 layers [s f s f], intermediate_size a list
                (one per layer), no KV sharing, no activation sparsity, altup_coef_clip and
                final_logit_softcapping null, altup_correct_scale off, altup_active_idx 1
  gemma3n_4bit  hidden 64, 5 layers [s s f s f], the last 2 KV-shared, sparsity on the first
                layer, quantized as mlx_lm.convert does (affine 4 bits in groups of 32; the
                AltUp coefficients, 4 wide, and per_layer_projection, 8 wide, stay unquantized)

lm_gemma3n_mlx.safetensors holds, for each model <m>:
  <m>.prompt, <m>.logits (the whole prompt, without a cache), <m>.greedy, <m>.logprobs
  (generate_step's), as lm_mlx.safetensors does, and <m>.cached_logits: the prompt through
  make_cache()'s caches as a prefill of 7 tokens (past the window), one of 5 continuing it
  (over the ring's kept positions), then a token at a time.
For gemma3n and gemma3n_mlx also mlx-lm's BatchGenerator over lm_fixture's batch
(record_batch): <m>.prompt<i>, <m>.tokens<i>, <m>.options.
"""
import functools

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import gemma3n

import lm_fixture
from lm_fixture import HERE, reload

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
CHUNKS = (7, 5)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)
# A small embedding: tied models repeat the prompt's end otherwise.
build = functools.partial(lm_fixture.build, rng, gemma3n, embed_scale=0.1)

TEXT = dict(model_type="gemma3n_text", hidden_size=32, num_hidden_layers=6, intermediate_size=32,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6,
            vocab_size=VOCAB, vocab_size_per_layer_input=64, hidden_size_per_layer_input=8,
            num_kv_shared_layers=2, sliding_window=6, max_position_embeddings=4096,
            rope_local_base_freq=10000.0, rope_theta=1000000.0, final_logit_softcapping=30.0,
            layer_types=["sliding_attention", "sliding_attention", "full_attention"] * 2,
            activation_sparsity_pattern=[0.95, 0.9, 0.0, 0.0, 0.0, 0.0], altup_num_inputs=4,
            altup_coef_clip=0.5, altup_correct_scale=True, altup_active_idx=0, laurel_rank=8)


def config_of(text):
    return dict(model_type="gemma3n", text_config=dict(text), vision_config=dict(hidden_size=8),
                audio_config=dict(hidden_size=8))


# gemma3n: Hugging Face's layout, with the towers mlx-lm's sanitize drops.
config = config_of(TEXT)
weights = dict(tree_flatten(build(config).parameters()))
weights["model.vision_tower.timm_model.conv_stem.weight"] = mx.zeros((4, 3))
weights["model.audio_tower.conformer.0.weight"] = mx.zeros((3, 4))
weights["model.embed_vision.embedding.weight"] = mx.zeros((3, 4))
weights["model.embed_audio.embedding_projection.weight"] = mx.zeros((3, 4))
save_and_record("gemma3n", weights, config, 20)
assert [type(c).__name__ for c in reload("gemma3n").make_cache()] == [
    "RotatingKVCache", "RotatingKVCache", "KVCache", "RotatingKVCache"]

# gemma3n_mlx: no KV sharing or sparsity, widths per layer, nulls.
MLX = dict(TEXT, num_hidden_layers=4, intermediate_size=[32, 48, 32, 16], num_kv_shared_layers=0,
           activation_sparsity_pattern=None, altup_coef_clip=None, final_logit_softcapping=None,
           altup_correct_scale=False, altup_active_idx=1,
           layer_types=["sliding_attention", "full_attention"] * 2)
config = config_of(MLX)
save_and_record("gemma3n_mlx", dict(tree_flatten(build(config).parameters())), config, 20)

# gemma3n_4bit: as mlx_lm.convert quantizes it.
QUANTIZED = dict(TEXT, hidden_size=64, num_hidden_layers=5, intermediate_size=64, head_dim=16,
                 laurel_rank=32, activation_sparsity_pattern=[0.95, 0, 0, 0, 0],
                 layer_types=["sliding_attention", "sliding_attention", "full_attention",
                              "sliding_attention", "full_attention"])
config = config_of(QUANTIZED)
save_and_record("gemma3n_4bit", *lm_fixture.quantized(build(config), config, 32, 4), 16, steps=8)

for seed, name in enumerate(["gemma3n", "gemma3n_mlx"]):
    lm_fixture.record_batch(arrays, name, name, VOCAB, 20261207 + seed)

mx.save_safetensors(f"{HERE}/lm_gemma3n_mlx.safetensors", arrays)
print(f"wrote {len(arrays)} arrays")
