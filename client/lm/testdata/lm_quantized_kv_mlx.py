#!/usr/bin/env python3
"""Writes what mlx-lm generates through its quantized KV caches (kv_bits), for
client/lm/quantized_kv_cache_test.cc.

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_quantized_kv_mlx.py

mlx quantizes in groups of 32, 64 or 128 features, more than the other fixtures' heads
hold, so this writes a model of its own: llama_hd64, testdata/llama's configuration with
head_dim 64 (4 query heads over 2 key/value heads), random weights. Each case runs
generate_step with kv_bits, kv_group_size and quantized_kv_start (maybe_quantize_kv_cache
turning every KVCache into a QuantizedKVCache once it holds that many positions):
  kv4          4 bits, groups of 64, from 8 positions: a 20-token prompt prefilled in one
               chunk, quantized before the first step, 16 steps
  kv8          the same in 8 bits
  kv4_g32_chunk6  4 bits, groups of 32, a 20-token prompt prefilled 6 at a time
               (quantized after the second chunk; the third attends over it), 12 steps
  kv8_decode   8 bits, from 16 positions: a 10-token prompt, quantized while decoding, 16
               steps

lm_quantized_kv_mlx.safetensors holds, for each case <c>, as lm_mlx.safetensors does:
  <c>.prompt, <c>.logits, <c>.greedy, <c>.logprobs
  <c>.options     (kv_bits, kv_group_size, quantized_kv_start, prefill_step_size) int32
and, for the attention alone (quantized_scaled_dot_product_attention), attention_<dtype>.q,
.k, .v and .bits<b>_length<n> (the last n queries' attention over the keys and values
quantized to b bits in groups of 64), dtype float32 and bfloat16.
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from mlx_lm.models.base import quantized_scaled_dot_product_attention

import lm_fixture
from lm_fixture import HERE, reload

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)

CONFIG = dict(model_type="llama", hidden_size=32, num_hidden_layers=2, intermediate_size=64,
              num_attention_heads=4, num_key_value_heads=2, head_dim=64, rms_norm_eps=1e-5,
              vocab_size=VOCAB, tie_word_embeddings=False, rope_theta=10000.0,
              max_position_embeddings=2048)

model = lm_fixture.build(rng, llama, CONFIG)  # as lm_mlx.py: norm weights near 1
lm_fixture.save_model("llama_hd64", dict(tree_flatten(model.parameters())), CONFIG)


def case(name, prompt_length, steps, kv_bits, kv_group_size, quantized_kv_start,
         prefill_step_size=2048):
    record(name, reload("llama_hd64"), prompt_length, steps, kv_bits=kv_bits,
           kv_group_size=kv_group_size, quantized_kv_start=quantized_kv_start,
           prefill_step_size=prefill_step_size)
    arrays[f"{name}.options"] = mx.array(
        [kv_bits, kv_group_size, quantized_kv_start, prefill_step_size], dtype=mx.int32)


case("kv4", prompt_length=20, steps=16, kv_bits=4, kv_group_size=64, quantized_kv_start=8)
case("kv8", prompt_length=20, steps=16, kv_bits=8, kv_group_size=64, quantized_kv_start=8)
case("kv4_g32_chunk6", prompt_length=20, steps=12, kv_bits=4, kv_group_size=32,
     quantized_kv_start=8, prefill_step_size=6)
case("kv8_decode", prompt_length=10, steps=16, kv_bits=8, kv_group_size=64,
     quantized_kv_start=16)

# The attention alone, on inputs both sides quantize alike (mx.quantize and ferry's quantize
# agree bit for bit), in float32 and bfloat16: 16 keys and values (4 query heads over 2), the
# last 3 queries (a chunk, "causal") and the last one (a decoding step, no mask).
for dtype in ["float32", "bfloat16"]:
    d = getattr(mx, dtype)
    q = mx.array(rng.standard_normal((1, 4, 16, 64)).astype(np.float32)).astype(d)
    k = mx.array(rng.standard_normal((1, 2, 16, 64)).astype(np.float32)).astype(d)
    v = mx.array(rng.standard_normal((1, 2, 16, 64)).astype(np.float32)).astype(d)
    arrays[f"attention_{dtype}.q"], arrays[f"attention_{dtype}.k"] = q, k
    arrays[f"attention_{dtype}.v"] = v
    for bits in [4, 8]:
        qk = mx.quantize(k, group_size=64, bits=bits)
        qv = mx.quantize(v, group_size=64, bits=bits)
        for length, mask in [(3, "causal"), (1, None)]:
            arrays[f"attention_{dtype}.bits{bits}_length{length}"] = (
                quantized_scaled_dot_product_attention(q[:, :, 16 - length:], qk, qv, scale=0.125,
                                                       mask=mask, group_size=64, bits=bits))

mx.save_safetensors(os.path.join(HERE, "lm_quantized_kv_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
