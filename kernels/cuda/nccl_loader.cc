#include "kernels/cuda/nccl_loader.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/library_loader.h"

namespace ferry::kernels::cuda {
namespace {

constexpr char kLibrary[] = "libnccl.so.2";

}  // namespace

std::vector<std::string> NcclCandidates() { return LibraryCandidates(kLibrary); }

absl::StatusOr<Nccl> LoadNcclFrom(const std::vector<std::string>& candidates) {
  Nccl n;
  absl::StatusOr<std::string> path = OpenFirstLibrary(
      candidates,
      [&n](void* handle, std::string& missing) {
        ResolveSymbol(handle, "ncclGetVersion", n.GetVersion, missing);
        ResolveSymbol(handle, "ncclGetErrorString", n.GetErrorString, missing);
        ResolveSymbol(handle, "ncclGetLastError", n.GetLastError, missing);
        ResolveSymbol(handle, "ncclGetUniqueId", n.GetUniqueId, missing);
        ResolveSymbol(handle, "ncclCommInitRankConfig", n.CommInitRankConfig, missing);
        ResolveSymbol(handle, "ncclCommGetAsyncError", n.CommGetAsyncError, missing);
        ResolveSymbol(handle, "ncclCommAbort", n.CommAbort, missing);
        ResolveSymbol(handle, "ncclCommDestroy", n.CommDestroy, missing);
        ResolveSymbol(handle, "ncclAllReduce", n.AllReduce, missing);
        ResolveSymbol(handle, "ncclAllGather", n.AllGather, missing);
        ResolveSymbol(handle, "ncclReduceScatter", n.ReduceScatter, missing);
        ResolveSymbol(handle, "ncclSend", n.Send, missing);
        ResolveSymbol(handle, "ncclRecv", n.Recv, missing);
        ResolveSymbol(handle, "ncclGroupStart", n.GroupStart, missing);
        ResolveSymbol(handle, "ncclGroupEnd", n.GroupEnd, missing);
      },
      absl::StrCat("cannot load NCCL (", kLibrary,
                   "; PyTorch's nvidia-nccl wheel has it; set FERRY_CUDA_LIB_DIR to the "
                   "directory that holds it)"));
  if (!path.ok()) return path.status();
  n.path = *path;
  return n;
}

absl::StatusOr<const Nccl*> LoadNccl() {
  static const absl::StatusOr<Nccl>* const loaded =
      new absl::StatusOr<Nccl>(LoadNcclFrom(NcclCandidates()));
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

}  // namespace ferry::kernels::cuda
