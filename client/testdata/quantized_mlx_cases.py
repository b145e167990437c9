#!/usr/bin/env python3
"""Writes quantized_mlx_cases.txt: MLX's affine quantization, for client/quantized_test.cc.

Run from the repository root with mlx==0.32.4 (CPU wheel: pip install 'mlx[cpu]==0.32.4'):
  python3 client/testdata/quantized_mlx_cases.py > client/testdata/quantized_mlx_cases.txt

One array per line, fields separated by ';':  case/array;dtype;shape;values
For each case (bits, group size, dtype): w, what mx.quantize(w) returns (wq, scales,
biases), dequantize(wq, scales, biases) as deq, and quantized_matmul of x (x @ deq.T) as y
and of xt (xt @ deq, transpose=False) as yt. Values are written as Python writes float64;
every value of these dtypes (uint32 included) is exact in float64.
"""
import mlx.core as mx
import numpy as np

rng = np.random.default_rng(20261203)



def case(bits, group_size, dtype, shape):
    name = f"bits{bits}_group{group_size}_{dtype}"
    w = mx.array(rng.normal(0, 1, shape).astype(np.float32)).astype(getattr(mx, dtype))
    w = w * mx.array(rng.uniform(0.1, 3, shape[:-1] + (1,)).astype(np.float32)).astype(w.dtype)
    wq, scales, biases = mx.quantize(w, group_size=group_size, bits=bits)
    deq = mx.dequantize(wq, scales, biases, group_size=group_size, bits=bits)
    k = shape[-1]
    n = shape[-2]
    batch = shape[:-2]
    x = mx.array(rng.uniform(-1, 1, batch + (2, k)).astype(np.float32)).astype(w.dtype)
    xt = mx.array(rng.uniform(-1, 1, batch + (2, n)).astype(np.float32)).astype(w.dtype)
    y = mx.quantized_matmul(x, wq, scales, biases, True, group_size, bits)
    yt = mx.quantized_matmul(xt, wq, scales, biases, False, group_size, bits)
    for part, a in [("w", w), ("wq", wq), ("scales", scales), ("biases", biases), ("deq", deq),
                    ("x", x), ("y", y), ("xt", xt), ("yt", yt)]:
        kind = "uint32" if a.dtype == mx.uint32 else dtype
        print(";".join([f"{name}/{part}", kind, ",".join(map(str, a.shape)),
                        ",".join(repr(float(v)) for v in
                                 np.array(a.astype(mx.float64) if a.dtype != mx.uint32 else a,
                                          dtype=np.float64).ravel())]))


with mx.stream(mx.cpu):
    for bits in (1, 2, 3, 4, 5, 6, 8):
        case(bits, 64, "float32", (3, 128))
    for group_size in (32, 128):
        case(4, group_size, "float32", (2, 256))
    case(4, 64, "bfloat16", (3, 128))
    case(3, 64, "float16", (3, 128))
    case(8, 32, "float16", (2, 3, 64))  # a batch of matrices
