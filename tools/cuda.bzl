"""cuda_library: CUDA sources compiled by nvcc (one genrule per .cu) into a cc_library."""

load("@local_cuda//:defs.bzl", "CUDA_FOUND", "NVCC")

# sm_75 is the oldest GPU served; compute_90 PTX lets newer GPUs JIT the kernels.
_NVCC_FLAGS = " ".join([
    "-std=c++17",
    "-O3",
    "-Xcompiler -fPIC",
    "-DFERRY_WITH_CUDA",
    "--expt-relaxed-constexpr",
    "-gencode arch=compute_75,code=sm_75",
    "-gencode arch=compute_80,code=sm_80",
    "-gencode arch=compute_90,code=sm_90",
    "-gencode arch=compute_90,code=compute_90",
    "-I.",
    # No contraction into FMA: the same rounding as the CPU reference (kernels here are
    # memory-bound; matmul goes through cuBLAS).
    "-fmad=false",
])

def cuda_library(name, srcs, hdrs = [], nvcc_hdrs = [], deps = [], **kwargs):
    """Compiles each .cu in `srcs` to an object and wraps them in cc_library `name`.

    Without the toolkit (CUDA_FOUND false) `name` is an empty library.

    Args:
      name: the cc_library.
      srcs: .cu files, one object each.
      hdrs: this package's headers: the library's hdrs, and seen by nvcc.
      nvcc_hdrs: labels of other headers the .cu files include (nvcc sees no cc deps).
      deps: cc deps of the library.
      **kwargs: passed to the cc_library.
    """
    objects = []
    if CUDA_FOUND:
        for src in srcs:
            obj = src[:-len(".cu")] + ".pic.o"
            native.genrule(
                name = name + "_" + src[:-len(".cu")].replace("/", "_"),
                srcs = [src] + hdrs + nvcc_hdrs,
                outs = [obj],
                cmd = "%s %s -c $(location %s) -o $@" % (NVCC, _NVCC_FLAGS, src),
            )
            objects.append(obj)
    native.cc_library(
        name = name,
        srcs = objects,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cuda"],
        **kwargs
    )

def cuda_emulated_library(name, srcs, hdrs = [], deps = [], **kwargs):
    """The .cu files of `srcs` as host C++ for the CUDA emulator (kernels/cuda/emulator).

    Each is rewritten by the emulator's translate.py and compiled by the host compiler; link
    the result with //kernels/cuda/emulator instead of the CUDA runtime. For tests on
    machines without a GPU. Without the toolkit (CUDA_FOUND false) `name` is empty.

    Args:
      name: the cc_library.
      srcs: .cu files.
      hdrs: this package's headers the .cu files include.
      deps: cc deps of the library.
      **kwargs: passed to the cc_library.
    """
    translated = []
    if CUDA_FOUND:
        for src in srcs:
            out = src[:-len(".cu")] + ".emulated.cc"
            native.genrule(
                name = name + "_" + src[:-len(".cu")].replace("/", "_"),
                srcs = [src],
                outs = [out],
                tools = ["//kernels/cuda/emulator:translate.py"],
                cmd = "python3 $(location //kernels/cuda/emulator:translate.py) $< $@",
            )
            translated.append(out)
    native.cc_library(
        name = name,
        testonly = True,
        srcs = translated,
        # nvcc's #pragma unroll; and no contraction into FMA, as nvcc's -fmad=false and the
        # emulated NVRTC's fused kernels (emulator/nvrtc.cc), which match these bit for bit.
        copts = ["-Wno-unknown-pragmas", "-ffp-contract=off"],
        hdrs = hdrs,
        deps = deps + (["//kernels/cuda/emulator"] if CUDA_FOUND else []),
        **kwargs
    )
