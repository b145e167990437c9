#ifndef FERRY_KERNELS_CUDA_CUBIN_CACHE_H_
#define FERRY_KERNELS_CUDA_CUBIN_CACHE_H_

// Compiled fused kernels kept on disk, so a restarted ferryd does not compile its graphs'
// kernels again (NVRTC takes tens of ms each), as MLX keeps its JIT output. An entry holds
// the whole source it was compiled from and is used only for that exact source.

#include <optional>
#include <string>

namespace ferry::kernels::cuda {

// Where entries go: $FERRY_KERNEL_CACHE_DIR, else $XDG_CACHE_HOME/ferry/kernels, else
// $HOME/.cache/ferry/kernels; empty (no disk cache) when none is set or the variable is
// "off".
std::string CubinCacheDir();

// The cubin compiled from `source` under `compiler` (the NVRTC version and target, e.g.
// "nvrtc 13.0 sm_90"), if `dir` holds one; nullopt otherwise, also for an unreadable or
// damaged entry.
std::optional<std::string> LoadCubin(const std::string& dir, const std::string& compiler,
                                     const std::string& source);

// Stores it (atomically: a reader sees the whole entry or none); false when it could not.
bool StoreCubin(const std::string& dir, const std::string& compiler, const std::string& source,
                const std::string& cubin);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_CUBIN_CACHE_H_
