#!/usr/bin/env python3
"""Writes opsa_numpy_cases.txt: inputs and NumPy's results for the part A ops.

Run from the repository root with numpy==1.26.4 (pinned: results are what that version
computes):  python3 client/testdata/opsa_numpy_cases.py > client/testdata/opsa_numpy_cases.txt

One case per line, fields separated by ';':
  name;dtype;shape;a values;b values (or empty);result dtype;result shape;result values
Values are comma separated, as Python writes float64 (nan, inf, -inf); shapes are comma
separated dims (empty for a scalar). NumPy's float32 functions may round an ulp apart on
other machines (their SIMD paths); the file keeps the lines as first written. Only cases where ferry and NumPy agree on the
semantics are written (ferry follows MLX where they differ, e.g. int32 log1p is float32).
"""
import numpy as np

rng = np.random.default_rng(20261202)


def fmt(values):
    return ",".join(repr(float(v)) for v in np.asarray(values, dtype=np.float64).ravel())


def shape_str(shape):
    return ",".join(str(d) for d in shape)


def emit(name, a, b, out):
    out = np.asarray(out)
    dtype = {np.bool_: "bool"}.get(out.dtype.type, out.dtype.name)
    print(";".join([name, a.dtype.name, shape_str(a.shape), fmt(a),
                    "" if b is None else fmt(b), dtype, shape_str(out.shape), fmt(out)]))


def floats(shape, low, high):
    return rng.uniform(low, high, shape).astype(np.float32)


def ints(shape, low, high, dtype=np.int32):
    return rng.integers(low, high, shape, endpoint=True).astype(dtype)


with np.errstate(all="ignore"):
    x = floats((4, 5), -9, 9)
    x[0, :4] = [-2.5, -0.5, 0.5, 2.5]  # halves: round goes to even
    emit("square", x, None, np.square(x))
    emit("floor", x, None, np.floor(x))
    emit("ceil", x, None, np.ceil(x))
    emit("round", x, None, np.round(x))
    emit("sign", x, None, np.sign(x))
    p = floats((4, 5), 0, 50)
    emit("log1p", p, None, np.log1p(p))
    emit("log2", p, None, np.log2(p))
    emit("log10", p, None, np.log10(p))
    small = floats((4, 5), -3, 3)
    emit("expm1", small, None, np.expm1(small))
    special = np.array([np.nan, np.inf, -np.inf, 0, -1, 1], dtype=np.float32)
    emit("isnan", special, None, np.isnan(special))
    emit("isinf", special, None, np.isinf(special))
    emit("logical_not", special, None, np.logical_not(special))
    i = ints((4, 5), -1000, 1000)
    emit("bitwise_invert", i, None, np.invert(i))
    emit("square_int", i, None, np.square(i))

    y = floats((4, 5), -9, 9)
    emit("arctan2", x, y, np.arctan2(x, y))
    emit("logaddexp", x * 10, y * 10, np.logaddexp(x * 10, y * 10))
    emit("remainder", x, y, np.remainder(x, y))
    emit("not_equal", np.round(x), np.round(y), np.not_equal(np.round(x), np.round(y)))
    emit("less_equal", np.round(x), np.round(y), np.less_equal(np.round(x), np.round(y)))
    emit("greater_equal", np.round(x), np.round(y), np.greater_equal(np.round(x), np.round(y)))
    j = ints((4, 5), -9, 9)
    j[0, 0] = 0  # division by zero gives 0
    emit("floor_divide", i, j, np.floor_divide(i, j))
    emit("remainder_int", i, j, np.remainder(i, j))
    emit("bitwise_and", i, j, np.bitwise_and(i, j))
    emit("bitwise_or", i, j, np.bitwise_or(i, j))
    emit("bitwise_xor", i, j, np.bitwise_xor(i, j))
    counts = ints((4, 5), 0, 40)
    emit("left_shift", i, counts, np.left_shift(i, counts))
    emit("right_shift", i, counts, np.right_shift(i, counts))

    # Scans along axis 1, reductions and var/std (ddof 1) along axis 1.
    s = floats((3, 6), -2, 2)
    emit("cumsum", s, None, np.cumsum(s, axis=1))
    emit("cumprod", s, None, np.cumprod(s, axis=1))
    emit("cummax", s, None, np.maximum.accumulate(s, axis=1))
    emit("cummin", s, None, np.minimum.accumulate(s, axis=1))
    k = ints((3, 6), -3, 3, np.int64)
    emit("cumsum_int", k, None, np.cumsum(k, axis=1))
    emit("all", k, None, np.all(k, axis=1))
    emit("any", k, None, np.any(k, axis=1))
    emit("var", s, None, np.var(s, axis=1, ddof=1))
    emit("std", s, None, np.std(s, axis=1, ddof=1))

    # Layout on a (2, 3, 4) int32 array.
    t = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    emit("tile", t, None, np.tile(t, (2, 1, 2)))
    emit("repeat", t, None, np.repeat(t, 2, axis=1))
    emit("roll", t, None, np.roll(t, (1, -5), axis=(0, 2)))
    emit("pad", t, None, np.pad(t, ((0, 1), (2, 0), (1, 1)), constant_values=-1))
    emit("moveaxis", t, None, np.moveaxis(t, 0, -1))
    emit("swapaxes", t, None, np.swapaxes(t, 0, 2))
    emit("stack", t, None, np.stack([t, t + 100], axis=2))
    emit("split", t, None, np.split(t, [1, 3], axis=2)[1])

    # Part C: ops composed of others (client/trig.cc, compare.cc, triangular.cc, creation.cc,
    # linalg.cc). Cases without an input of their own (eye, tri, linspace) carry a dummy.
    t = floats((4, 5), -1.4, 1.4)
    emit("tan", t, None, np.tan(t))
    u = floats((4, 5), -0.999, 0.999)
    u[0, :5] = [-1, 0, 1, 1e-4, -0.99999]
    emit("arcsin", u, None, np.arcsin(u))
    emit("arccos", u, None, np.arccos(u))
    emit("arctanh", u, None, np.arctanh(u))
    emit("arctan", x * 10, None, np.arctan(x * 10))
    h = floats((4, 5), -5, 5)
    h[0, :2] = [1e-4, -3e-6]
    emit("sinh", h, None, np.sinh(h))
    emit("cosh", h, None, np.cosh(h))
    w = floats((4, 5), -50, 50)
    w[0, :4] = [1e30, -1e30, 1e-5, 0]
    emit("arcsinh", w, None, np.arcsinh(w))
    c = floats((4, 5), 1, 50)
    c[0, :3] = [1, 1.0001, 1e30]
    emit("arccosh", c, None, np.arccosh(c))
    near_a = np.array([1, 1, np.inf, np.inf, -np.inf, np.nan, np.nan, 0, 1e-9, 100],
                      dtype=np.float32)
    near_b = np.array([1 + 1e-6, 1 + 1e-4, np.inf, -np.inf, 5, np.nan, 1, 1e-9, 0, 100.01],
                      dtype=np.float32)
    emit("isclose", near_a, near_b, np.isclose(near_a, near_b))
    emit("isclose_equal_nan", near_a, near_b, np.isclose(near_a, near_b, equal_nan=True))
    emit("allclose", near_a, near_b, np.allclose(near_a, near_b))
    emit("allclose_equal_nan", near_a[5:6], near_a[5:6], np.allclose(near_a[5:6], near_a[5:6],
                                                                      equal_nan=True))
    emit("array_equal", near_a, near_a, np.array_equal(near_a, near_a))
    emit("array_equal_equal_nan", near_a, near_a, np.array_equal(near_a, near_a, equal_nan=True))
    emit("nan_to_num", special, None, np.nan_to_num(special))
    emit("nan_to_num_values", special, None,
         np.nan_to_num(special, nan=-1, posinf=7, neginf=-7))
    emit("tril", x, None, np.tril(x, 1))
    emit("triu", x, None, np.triu(x, -1))
    dummy = np.zeros(1, dtype=np.float32)
    emit("eye", dummy, None, np.eye(3, 5, k=1, dtype=np.float32))
    emit("tri", dummy, None, np.tri(4, 3, k=-1, dtype=np.float32))
    emit("linspace", dummy, None, np.linspace(-1, 2, 7, dtype=np.float32))
    emit("outer", x[0], y[0], np.outer(x[0], y[0]))
    emit("inner", x, y, np.inner(x, y))
    emit("tensordot", x, y, np.tensordot(x, y, axes=([0], [0])))
    emit("tensordot_all", x, y, np.tensordot(x, y, axes=2))
    t3 = floats((3, 4, 5), -2, 2)
    emit("diagonal", t3, None, np.diagonal(t3, 1, 2, 0))
    emit("diagonal_below", x, None, np.diagonal(x, -2))
    emit("diag_vector", x[0], None, np.diag(x[0], -1))
    emit("diag_matrix", x, None, np.diag(x, 2))
    small_a = floats((2, 3), -2, 2)
    emit("kron", small_a, small_a + 1, np.kron(small_a, small_a + 1))
    emit("meshgrid_xy", x[0], x[1], np.meshgrid(x[0], x[1][:4], indexing="xy")[0])
    emit("meshgrid_ij", x[0], x[1], np.meshgrid(x[0], x[1][:4], indexing="ij")[1])
    emit("norm", t3, None, np.linalg.norm(t3))
    emit("norm_vector_3", t3, None, np.linalg.norm(t3, 3, axis=1))
    emit("norm_vector_inf", t3, None, np.linalg.norm(t3, np.inf, axis=-1))
    emit("norm_vector_0", np.round(t3), None, np.linalg.norm(np.round(t3), 0, axis=0))
    emit("norm_matrix_1", t3, None, np.linalg.norm(t3, 1, axis=(1, 2)))
    emit("norm_matrix_neg_inf", t3, None, np.linalg.norm(t3, -np.inf, axis=(2, 0)))
    emit("norm_fro", x, None, np.linalg.norm(x, "fro"))
    # logcumsumexp is logaddexp accumulated; values far apart check there is no overflow.
    wide = floats((3, 6), -300, 300)
    emit("logcumsumexp", wide, None, np.logaddexp.accumulate(wide.astype(np.float64), axis=1).astype(np.float32))
    # Linear algebra (LAPACK in float32 on both sides); well-conditioned matrices, and only
    # results without a sign choice (qr, svd and eigh vectors are checked by their invariants).
    sq = floats((3, 4, 4), -1, 1) + 4 * np.eye(4, dtype=np.float32)
    rhs = floats((3, 4, 4), -2, 2)
    spd = (np.einsum("bij,bkj->bik", sq, sq) + np.eye(4, dtype=np.float32)).astype(np.float32)
    emit("linalg_inv", sq, None, np.linalg.inv(sq))
    emit("linalg_inv_float64", sq.astype(np.float64), None, np.linalg.inv(sq.astype(np.float64)))
    emit("linalg_solve", sq, rhs, np.linalg.solve(sq, rhs))
    emit("linalg_solve_triangular", sq, rhs, np.linalg.solve(np.tril(sq), rhs))
    emit("linalg_tri_inv_upper", sq, None, np.linalg.inv(np.triu(sq)))
    emit("linalg_cholesky", spd, None, np.linalg.cholesky(spd))
    emit("linalg_cholesky_upper", spd, None, np.swapaxes(np.linalg.cholesky(spd), -1, -2))
    emit("linalg_cholesky_inv", spd, None, np.linalg.inv(spd))
    emit("linalg_eigvalsh", spd - 8 * np.eye(4, dtype=np.float32), None,
         np.linalg.eigvalsh(spd - 8 * np.eye(4, dtype=np.float32)))
    emit("linalg_eigvalsh_upper", sq, None, np.linalg.eigvalsh(sq, UPLO="U"))
    emit("linalg_svdvals", t3, None, np.linalg.svd(t3, compute_uv=False))
    emit("linalg_pinv", x, None, np.linalg.pinv(x))
    emit("norm_matrix_2", t3, None, np.linalg.norm(t3, 2, axis=(1, 2)))
    emit("norm_matrix_neg_2", t3, None, np.linalg.norm(t3, -2, axis=(2, 0)))
    emit("norm_nuc", x, None, np.linalg.norm(x, "nuc"))
    v3 = floats((4, 3), -2, 2)
    emit("linalg_cross", v3, v3[::-1].copy(), np.cross(v3, v3[::-1]))
    emit("linalg_det", sq, None, np.linalg.det(sq))
    emit("linalg_slogdet", sq - 4 * np.eye(4, dtype=np.float32), None,
         np.linalg.slogdet(sq - 4 * np.eye(4, dtype=np.float32))[1])
    emit("view_float32_as_int32", x, None, x.view(np.int32))
    emit("view_float32_as_uint8", x, None, x.view(np.uint8))
    halves = floats((3, 4), -2, 2).astype(np.float16)
    emit("view_float16_as_int32", halves, None, halves.view(np.int32))

    # The integer dtypes beyond uint8/uint32/int32/int64: wrapping arithmetic, division and
    # shifts at each width (shift counts past the width included), comparisons, sorts.
    # A generator of their own, so adding them left the lines above as they were.
    int_rng = np.random.default_rng(20261203)
    for dtype in (np.int8, np.int16, np.uint16, np.uint64):
        info = np.iinfo(dtype)
        top = min(int(info.max), 2**53 - 1)  # exact in the file's float64 values
        low = max(int(info.min), -(2**53))
        a = int_rng.integers(low, top, (4, 5), endpoint=True).astype(dtype)
        b = int_rng.integers(low, top, (4, 5), endpoint=True).astype(dtype)
        a[0, :2] = [low, top]
        b[0, :3] = [low, 0, 1]  # 0: integer division by zero gives 0
        emit("add_int", a, b, a + b)
        emit("subtract_int", a, b, a - b)
        emit("multiply_int", a, b, a * b)
        emit("square_int", a, None, np.square(a))
        emit("abs_int", a, None, np.abs(a))
        emit("floor_divide", a, b, np.floor_divide(a, b))
        emit("remainder_int", a, b, np.remainder(a, b))
        emit("bitwise_and", a, b, np.bitwise_and(a, b))
        emit("bitwise_or", a, b, np.bitwise_or(a, b))
        emit("bitwise_xor", a, b, np.bitwise_xor(a, b))
        emit("bitwise_invert", a, None, np.invert(a))
        counts = int_rng.integers(0, info.bits + 8, (4, 5), endpoint=True).astype(dtype)
        emit("left_shift", a, counts, np.left_shift(a, counts))
        emit("right_shift", a, counts, np.right_shift(a, counts))
        emit("maximum_int", a, b, np.maximum(a, b))
        emit("minimum_int", a, b, np.minimum(a, b))
        emit("less_equal", a, b, np.less_equal(a, b))
        emit("not_equal", a, a[::-1].copy(), np.not_equal(a, a[::-1]))
        emit("cummax", a, None, np.maximum.accumulate(a, axis=1))
        emit("cummin", a, None, np.minimum.accumulate(a, axis=1))
        emit("sort_int", a, None, np.sort(a, axis=-1))
        emit("astype_float32", a, None, a.astype(np.float32))

    # ops.h part D: the rest of MLX's ops.h, composed.
    d_rng = np.random.default_rng(20261204)
    xd = d_rng.uniform(-9, 9, (4, 6)).astype(np.float32)
    xd[0, :4] = [np.inf, -np.inf, np.nan, -0.5]
    emit("isfinite", xd, None, np.isfinite(xd))
    emit("isposinf", xd, None, np.isposinf(xd))
    emit("isneginf", xd, None, np.isneginf(xd))
    emit("trunc", xd, None, np.trunc(xd))
    emit("degrees", xd, None, np.degrees(xd))
    emit("radians", xd, None, np.radians(xd))
    yd = d_rng.uniform(-9, 9, (3, 4, 5)).astype(np.float32)
    emit("flip", yd, None, np.flip(yd))
    emit("flip_axes", yd, None, np.flip(yd, (0, 2)))
    emit("median", yd, None, np.median(yd, axis=(0, 2)))
    emit("median_even", yd, None, np.median(yd, axis=1))
    emit("median_all", yd, None, np.median(yd))
    emit("trace", yd, None, np.trace(yd, 1, 2, 0))
    emit("atleast_3d", yd[0], None, np.atleast_3d(yd[0]))
    emit("matrix_transpose", yd, None, np.swapaxes(yd, -1, -2))
    emit("hanning", np.zeros(0, np.float32), None, np.hanning(9).astype(np.float32))
    emit("hamming", np.zeros(0, np.float32), None, np.hamming(8).astype(np.float32))
    emit("blackman", np.zeros(0, np.float32), None, np.blackman(7).astype(np.float32))
    emit("bartlett", np.zeros(0, np.float32), None, np.bartlett(6).astype(np.float32))

    # complex64 and the Fourier transforms. A complex input travels as its real parts (a)
    # and imaginary parts (b); a complex result as its float32 pairs (NumPy's .view).
    c_rng = np.random.default_rng(20261203)

    def pairs(z):
        return np.ascontiguousarray(np.asarray(z, np.complex64)).view(np.float32)

    re = c_rng.uniform(-9, 9, (3, 8)).astype(np.float32)
    im = c_rng.uniform(-9, 9, (3, 8)).astype(np.float32)
    z = re.astype(np.complex128) + 1j * im
    w = im.astype(np.complex128) + 1j * re
    emit("complex_multiply", re, im, pairs(z * w))
    emit("complex_divide", re, im, pairs(z / w))
    emit("complex_exp", re / 4, im, pairs(np.exp((re / 4).astype(np.float32) + 1j * im)))
    emit("complex_log", re, im, pairs(np.log(z)))
    emit("complex_sqrt", re, im, pairs(np.sqrt(z)))
    emit("complex_abs", re, im, np.abs(z).astype(np.float32))
    emit("complex_sum", re, im, pairs(z.sum(axis=1)))
    emit("complex_mean", re, im, pairs(z.mean(axis=0)))
    emit("complex_conjugate", re, im, pairs(np.conjugate(z)))
    emit("complex_astype_float32", re, im, z.real.astype(np.float32))
    sq_re, sq_im = re[:, :3].copy(), im[:, :3].copy()
    emit("complex_matmul", sq_re, sq_im,
         pairs((sq_re + 1j * sq_im.astype(np.float64)) @ (sq_im + 1j * sq_re.astype(np.float64))))
    emit("fft", re, im, pairs(np.fft.fft(z)))
    emit("ifft", re, im, pairs(np.fft.ifft(z)))
    emit("fft_n_axis0", re, im, pairs(np.fft.fft(z, n=5, axis=0)))
    emit("fft_cut", re, im, pairs(np.fft.fft(z, n=6)))
    emit("fft2", re, im, pairs(np.fft.fft2(z)))
    emit("ifftn", re, im, pairs(np.fft.ifftn(z)))
    emit("fft_ortho", re, im, pairs(np.fft.fft(z, norm="ortho")))
    emit("ifft_forward", re, im, pairs(np.fft.ifft(z, norm="forward")))
    signal = c_rng.uniform(-9, 9, (4, 7)).astype(np.float32)
    emit("rfft", signal, None, pairs(np.fft.rfft(signal)))
    emit("rfft_n", signal, None, pairs(np.fft.rfft(signal, n=12)))
    emit("rfft2", signal, None, pairs(np.fft.rfft2(signal)))
    emit("rfftn_ortho", signal, None, pairs(np.fft.rfftn(signal, norm="ortho")))
    emit("irfft", re, im, np.fft.irfft(z).astype(np.float32))
    emit("irfft_odd", re, im, np.fft.irfft(z, n=9).astype(np.float32))
    emit("irfft2", re, im, np.fft.irfft2(z).astype(np.float32))
    emit("irfftn_s", re, im, np.fft.irfftn(z, s=(4, 6)).astype(np.float32))
    long_signal = c_rng.uniform(-1, 1, (2, 97)).astype(np.float32)
    emit("rfft_prime", long_signal, None, pairs(np.fft.rfft(long_signal)))
    emit("fftshift", signal, None, np.fft.fftshift(signal))
    emit("ifftshift_axis", signal, None, np.fft.ifftshift(signal, axes=1))
