#!/usr/bin/env python3
"""Writes gated_delta_vjp_mlx.safetensors: the vjp of mlx-lm's gated_delta_ops (the ops
path mlx-lm trains Qwen3-Next through) on small inputs, for client/gated_delta_vjp_test.cc.

Run from the repository root with mlx==0.32.4 and mlx-lm==0.32.2:
  python3 client/testdata/gated_delta_vjp_mlx.py

For each case "<case>.{q,k,v,g,beta,state}" (and ".mask" where it has one) are the inputs,
"<case>.{dy,dstate}" the cotangents of gated_delta_ops's two results, and
"<case>.grad.{q,k,v,g,beta,state}" what mx.vjp gives back for each input. The inputs are
made by gated_delta_mlx.py's draw_inputs.
"""
import mlx.core as mx
import numpy as np
from gated_delta_mlx import draw_inputs
from mlx_lm.models.gated_delta import gated_delta_ops

NAMES = ["q", "k", "v", "g", "beta", "state"]


def case(rng, name, B, T, Hk, Hv, Dk, Dv, dtype=mx.float32, **options):
    *inputs, mask = draw_inputs(rng, B, T, Hk, Hv, Dk, Dv, dtype, **options)
    dy = mx.array(rng.normal(0, 1, (B, T, Hv, Dv)).astype(np.float32)).astype(dtype)
    dstate = mx.array(rng.normal(0, 1, (B, Hv, Dv, Dk)).astype(np.float32))
    _, grads = mx.vjp(lambda *xs: gated_delta_ops(*xs, mask), inputs, [dy, dstate])
    arrays = dict(zip(NAMES, inputs))
    arrays.update({f"grad.{n}": gr for n, gr in zip(NAMES, grads)})
    arrays.update(dy=dy, dstate=dstate)
    if mask is not None:
        arrays["mask"] = mask
    return {f"{name}.{key}": value for key, value in arrays.items()}


def main():
    rng = np.random.default_rng(20261208)
    arrays = {}
    arrays.update(case(rng, "prefill", 2, 7, 2, 4, 16, 8))
    arrays.update(case(rng, "decode", 3, 1, 1, 2, 32, 16))
    arrays.update(case(rng, "vector_masked", 2, 10, 1, 3, 8, 4, vector_gate=True, masked=True))
    arrays.update(case(rng, "bfloat16", 1, 5, 2, 4, 16, 8, dtype=mx.bfloat16, masked=True))
    mx.eval(arrays)
    mx.save_safetensors("client/testdata/gated_delta_vjp_mlx.safetensors", arrays)
    print("\n".join(f"{k} {v.dtype} {v.shape}" for k, v in sorted(arrays.items())))


if __name__ == "__main__":
    main()
