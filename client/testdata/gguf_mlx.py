#!/usr/bin/env python3
"""Writes gguf_written.gguf with llama.cpp's own writer (the gguf package) and
gguf_mlx_loaded.safetensors: every array MLX's load_gguf makes of it (but Q4_K's, below); and
gguf_k_quants.gguf, of the types MLX refuses (Q5_0, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_XS, IQ4_NL), with
gguf_k_quants_dequantized.safetensors: llama.cpp's dequantization of each, in float16; and
gguf_mxfp4.gguf with gguf_mxfp4_dequantized.safetensors (float32). For client/io_test.cc.

Run from the repository root with gguf==0.19.0 and mlx==0.32.4 (pip install gguf==0.19.0
'mlx[cpu]==0.32.4'):
  python3 client/testdata/gguf_mlx.py

Tensors: F32 (also one of 3 dimensions), F16, BF16, I8, I16, I32; Q4_0, Q4_1 and Q8_0 as the
gguf package quantizes them; Q4_K and Q6_K blocks of random bytes with sane float16 scales
(the package cannot quantize to K types; MLX reads any bytes). Metadata of every value type
but float64, which MLX 0.32.4 misreads (it steps over 4 of its 8 bytes and crashes).
The file also has general.architecture, which GGUFWriter adds.
"""
import gguf
import mlx.core as mx
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize

rng = np.random.default_rng(20261206)
w = gguf.GGUFWriter("client/testdata/gguf_written.gguf", "llama")
w.add_uint8("u8", 200)
w.add_int8("i8", -7)
w.add_uint16("u16", 60000)
w.add_int16("i16", -30000)
w.add_uint32("u32", 4000000000)
w.add_int32("i32", -2000000000)
w.add_float32("f32", 1.5)
w.add_bool("flag", True)
w.add_string("text", "h\u00e9llo")
w.add_uint64("u64", 2**63 + 5)
w.add_int64("i64", -(2**40))
w.add_array("ints", [1, -2, 3])
w.add_array("floats", [0.5, -1.25])
w.add_array("words", ["a", "bc", ""])

a = rng.normal(size=(4, 64)).astype(np.float32)
w.add_tensor("plain.weight", a)
w.add_tensor("cube", rng.normal(size=(2, 3, 4)).astype(np.float32))
w.add_tensor("half.weight", a.astype(np.float16))
bf16 = quantize(a, T.BF16)
w.add_tensor("brain.weight", bf16, raw_shape=bf16.shape, raw_dtype=T.BF16)
w.add_tensor("small_ints", np.array([[-128, 0, 127]], dtype=np.int8))
w.add_tensor("mid_ints", np.array([-32768, 1, 32767], dtype=np.int16))
w.add_tensor("ints32", np.arange(-3, 3, dtype=np.int32).reshape(2, 3))
for t in [T.Q4_0, T.Q4_1, T.Q8_0]:
    q = quantize(a * (1 + np.arange(4)[:, None]), t)
    w.add_tensor(f"{t.name.lower()}.weight", q, raw_shape=q.shape, raw_dtype=t)


def k_blocks(n_blocks, block_bytes, scale_at):
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for at in scale_at:
        halves = rng.uniform(0.001, 0.05, size=n_blocks).astype(np.float16)
        raw[:, at:at + 2] = halves.view(np.uint8).reshape(n_blocks, 2)
    return raw


q4k = k_blocks(4, 144, [0, 2]).reshape(2, 2 * 144)  # two rows of 512 elements
w.add_tensor("q4_k.weight", q4k, raw_shape=q4k.shape, raw_dtype=T.Q4_K)
q6k = k_blocks(2, 210, [208]).reshape(2, 210)  # two rows of 256 elements
w.add_tensor("q6_k.weight", q6k, raw_shape=q6k.shape, raw_dtype=T.Q6_K)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

arrays = mx.load("client/testdata/gguf_written.gguf")
arrays["plain.original"] = mx.array(a)
# MLX 0.32.4 dequantizes Q4_K with each pair of sub-blocks' first scale and min for both
# (gguflib's slip): llama.cpp's own dequantization, rounded to float16, is the reference.
reader = gguf.GGUFReader("client/testdata/gguf_written.gguf")
q4k_read = next(t for t in reader.tensors if t.name == "q4_k.weight")
arrays["q4_k.weight"] = mx.array(
    gguf.quants.dequantize(np.array(q4k_read.data), T.Q4_K).reshape(2, 512).astype(np.float16))
mx.save_safetensors("client/testdata/gguf_mlx_loaded.safetensors", arrays)

# The types MLX refuses, each against llama.cpp's own dequantization rounded to float16.
w = gguf.GGUFWriter("client/testdata/gguf_k_quants.gguf", "llama")
expected = {}
for t in [T.Q5_0, T.Q5_1]:
    q = quantize(a, t)
    w.add_tensor(f"{t.name.lower()}.weight", q, raw_shape=q.shape, raw_dtype=t)
    expected[f"{t.name.lower()}.weight"] = gguf.quants.dequantize(q, t).reshape(a.shape)
for t, block_bytes, scale_at in [(T.Q2_K, 84, [80, 82]), (T.Q3_K, 110, [108]),
                                 (T.Q5_K, 176, [0, 2]), (T.IQ4_XS, 136, [0])]:
    raw = k_blocks(4, block_bytes, scale_at).reshape(2, 2 * block_bytes)  # two rows of 512
    w.add_tensor(f"{t.name.lower()}.weight", raw, raw_shape=raw.shape, raw_dtype=t)
    expected[f"{t.name.lower()}.weight"] = gguf.quants.dequantize(raw, t).reshape(2, 512)
iq4nl = k_blocks(32, 18, [0]).reshape(2, 16 * 18)  # two rows of 512
w.add_tensor("iq4_nl.weight", iq4nl, raw_shape=iq4nl.shape, raw_dtype=T.IQ4_NL)
expected["iq4_nl.weight"] = gguf.quants.dequantize(iq4nl, T.IQ4_NL).reshape(2, 512)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
mx.save_safetensors("client/testdata/gguf_k_quants_dequantized.safetensors",
                    {k: mx.array(v.astype(np.float16)) for k, v in expected.items()})

# MXFP4 (gpt-oss's experts), which MLX 0.32.4 leaves out of what it loads without a word:
# ferry loads it as MLX's mxfp4 quantization, the codes repacked (element k in nibble k of
# the uint32s, as MLX packs them) and the E8M0 scales as they are; MLX's own dequantize of
# that packing is llama.cpp's dequantization, which the expected file holds.
w = gguf.GGUFWriter("client/testdata/gguf_mxfp4.gguf", "gpt-oss")
experts = rng.standard_normal((3, 4, 96)).astype(np.float32) * np.float32(0.02)
q = quantize(experts, T.MXFP4)
w.add_tensor("blk.0.ffn_down_exps.weight", q, raw_shape=q.shape, raw_dtype=T.MXFP4)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
blocks = q.reshape(-1, 17)
nibbles = np.concatenate([blocks[:, 1:] & 0x0F, blocks[:, 1:] >> 4], axis=1)  # element order
packed = (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).astype(np.uint8)
codes = mx.array(packed.reshape(3, 4, 48).view(np.uint32))
scales = mx.array(blocks[:, 0].reshape(3, 4, 3))
dequantized = gguf.quants.dequantize(q, T.MXFP4).reshape(experts.shape)
assert np.array_equal(np.array(mx.dequantize(codes, scales, group_size=32, bits=4,
                                             mode="mxfp4", dtype=mx.float32)), dequantized)
mx.save_safetensors("client/testdata/gguf_mxfp4_dequantized.safetensors",
                    {"blk.0.ffn_down_exps.weight": mx.array(dequantized)})
