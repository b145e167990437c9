"""Products of ferry's CUDA backend (matmul_bench's, conv_bench's, linalg_bench's and
fft_bench's logs) against PyTorch on the same GPU: matmul against torch.matmul (cuBLAS), 2-D
convolution against torch.nn.functional.conv2d on channels-last tensors (cuDNN), the
factorizations against torch.linalg (cuSOLVER or MAGMA, as PyTorch picks), and the FFTs
against torch.fft (cuFFT), in TFLOP/s.

Usage: python3 torch_compare.py BENCH_LOG...
Prints one RATIO line per result (ferry / torch). Skips cleanly without torch or a GPU.
"""
import math
import re
import sys
import time

MATMUL = re.compile(r"matmul_(\w+?)(_tf32)?_(\d+)$")
CONV = re.compile(r"conv_(\w+?)(_tf32)?_n(\d+)_h(\d+)_c(\d+)_k(\d+)_r(\d+)_s(\d+)$")
LINALG = re.compile(r"linalg_(\w+?)_(float32)_(?:(\d+)x)?(\d+)$")  # n, or BATCHxn
FFT = re.compile(r"(fft_complex64|rfft)_(\d+)x(\d+)$")
# The flop counts linalg_bench uses, per op, as multiples of n^3.
LINALG_FLOPS = {"cholesky": 1 / 3, "lu": 2 / 3, "eigh": 9, "svd": 22, "qr": 8 / 3, "solve": 2 / 3}


def ferry_results(paths):
    results = {}
    for path in paths:
        with open(path) as log:
            for line in log:
                m = re.match(r"RESULT ((?:matmul|conv|linalg|fft|rfft)_\S+?) (\S+) TFLOP/s", line)
                if m and not m.group(1).endswith(("_cublas", "_cusolver", "_cufft")):
                    results[m.group(1)] = float(m.group(2))
    return results


def tflops(torch, flops, run):
    run()
    torch.cuda.synchronize()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.3 or reps < 3:
        run()
        reps += 1
        if reps % 8 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    return flops * reps / (time.perf_counter() - start) / 1e12


def torch_matmul(torch, dtype, n):
    a = torch.zeros((n, n), dtype=dtype, device="cuda")
    b = torch.zeros((n, n), dtype=dtype, device="cuda")
    return tflops(torch, 2.0 * n**3, lambda: torch.matmul(a, b))


def torch_conv(torch, dtype, batch, size, c_in, c_out, taps, stride):
    x = torch.zeros((batch, c_in, size, size), dtype=dtype, device="cuda")
    w = torch.zeros((c_out, c_in, taps, taps), dtype=dtype, device="cuda")
    x = x.to(memory_format=torch.channels_last)
    w = w.to(memory_format=torch.channels_last)
    pad = taps // 2
    out = (size + 2 * pad - taps) // stride + 1
    flops = 2.0 * batch * out * out * c_out * taps * taps * c_in
    conv = torch.nn.functional.conv2d
    return tflops(torch, flops, lambda: conv(x, w, stride=stride, padding=pad))


def torch_linalg(torch, op, batch, n):
    # The inputs linalg_bench factors: n I plus symmetric noise (positive definite); a batch
    # of them when batch is not None.
    shape = (n, n) if batch is None else (batch, n, n)
    noise = torch.rand(shape, device="cuda") * 2 - 1
    a = torch.tril(noise) + torch.tril(noise, -1).mT + n * torch.eye(n, device="cuda")
    run = {
        "cholesky": lambda: torch.linalg.cholesky(a),
        "lu": lambda: torch.linalg.lu_factor(a),
        "eigh": lambda: torch.linalg.eigh(a),
        "svd": lambda: torch.linalg.svd(a, full_matrices=True),
        "qr": lambda: torch.linalg.qr(a),
        "solve": lambda: torch.linalg.solve(a, a[..., :1]),  # one right side, as linalg_bench
    }[op]
    return tflops(torch, LINALG_FLOPS[op] * n**3 * (batch or 1), run)


def torch_fft(torch, kind, batch, n):
    # fft_bench's measure: 5 n log2 n flops per complex transform, half for a real one.
    real = kind == "rfft"
    x = torch.rand((batch, n), device="cuda", dtype=torch.float32 if real else torch.complex64)
    run = (lambda: torch.fft.rfft(x)) if real else (lambda: torch.fft.fft(x))
    return tflops(torch, (2.5 if real else 5.0) * batch * n * math.log2(n), run)


def main():
    try:
        import torch
    except ImportError:
        print("SKIP torch is not installed")
        return 0
    if not torch.cuda.is_available():
        print("SKIP torch sees no GPU")
        return 0
    ferry = ferry_results(sys.argv[1:])
    if not ferry:
        print("SKIP no ferry matmul, conv, linalg or fft results in", " ".join(sys.argv[1:]))
        return 0
    torch.backends.cudnn.benchmark = True  # cuDNN's best algorithm for each shape
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    for name, value in sorted(ferry.items()):
        if name.startswith("linalg_") or FFT.match(name):
            m = LINALG.match(name)
            if m:
                batch = int(m.group(3)) if m.group(3) else None
                theirs = torch_linalg(torch, m.group(1), batch, int(m.group(4)))
            else:
                m = FFT.match(name)
                theirs = torch_fft(torch, m.group(1), int(m.group(2)), int(m.group(3)))
            print(f"RESULT {name}_torch {theirs:.4g} TFLOP/s")
            print(f"RATIO {name}_vs_torch {value / theirs:.3f} (ferry {value:.4g} vs torch {theirs:.4g})")
            continue
        m = MATMUL.match(name) or CONV.match(name)
        dtype, tf32 = dtypes[m.group(1)], bool(m.group(2))
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        if name.startswith("matmul_"):
            theirs = torch_matmul(torch, dtype, int(m.group(3)))
        else:
            theirs = torch_conv(torch, dtype, *(int(g) for g in m.groups()[2:]))
        print(f"RESULT {name}_torch {theirs:.4g} TFLOP/s")
        print(f"RATIO {name}_vs_torch {value / theirs:.3f} (ferry {value:.4g} vs torch {theirs:.4g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
