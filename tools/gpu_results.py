#!/usr/bin/env python3
"""Turns the summary.txt of .gpu_bundle/run_all.sh into the README's CUDA results: the tests'
verdicts and one table row per RATIO line, grouped by what it measures.

Usage: tools/gpu_results.py SUMMARY_TXT [DATE]
"""
import re
import sys

GROUPS = [
    ("matmul vs cuBLAS direct", r"^matmul_.*_vs_cublas$"),
    ("matmul vs PyTorch", r"^matmul_.*_vs_torch"),
    ("convolution vs its lowered product in cuBLAS", r"^conv_.*_vs_cublas$"),
    ("convolution vs PyTorch (cuDNN)", r"^conv_.*_vs_torch"),
    ("4-bit quantized_matmul vs cuBLAS on the 16-bit weights", r"^qmm4_.*_vs_cublas_unquantized$"),
    ("linear algebra vs cuSOLVER (cuBLAS for a batch's lu) called directly",
     r"^linalg_.*_vs_(cusolver|cublas)$"),
    ("linear algebra vs PyTorch (torch.linalg)", r"^linalg_.*_vs_torch$"),
    ("memory-bound ops vs device copy", r"_vs_memcpy$"),
    ("transfers vs cudaMemcpy from pinned memory", r"_vs_pinned_memcpy$"),
    ("fusion", r"fusion_speedup$"),
    ("vs MLX (MLX time / ferry time)", r"_mlx_over_ferry$"),
]


def main():
    lines = open(sys.argv[1]).read().splitlines()
    date = sys.argv[2] if len(sys.argv) > 2 else "DATE"
    devices = [l for l in lines if l.startswith("GPU ") or l.startswith("DEVICE ")]
    runs = [l for l in lines if re.match(r"^\S+\s+rc=", l)]
    failed = [l for l in lines if l.startswith("[  FAILED  ]")]
    ratios = []
    for line in lines:
        m = re.match(r"^RATIO (\S+) (\S+) \((.*)\)$", line)
        if m:
            ratios.append((m.group(1), float(m.group(2)), m.group(3)))
    print(f"Measured {date} on {devices[0] if devices else 'the GPU machine'}.\n")
    print("| binary | exit | seconds |\n| --- | --- | --- |")
    for run in runs:
        name, rc, secs = re.match(r"^(\S+)\s+rc=(\S+)\s+(\S+)s", run).groups()
        print(f"| {name} | {rc} | {secs} |")
    print(f"\nFailed test cases: {len(set(failed))}" + "".join(f"\n- {f[13:]}" for f in sorted(set(failed))))
    print("\n| measure | ratio | figures |\n| --- | --- | --- |")
    shown = set()
    for title, pattern in GROUPS:
        for name, ratio, detail in ratios:
            if re.search(pattern, name) and name not in shown:
                shown.add(name)
                print(f"| {title}: `{name}` | {ratio:.3f} | {detail} |")
    for name, ratio, detail in ratios:
        if name not in shown:
            print(f"| `{name}` | {ratio:.3f} | {detail} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
