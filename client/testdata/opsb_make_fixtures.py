#!/usr/bin/python3
"""Writes opsb_fixtures.txt: inputs and NumPy reference results for client/opsb_fixtures_test.cc.

Run from the repository root:  /usr/bin/python3 client/testdata/opsb_make_fixtures.py
(NumPy 1.24, Debian's python3-numpy). Each line is one array:
    name ndim dim... value...
Inputs are rounded to float32 before the reference is computed (in float64), so the C++
test feeds exactly the same numbers.
"""
import os

import numpy as np

rng = np.random.default_rng(20261202)
lines = []


def put(name, a):
    a = np.asarray(a, dtype=np.float64)
    fields = [name, str(a.ndim)] + [str(d) for d in a.shape]
    fields += [repr(float(v)) for v in a.reshape(-1)]
    lines.append(" ".join(fields))


def f32(*shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, shape).astype(np.float32).astype(np.float64)


def conv(x, w, stride, pad_lo, pad_hi, dil, groups):
    """Channels-last convolution as MLX: x (N, *S, Ci), w (Co, *K, Ci/groups)."""
    spatial = x.ndim - 2
    pads = [(0, 0)] + [(lo, hi) for lo, hi in zip(pad_lo, pad_hi)] + [(0, 0)]
    xp = np.pad(x, pads)
    n, ci, co = x.shape[0], x.shape[-1], w.shape[0]
    cig, cog = ci // groups, co // groups
    ksz = w.shape[1:-1]
    out_sz = [(xp.shape[d + 1] - dil[d] * (ksz[d] - 1) - 1) // stride[d] + 1 for d in range(spatial)]
    out = np.zeros([n] + out_sz + [co])
    for pos in np.ndindex(*out_sz):
        for kpos in np.ndindex(*ksz):
            idx = tuple(pos[d] * stride[d] + kpos[d] * dil[d] for d in range(spatial))
            patch = xp[(slice(None),) + idx]  # (N, Ci)
            for g in range(groups):
                wk = w[(slice(g * cog, (g + 1) * cog),) + kpos]  # (cog, cig)
                out[(slice(None),) + pos + (slice(g * cog, (g + 1) * cog),)] += (
                    patch[:, g * cig:(g + 1) * cig] @ wk.T)
    return out


# conv1d: stride 2, padding 1, groups 2.
x = f32(2, 7, 4); w = f32(6, 3, 2)
put("conv1d.x", x); put("conv1d.w", w)
put("conv1d.out", conv(x, w, [2], [1], [1], [1], 2))
# conv2d: stride (2, 1), padding (1, 0), dilation (1, 2).
x = f32(2, 6, 5, 3); w = f32(4, 3, 2, 3)
put("conv2d.x", x); put("conv2d.w", w)
put("conv2d.out", conv(x, w, [2, 1], [1, 0], [1, 0], [1, 2], 1))

# layer_norm and rms_norm over the last axis.
x = f32(3, 8, low=-3, high=3); wt = f32(8); b = f32(8)
put("norm.x", x); put("norm.w", wt); put("norm.b", b)
mu = x.mean(-1, keepdims=True)
var = ((x - mu) ** 2).mean(-1, keepdims=True)
put("layer_norm.out", (x - mu) / np.sqrt(var + 1e-5) * wt + b)
put("rms_norm.out", x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * wt)

# rope: dims 6 of 8 features, base 10000, scale 0.5, offset 3.
x = f32(2, 5, 8)
put("rope.x", x)
dims, base, scale, offset = 6, 10000.0, 0.5, 3
half = dims // 2
inv = base ** (-np.arange(half) / half)
theta = ((np.arange(5) + offset) * scale)[:, None] * inv[None, :]
c, s = np.cos(theta), np.sin(theta)
out = x.copy()
x1, x2 = x[..., :half], x[..., half:dims]
out[..., :half] = x1 * c - x2 * s
out[..., half:dims] = x1 * s + x2 * c
put("rope.out", out)
out = x.copy()
x1, x2 = x[..., 0:dims:2], x[..., 1:dims:2]
out[..., 0:dims:2] = x1 * c - x2 * s
out[..., 1:dims:2] = x1 * s + x2 * c
put("rope_traditional.out", out)

# scaled_dot_product_attention with grouped-query heads (4 query heads, 2 kv heads).
q = f32(1, 4, 3, 8); k = f32(1, 2, 5, 8); v = f32(1, 2, 5, 6); m = f32(3, 5)
put("sdpa.q", q); put("sdpa.k", k); put("sdpa.v", v); put("sdpa.mask", m)
scale = 0.35


def attention(mask):
    kk = np.repeat(k, 2, axis=1); vv = np.repeat(v, 2, axis=1)
    sc = q @ kk.transpose(0, 1, 3, 2) * scale + mask
    sc = sc - sc.max(-1, keepdims=True)
    p = np.exp(sc); p /= p.sum(-1, keepdims=True)
    return p @ vv


causal = np.where(np.arange(2, 5)[:, None] >= np.arange(5)[None, :], 0.0, -np.inf)
put("sdpa_causal.out", attention(causal))
put("sdpa_mask.out", attention(m))

# Indexing and sorting.
x = f32(4, 6)
put("index.x", x)
idx = rng.integers(-4, 4, size=(2, 6))
put("index.idx", idx)
put("take_along_axis.out", np.take_along_axis(x, np.where(idx < 0, idx + 4, idx), axis=0))
put("take.out", np.take(x, idx, axis=0))
upd = f32(2, 6)
put("put_along_axis.upd", upd)
idx2 = rng.permutation(4)[:2][:, None] + np.zeros((2, 6), dtype=np.int64)  # distinct rows
put("put_along_axis.idx", idx2)
y = x.copy(); np.put_along_axis(y, idx2, upd, axis=0)
put("put_along_axis.out", y)
put("sort.out", np.sort(x, axis=-1))
put("argsort.out", np.argsort(x, axis=0, kind="stable"))

# einsum.
a = f32(2, 3, 4); b = f32(2, 4, 5); sq = f32(4, 4); u = f32(3); w = f32(5)
put("einsum.a", a); put("einsum.b", b); put("einsum.sq", sq); put("einsum.u", u)
put("einsum.w", w)
put("einsum.bmm", np.einsum("bij,bjk->bik", a, b))
put("einsum.diag", np.einsum("ii->i", sq))
put("einsum.trace", np.einsum("ii", sq))
put("einsum.outer", np.einsum("i,j->ij", u, w))
put("einsum.perm", np.einsum("ijk->kji", a))
put("einsum.reduce", np.einsum("bij->j", a))
put("einsum.chain", np.einsum("bij,bjk,k->bi", a, b, w))


def conv_transpose(x, w, stride, pad, dil, out_pad, groups):
    """MLX's conv_transpose: x[i] adds w[k] @ x[i] to out[i * s + k * d - p]; w (Co, *K, Ci/groups)."""
    spatial = x.ndim - 2
    n, ci, co = x.shape[0], x.shape[-1], w.shape[0]
    cig, cog = ci // groups, co // groups
    ins, ksz = x.shape[1:-1], w.shape[1:-1]
    full = [(ins[d] - 1) * stride[d] + dil[d] * (ksz[d] - 1) + 1 + out_pad[d] for d in range(spatial)]
    buf = np.zeros([n] + full + [co])
    for pos in np.ndindex(*ins):
        for kpos in np.ndindex(*ksz):
            idx = tuple(pos[d] * stride[d] + kpos[d] * dil[d] for d in range(spatial))
            for g in range(groups):
                wk = w[(slice(g * cog, (g + 1) * cog),) + kpos]  # (cog, cig)
                buf[(slice(None),) + idx + (slice(g * cog, (g + 1) * cog),)] += (
                    x[(slice(None),) + pos + (slice(g * cig, (g + 1) * cig),)] @ wk.T)
    crop = tuple(slice(pad[d], full[d] - pad[d]) for d in range(spatial))
    return buf[(slice(None),) + crop]


# conv_transpose1d: stride 2, padding 1, output_padding 1, groups 2.
x = f32(2, 5, 4); w = f32(6, 3, 2)
put("conv_transpose1d.x", x); put("conv_transpose1d.w", w)
put("conv_transpose1d.out", conv_transpose(x, w, [2], [1], [1], [1], 2))
# conv_transpose2d: stride (2, 1), padding (0, 1), dilation (1, 2), output_padding (1, 0).
x = f32(1, 3, 4, 3); w = f32(2, 2, 3, 3)
put("conv_transpose2d.x", x); put("conv_transpose2d.w", w)
put("conv_transpose2d.out", conv_transpose(x, w, [2, 1], [0, 1], [1, 2], [1, 0], 1))
# Padding past the kernel's span (2 > 1): the spread input is cropped.
x = f32(1, 6, 2); w = f32(3, 2, 2)
put("conv_transpose_cropped.x", x); put("conv_transpose_cropped.w", w)
put("conv_transpose_cropped.out", conv_transpose(x, w, [3], [2], [1], [2], 1))

# einsum with ellipses: batch dims broadcast (2, 1) against (5,), an implicit output, a sum.
ea = f32(2, 1, 3, 4); eb = f32(5, 4, 2)
put("einsum.ea", ea); put("einsum.eb", eb)
put("einsum.ellipsis_bmm", np.einsum("...ij,...jk->...ik", ea, eb))
put("einsum.ellipsis_implicit", np.einsum("...ij,jk", ea, eb[0]))
put("einsum.ellipsis_sum", np.einsum("...ij->...", ea))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "opsb_fixtures.txt")
with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
