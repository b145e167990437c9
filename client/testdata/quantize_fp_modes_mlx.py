#!/usr/bin/env python3
"""Writes quantize_fp_modes_mlx.safetensors: MLX's quantize in its floating-point modes, for
client/quantized_test.cc.

Run from the repository root with mlx==0.32.4 (CPU wheel: pip install 'mlx[cpu]==0.32.4'):
  python3 client/testdata/quantize_fp_modes_mlx.py

w: rows of very different scales, with a zero group, negative values small enough to round
to zero, exact ties (E2M1 rounds them toward zero, E4M3 to even) and values past the
elements' range; w_bf16: the same in bfloat16. For
each mode, MODE.wq and MODE.scales of w, and MODE.bf16.wq and MODE.bf16.scales of w_bf16.
"""
import mlx.core as mx
import numpy as np

rng = np.random.default_rng(20261203)
w = rng.normal(0, 1, (8, 256)) * rng.uniform(1e-3, 300, (8, 1))
w[0, :32] = 0
w[1, :32] = rng.uniform(-1e-3, 0, 32) * np.r_[np.ones(31), 1e4]
w[2, :8] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -6]
w[3, :4] = [1e6, -1e-6, 448, 449]
w[4, :32] = 0
w[4, :10] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6, -0.75, -5]  # E2M1's ties, at scale 1
w[5, :16] = 0
w[5, :8] = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6, -2.5]  # nvfp4: ties at its scale
w = w.astype(np.float32)
arrays = {"w": mx.array(w), "w_bf16": mx.array(w).astype(mx.bfloat16)}
for mode in ("mxfp4", "mxfp8", "nvfp4"):
    for suffix, source in (("", arrays["w"]), (".bf16", arrays["w_bf16"])):
        wq, scales = mx.quantize(source, mode=mode)
        arrays[f"{mode}{suffix}.wq"] = wq
        arrays[f"{mode}{suffix}.scales"] = scales
mx.save_safetensors("client/testdata/quantize_fp_modes_mlx.safetensors", arrays)
