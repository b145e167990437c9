#!/usr/bin/env python3
"""Cross-checks opsb_fixtures.txt (NumPy references) against MLX itself.

Not part of the build or of any test: run by hand, from the repository root, in a venv with
    pip install "mlx[cpu]==0.32.4" "numpy<2"
    python client/testdata/opsb_check_against_mlx.py
It prints the largest difference per fixture. On 2026-12-02 (mlx 0.32.4) every float result
agreed to within 3.2e-7 and every index result exactly, which confirms the MLX semantics the
C++ ops follow (channels-last weights, both rope layouts, causal alignment, grouped heads).
"""
import os

import mlx.core as mx
import numpy as np

fx = {}
for line in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "opsb_fixtures.txt")):
    f = line.split(); n = int(f[1]); shape = [int(x) for x in f[2:2+n]]
    fx[f[0]] = np.array([float(x) for x in f[2+n:]]).reshape(shape)
A = lambda k: mx.array(fx[k].astype(np.float32))
def cmp(name, got):
    got = np.array(got, dtype=np.float64); want = fx[name]
    print(f"{name:24s} max abs diff {np.abs(got - want).max():.2e}")
cmp("conv1d.out", mx.conv1d(A("conv1d.x"), A("conv1d.w"), stride=2, padding=1, groups=2))
cmp("conv2d.out", mx.conv2d(A("conv2d.x"), A("conv2d.w"), stride=(2,1), padding=(1,0), dilation=(1,2)))
cmp("layer_norm.out", mx.fast.layer_norm(A("norm.x"), A("norm.w"), A("norm.b"), 1e-5))
cmp("rms_norm.out", mx.fast.rms_norm(A("norm.x"), A("norm.w"), 1e-5))
cmp("rope.out", mx.fast.rope(A("rope.x"), 6, traditional=False, base=10000.0, scale=0.5, offset=3))
cmp("rope_traditional.out", mx.fast.rope(A("rope.x"), 6, traditional=True, base=10000.0, scale=0.5, offset=3))
q,k,v = A("sdpa.q"), A("sdpa.k"), A("sdpa.v")
cmp("sdpa_causal.out", mx.fast.scaled_dot_product_attention(q,k,v,scale=0.35,mask="causal"))
cmp("sdpa_mask.out", mx.fast.scaled_dot_product_attention(q,k,v,scale=0.35,mask=A("sdpa.mask")))
idx = mx.array(fx["index.idx"].astype(np.int32))
cmp("take.out", mx.take(A("index.x"), idx, axis=0))
cmp("take_along_axis.out", mx.take_along_axis(A("index.x"), idx, axis=0))
cmp("put_along_axis.out", mx.put_along_axis(A("index.x"), mx.array(fx["put_along_axis.idx"].astype(np.int32)), A("put_along_axis.upd"), axis=0))
cmp("einsum.chain", mx.einsum("bij,bjk,k->bi", A("einsum.a"), A("einsum.b"), A("einsum.w")))
cmp("einsum.trace", mx.einsum("ii", A("einsum.sq")))
# split / bits structure
