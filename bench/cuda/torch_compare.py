"""matmul TFLOP/s of ferry's CUDA backend (from matmul_bench's log) against PyTorch.

Usage: python3 torch_compare.py MATMUL_BENCH_LOG
Prints one RATIO line per size and dtype (ferry / torch). Skips cleanly without torch or a GPU.
"""
import re
import sys
import time


def ferry_results(path):
    results = {}
    with open(path) as log:
        for line in log:
            m = re.match(r"RESULT (matmul_\S+?) (\S+) TFLOP/s", line)
            if m and not m.group(1).endswith("_cublas"):
                results[m.group(1)] = float(m.group(2))
    return results


def torch_tflops(torch, dtype, tf32, n):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a = torch.zeros((n, n), dtype=dtype, device="cuda")
    b = torch.zeros((n, n), dtype=dtype, device="cuda")
    torch.matmul(a, b)
    torch.cuda.synchronize()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.3 or reps < 3:
        torch.matmul(a, b)
        reps += 1
        if reps % 8 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    return 2.0 * n**3 * reps / (time.perf_counter() - start) / 1e12


def main():
    try:
        import torch
    except ImportError:
        print("SKIP torch is not installed")
        return 0
    if not torch.cuda.is_available():
        print("SKIP torch sees no GPU")
        return 0
    ferry = ferry_results(sys.argv[1])
    if not ferry:
        print("SKIP no ferry matmul results in", sys.argv[1])
        return 0
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    for name, value in sorted(ferry.items()):
        m = re.match(r"matmul_(\w+?)(_tf32)?_(\d+)$", name)
        dtype, tf32, n = dtypes[m.group(1)], bool(m.group(2)), int(m.group(3))
        theirs = torch_tflops(torch, dtype, tf32, n)
        print(f"RESULT {name}_torch {theirs:.4g} TFLOP/s")
        print(f"RATIO {name}_vs_torch {value / theirs:.3f} (ferry {value:.4g} vs torch {theirs:.4g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
