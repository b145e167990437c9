#!/usr/bin/env python3
"""Writes gated_delta_vjp_mlx.safetensors: the vjp of mlx-lm's gated_delta_ops (the ops
path mlx-lm trains Qwen3-Next through) on small inputs, for client/gated_delta_vjp_test.cc.

Run from the repository root with mlx==0.32.4 and mlx-lm==0.32.2:
  python3 client/testdata/gated_delta_vjp_mlx.py

For each case "<case>.{q,k,v,g,beta,state}" (and ".mask" where it has one) are the inputs,
"<case>.{dy,dstate}" the cotangents of gated_delta_ops's two results, and
"<case>.grad.{q,k,v,g,beta,state}" what mx.vjp gives back for each input. The inputs are
made as gated_delta_mlx.py makes them.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models.gated_delta import compute_g, gated_delta_ops, normalize_qk

rng = np.random.default_rng(20261208)
NAMES = ["q", "k", "v", "g", "beta", "state"]


def normal(shape, dtype=mx.float32):
    return mx.array(rng.normal(0, 1, shape).astype(np.float32)).astype(dtype)


def case(name, B, T, Hk, Hv, Dk, Dv, dtype=mx.float32, vector_gate=False, masked=False):
    q, k = normalize_qk(normal((B, T, Hk, Dk), dtype), normal((B, T, Hk, Dk), dtype),
                        inv_scale=Dk**-0.5, eps=1e-6)
    v = normal((B, T, Hv, Dv), dtype)
    gate_shape = (B, T, Hv, Dk) if vector_gate else (B, T, Hv)
    A_log = normal(gate_shape[2:]) * 0.5
    dt_bias = normal(gate_shape[2:]) * 0.5
    g = compute_g(A_log, normal(gate_shape, dtype), dt_bias)
    beta = mx.sigmoid(normal((B, T, Hv), dtype))
    state = normal((B, Hv, Dv, Dk)) * 0.1
    mask = mx.array(rng.random((B, T)) > 0.3) if masked else None
    dy = normal((B, T, Hv, Dv), dtype)
    dstate = normal((B, Hv, Dv, Dk))
    inputs = [q, k, v, g, beta, state]
    _, grads = mx.vjp(lambda *xs: gated_delta_ops(*xs, mask), inputs, [dy, dstate])
    arrays = dict(zip(NAMES, inputs))
    arrays.update({f"grad.{n}": gr for n, gr in zip(NAMES, grads)})
    arrays.update(dy=dy, dstate=dstate)
    if masked:
        arrays["mask"] = mask
    return {f"{name}.{key}": value for key, value in arrays.items()}


arrays = {}
arrays.update(case("prefill", 2, 7, 2, 4, 16, 8))
arrays.update(case("decode", 3, 1, 1, 2, 32, 16))
arrays.update(case("vector_masked", 2, 10, 1, 3, 8, 4, vector_gate=True, masked=True))
arrays.update(case("bfloat16", 1, 5, 2, 4, 16, 8, dtype=mx.bfloat16, masked=True))
mx.eval(arrays)
mx.save_safetensors("client/testdata/gated_delta_vjp_mlx.safetensors", arrays)
print("\n".join(f"{k} {v.dtype} {v.shape}" for k, v in sorted(arrays.items())))
