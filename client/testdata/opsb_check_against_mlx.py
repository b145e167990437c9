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


def load():
    fixtures = {}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "opsb_fixtures.txt")
    for line in open(path):
        fields = line.split()
        ndim = int(fields[1])
        shape = [int(d) for d in fields[2:2 + ndim]]
        fixtures[fields[0]] = np.array([float(v) for v in fields[2 + ndim:]]).reshape(shape)
    return fixtures


fx = load()


def arr(name, dtype=np.float32):
    return mx.array(fx[name].astype(dtype))


def compare(name, got):
    diff = np.abs(np.array(got, dtype=np.float64) - fx[name]).max()
    print(f"{name:24s} max abs diff {diff:.2e}")


compare("conv1d.out", mx.conv1d(arr("conv1d.x"), arr("conv1d.w"), stride=2, padding=1, groups=2))
compare("conv2d.out", mx.conv2d(arr("conv2d.x"), arr("conv2d.w"), stride=(2, 1), padding=(1, 0),
                                dilation=(1, 2)))
compare("layer_norm.out", mx.fast.layer_norm(arr("norm.x"), arr("norm.w"), arr("norm.b"), 1e-5))
compare("rms_norm.out", mx.fast.rms_norm(arr("norm.x"), arr("norm.w"), 1e-5))
for name, traditional in [("rope.out", False), ("rope_traditional.out", True)]:
    compare(name, mx.fast.rope(arr("rope.x"), 6, traditional=traditional, base=10000.0, scale=0.5,
                               offset=3))
q, k, v = arr("sdpa.q"), arr("sdpa.k"), arr("sdpa.v")
compare("sdpa_causal.out", mx.fast.scaled_dot_product_attention(q, k, v, scale=0.35, mask="causal"))
compare("sdpa_mask.out",
        mx.fast.scaled_dot_product_attention(q, k, v, scale=0.35, mask=arr("sdpa.mask")))
idx = arr("index.idx", np.int32)
compare("take.out", mx.take(arr("index.x"), idx, axis=0))
compare("take_along_axis.out", mx.take_along_axis(arr("index.x"), idx, axis=0))
compare("put_along_axis.out",
        mx.put_along_axis(arr("index.x"), arr("put_along_axis.idx", np.int32),
                          arr("put_along_axis.upd"), axis=0))
compare("sort.out", mx.sort(arr("index.x"), axis=-1))
compare("argsort.out", mx.argsort(arr("index.x"), axis=0))
a, b, w = arr("einsum.a"), arr("einsum.b"), arr("einsum.w")
compare("einsum.bmm", mx.einsum("bij,bjk->bik", a, b))
compare("einsum.diag", mx.einsum("ii->i", arr("einsum.sq")))
compare("einsum.trace", mx.einsum("ii", arr("einsum.sq")))
compare("einsum.outer", mx.einsum("i,j->ij", arr("einsum.u"), w))
compare("einsum.perm", mx.einsum("ijk->kji", a))
compare("einsum.reduce", mx.einsum("bij->j", a))
compare("einsum.chain", mx.einsum("bij,bjk,k->bi", a, b, w))
