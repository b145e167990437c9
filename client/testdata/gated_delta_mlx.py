#!/usr/bin/env python3
"""Writes gated_delta_mlx.safetensors: mlx-lm's gated_delta_ops (the gated delta rule of
Qwen3-Next's linear attention) on small inputs, for client/gated_delta_test.cc.

Run from the repository root with mlx==0.32.4 and mlx-lm==0.32.2:
  python3 client/testdata/gated_delta_mlx.py

For each case "<case>.{q,k,v,g,beta,state}" (and ".mask" where it has one) are the inputs,
"<case>.y" and "<case>.new_state" what gated_delta_ops returns. g and beta come from
gated_delta_update's own formulas (compute_g of A_log, a and dt_bias; sigmoid of b), q and k
from normalize_qk, as a Qwen3-Next layer makes them.
"""
import mlx.core as mx
import numpy as np
from mlx_lm.models.gated_delta import compute_g, gated_delta_ops, normalize_qk


def draw_inputs(rng, B, T, Hk, Hv, Dk, Dv, dtype=mx.float32, vector_gate=False, masked=False):
    """q, k, v, g, beta, state and the mask (or None), drawn from rng as a layer makes them."""

    def normal(shape, dtype=mx.float32):
        return mx.array(rng.normal(0, 1, shape).astype(np.float32)).astype(dtype)

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
    return q, k, v, g, beta, state, mask


def case(rng, name, *dims, **options):
    q, k, v, g, beta, state, mask = draw_inputs(rng, *dims, **options)
    y, new_state = gated_delta_ops(q, k, v, g, beta, state, mask)
    arrays = {"q": q, "k": k, "v": v, "g": g, "beta": beta, "state": state, "y": y,
              "new_state": new_state}
    if mask is not None:
        arrays["mask"] = mask
    return {f"{name}.{key}": value for key, value in arrays.items()}


def main():
    rng = np.random.default_rng(20261207)
    arrays = {}
    arrays.update(case(rng, "prefill", 2, 6, 2, 4, 16, 8))
    arrays.update(case(rng, "decode", 3, 1, 1, 2, 32, 16))
    arrays.update(case(rng, "vector_masked", 2, 5, 1, 3, 8, 4, vector_gate=True, masked=True))
    arrays.update(case(rng, "bfloat16", 1, 4, 2, 4, 16, 8, dtype=mx.bfloat16, masked=True))
    mx.eval(arrays)
    mx.save_safetensors("client/testdata/gated_delta_mlx.safetensors", arrays)
    print("\n".join(f"{k} {v.dtype} {v.shape}" for k, v in sorted(arrays.items())))


if __name__ == "__main__":
    main()
