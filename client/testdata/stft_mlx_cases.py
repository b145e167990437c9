#!/usr/bin/env python3
"""Writes stft_mlx_cases.txt: MLX's stft and istft, for client/complex_test.cc.

Run from the repository root with mlx==0.32.4 (CPU wheel: pip install 'mlx[cpu]==0.32.4'):
  python3 client/testdata/stft_mlx_cases.py > client/testdata/stft_mlx_cases.txt

One array per line, fields separated by ';':  case/array;dtype;shape;values
Per case: the signal x (a complex64 one as x_re and x_im), MLX's stft of it as S (complex64
as float32 pairs, NumPy's .view) and istft of S as y. Values as Python writes float64.
"""
import mlx.core as mx
import numpy as np

rng = np.random.default_rng(20261203)


def emit(name, a):
    a = np.asarray(a)
    if a.dtype == np.complex64:
        a = np.ascontiguousarray(a).view(np.float32)
    print(";".join([name, a.dtype.name, ",".join(str(d) for d in a.shape),
                    ",".join(repr(float(v)) for v in a.ravel())]))


x = rng.uniform(-1, 1, (2, 20)).astype(np.float32)
hann6 = np.hanning(6).astype(np.float32)
emit("hann_reflect/x", x)
S = mx.fft.stft(mx.array(x), n_fft=8, hop_length=3, win_length=6, window=mx.array(hann6))
emit("hann_reflect/S", S)
emit("hann_reflect/y", mx.fft.istft(S, n_fft=8, hop_length=3, win_length=6,
                                    window=mx.array(hann6)))

emit("plain_uncentered/x", x)
S = mx.fft.stft(mx.array(x), n_fft=8, hop_length=2, center=False)
emit("plain_uncentered/S", S)
emit("plain_uncentered/y", mx.fft.istft(S, hop_length=2, center=False, length=15))

emit("odd_edge/x", x)
S = mx.fft.stft(mx.array(x), n_fft=7, hop_length=3, win_length=5, window=mx.array(hann6[:5]),
                pad_mode="edge")
emit("odd_edge/S", S)
emit("odd_edge/y", mx.fft.istft(S, n_fft=7, hop_length=3, win_length=5,
                                window=mx.array(hann6[:5]), length=25))

z_re = rng.uniform(-1, 1, (12,)).astype(np.float32)
z_im = rng.uniform(-1, 1, (12,)).astype(np.float32)
emit("complex_constant/x_re", z_re)
emit("complex_constant/x_im", z_im)
S = mx.fft.stft(mx.array(z_re) + 1j * mx.array(z_im), n_fft=4, hop_length=2,
                pad_mode="constant", norm="ortho")
emit("complex_constant/S", S)
emit("complex_constant/y", mx.fft.istft(S, hop_length=2, onesided=False, norm="ortho"))
