"""ferry's CUDA backend against MLX (the mlx-cuda-13 wheel) on the workloads of
elementwise_bench (an elementwise chain, softmax, and an MLP forward), quantized_bench
(a 4-bit quantized_matmul, group size 64), fft_bench (batched FFTs) and recurrence_bench
(the gated delta rule, as mlx-lm runs it on CUDA).

Usage: python3 mlx_compare.py ELEMENTWISE_BENCH_LOG [QUANTIZED_BENCH_LOG FFT_BENCH_LOG
       RECURRENCE_BENCH_LOG ...]
Prints RATIO lines (MLX time / ferry time: above 1 means ferry is faster). Skips cleanly
without mlx or a GPU. On the device machine MLX comes from tools/mlx_bundle.sh (the wheels
are larger than one run may carry); .gpu_bundle/run_all.sh installs it and runs this.
"""
import re
import sys
import time


def ferry_ms(paths):
    results = {}
    for path in paths:
        try:
            with open(path) as log:
                for line in log:
                    m = re.match(r"RESULT (mlx_\S+) (\S+) ms", line)
                    if m:
                        results[m.group(1)] = float(m.group(2))
        except OSError as error:
            print(f"NOTE {path}: {error}")
    return results


def time_ms(mx, fn, *args):
    mx.eval(fn(*args))
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.3 or reps < 3:
        mx.eval(fn(*args))
        reps += 1
    return (time.perf_counter() - start) / reps * 1e3


def gated_delta_ops(mx, q, k, v, g, beta, state):
    """The gated delta rule a step at a time, as mlx-lm's gated_delta_ops computes it."""
    repeat = v.shape[2] // q.shape[2]
    q, k = mx.repeat(q, repeat, 2), mx.repeat(k, repeat, 2)
    ys = []
    for t in range(q.shape[1]):
        state = state * g[:, t, :, None, None]
        kv = (state * k[:, t, :, None, :]).sum(axis=-1)
        delta = (v[:, t] - kv) * beta[:, t, :, None]
        state = state + k[:, t, :, None, :] * delta[..., None]
        ys.append((state * q[:, t, :, None, :]).sum(axis=-1).astype(q.dtype))
    return mx.stack(ys, axis=1), state


def main():
    try:
        import mlx.core as mx
        import mlx.nn as nn
    except ImportError:
        print("SKIP mlx is not installed (tools/mlx_bundle.sh packs it for the GPU machine)")
        return 0
    except Exception as error:  # e.g. a wheel for another Python: mlx.core is only stubs
        print(f"SKIP mlx does not load here: {error!r}")
        return 0
    if hasattr(mx, "cuda") and not mx.cuda.is_available():
        print("SKIP mlx sees no GPU")
        return 0
    mx.set_default_device(mx.gpu)
    ferry = ferry_ms(sys.argv[1:])
    x = mx.zeros((4096, 4096), dtype=mx.float32)
    def chain(v):
        return mx.sigmoid(mx.tanh(mx.exp(v * v)))

    theirs = {
        "mlx_chain_f32_4096": time_ms(mx, chain, x),
        # What an MLX user would write for speed: one fused kernel.
        "mlx_chain_f32_4096_compiled": time_ms(mx, mx.compile(chain), x),
        "mlx_softmax_f32_4096": time_ms(mx, lambda v: mx.softmax(v, axis=1), x),
    }
    for name, dtype in (("mlx_mlp_float32", mx.float32), ("mlx_mlp_float16", mx.float16)):
        dims = [1024, 4096, 4096, 1024]
        ws = [mx.zeros((dims[i], dims[i + 1]), dtype=dtype) for i in range(3)]
        bs = [mx.zeros((dims[i + 1],), dtype=dtype) for i in range(3)]

        def mlp(v, ws=ws, bs=bs):
            for i in range(3):
                v = v @ ws[i] + bs[i]
                if i < 2:
                    v = nn.gelu(v)
            return v

        theirs[name] = time_ms(mx, mlp, mx.zeros((256, 1024), dtype=dtype))
    # The quantized layers quantized_bench ran: x (m, n) @ w^T, w (n, n) in 4 bits.
    for name in ferry:
        m = re.match(r"mlx_qmm_(\w+?)_m(\d+)_n(\d+)$", name)
        if not m:
            continue
        dtype = getattr(mx, m.group(1))
        rows, n = int(m.group(2)), int(m.group(3))
        wq, scales, biases = mx.quantize(mx.zeros((n, n), dtype=dtype), group_size=64, bits=4)
        x = mx.zeros((rows, n), dtype=dtype)
        theirs[name] = time_ms(mx, lambda v, wq=wq, s=scales, b=biases: mx.quantized_matmul(
            v, wq, s, b, transpose=True, group_size=64, bits=4), x)
    # The transforms fft_bench ran, as mlx_fft_complex64_BxN and mlx_rfft_BxN.
    for name in ferry:
        m = re.match(r"mlx_(fft_complex64|rfft)_(\d+)x(\d+)$", name)
        if not m:
            continue
        real = m.group(1) == "rfft"
        shape = (int(m.group(2)), int(m.group(3)))
        try:
            theirs[name] = time_ms(mx, mx.fft.rfft if real else mx.fft.fft,
                                   mx.zeros(shape, dtype=mx.float32 if real else mx.complex64))
        except Exception as error:  # an MLX without FFTs on this backend
            print(f"NOTE mlx {name}: {error!r}")
    # The gated delta rule recurrence_bench ran (Qwen3-Next's heads): on CUDA mlx-lm runs
    # its ops path (gated_delta_ops, a step's ops at a time; its kernel is Metal's), as here.
    for name in ferry:
        m = re.match(r"mlx_gated_delta_(\w+?)_b(\d+)_t(\d+)$", name)
        if not m:
            continue
        dtype, b, t = getattr(mx, m.group(1)), int(m.group(2)), int(m.group(3))
        hk, hv, d = (16, 32, 128) if b * t > 4 else (1, 2, 32)  # --quick's sizes below 4
        inputs = [mx.zeros((b, t, hk, d), dtype=dtype), mx.zeros((b, t, hk, d), dtype=dtype),
                  mx.zeros((b, t, hv, d), dtype=dtype), mx.zeros((b, t, hv), dtype=mx.float32),
                  mx.zeros((b, t, hv), dtype=dtype), mx.zeros((b, hv, d, d), dtype=mx.float32)]
        theirs[name] = time_ms(mx, lambda *a: gated_delta_ops(mx, *a), *inputs)
    for name, mlx_ms in sorted(theirs.items()):
        print(f"RESULT {name}_mlx {mlx_ms:.4g} ms")
        ours = ferry.get(name.removesuffix("_compiled"))
        if ours:
            print(f"RATIO {name}_mlx_over_ferry {mlx_ms / ours:.3f} "
                  f"(mlx {mlx_ms:.4g} ms vs ferry {ours:.4g} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
