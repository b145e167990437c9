"""Detects the CUDA toolkit and exposes it as @local_cuda.

Where the toolkit is found (CUDA_PATH, else /usr/local/cuda), @local_cuda//:defs.bzl sets
CUDA_FOUND = True and @local_cuda//:cuda links the CUDA runtime (libcudart.so, found
through an rpath; tools/gpu_bundle.sh ships it). cuBLAS and
cuBLASLt are not linked: kernels/cuda/cublas_loader.cc dlopens them on first use, because
linking them adds ~100 KiB of static TLS to every thread (breaking small-stack threads such
as civetweb's in prometheus-cpp). @local_cuda//:headers
is the headers without the runtime. Elsewhere
CUDA_FOUND = False and both are empty libraries, so the CPU-only build still succeeds.
"""

def _cuda_configure_impl(ctx):
    cuda_path = ctx.os.environ.get("CUDA_PATH", "/usr/local/cuda")
    found = (ctx.path(cuda_path + "/bin/nvcc").exists and
             ctx.path(cuda_path + "/include/cuda_runtime.h").exists)
    if found:
        ctx.symlink(cuda_path + "/include", "include")
        ctx.file("BUILD", """
package(default_visibility = ["//visibility:public"])

# The headers alone, for code that must not link the runtime (the CUDA emulator's).
cc_library(
    name = "headers",
    hdrs = glob(["include/**/*.h", "include/**/*.hpp", "include/**/*.inl", "include/**/*.cuh"]),
    includes = ["include"],
)

cc_library(
    name = "cuda",
    deps = [":headers"],
    linkopts = [
        "-L{p}/lib64",
        "-lcudart",
        "-Wl,-rpath,{p}/lib64",
    ],
)
""".format(p = cuda_path))
    else:
        ctx.file("BUILD", """
package(default_visibility = ["//visibility:public"])

cc_library(name = "cuda")

cc_library(name = "headers")
""")
    ctx.file("defs.bzl", "CUDA_FOUND = {}\nCUDA_PATH = \"{}\"\nNVCC = \"{}\"\n".format(
        found,
        cuda_path if found else "",
        cuda_path + "/bin/nvcc" if found else "",
    ))

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["CUDA_PATH"],
    local = True,
)
