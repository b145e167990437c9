#include "kernels/cuda/cusolver_loader.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/library_loader.h"

namespace ferry::kernels::cuda {
namespace {

constexpr char kLibrary[] = "libcusolver.so.12";

}  // namespace

std::vector<std::string> CusolverCandidates() { return LibraryCandidates(kLibrary); }

absl::StatusOr<Cusolver> LoadCusolverFrom(const std::vector<std::string>& candidates) {
  Cusolver s;
  absl::StatusOr<std::string> path = OpenFirstLibrary(
      candidates,
      [&s](void* handle, std::string& missing) {
        ResolveSymbol(handle, "cusolverDnCreate", s.Create, missing);
        ResolveSymbol(handle, "cusolverDnDestroy", s.Destroy, missing);
        ResolveSymbol(handle, "cusolverDnSetStream", s.SetStream, missing);
        ResolveSymbol(handle, "cusolverDnSpotrf_bufferSize", s.SpotrfBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnDpotrf_bufferSize", s.DpotrfBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnSpotrf", s.Spotrf, missing);
        ResolveSymbol(handle, "cusolverDnDpotrf", s.Dpotrf, missing);
        ResolveSymbol(handle, "cusolverDnSgetrf_bufferSize", s.SgetrfBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnDgetrf_bufferSize", s.DgetrfBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnSgetrf", s.Sgetrf, missing);
        ResolveSymbol(handle, "cusolverDnDgetrf", s.Dgetrf, missing);
        ResolveSymbol(handle, "cusolverDnSgetrs", s.Sgetrs, missing);
        ResolveSymbol(handle, "cusolverDnDgetrs", s.Dgetrs, missing);
        ResolveSymbol(handle, "cusolverDnSgeqrf_bufferSize", s.SgeqrfBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnDgeqrf_bufferSize", s.DgeqrfBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnSgeqrf", s.Sgeqrf, missing);
        ResolveSymbol(handle, "cusolverDnDgeqrf", s.Dgeqrf, missing);
        ResolveSymbol(handle, "cusolverDnSorgqr_bufferSize", s.SorgqrBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnDorgqr_bufferSize", s.DorgqrBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnSorgqr", s.Sorgqr, missing);
        ResolveSymbol(handle, "cusolverDnDorgqr", s.Dorgqr, missing);
        ResolveSymbol(handle, "cusolverDnSgesvd_bufferSize", s.SgesvdBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnDgesvd_bufferSize", s.DgesvdBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnSgesvd", s.Sgesvd, missing);
        ResolveSymbol(handle, "cusolverDnDgesvd", s.Dgesvd, missing);
        ResolveSymbol(handle, "cusolverDnSsyevd_bufferSize", s.SsyevdBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnDsyevd_bufferSize", s.DsyevdBufferSize, missing);
        ResolveSymbol(handle, "cusolverDnSsyevd", s.Ssyevd, missing);
        ResolveSymbol(handle, "cusolverDnDsyevd", s.Dsyevd, missing);
        ResolveSymbol(handle, "cusolverDnSpotrfBatched", s.SpotrfBatched, missing);
        ResolveSymbol(handle, "cusolverDnDpotrfBatched", s.DpotrfBatched, missing);
        ResolveSymbol(handle, "cusolverDnCreateSyevjInfo", s.CreateSyevjInfo, missing);
        ResolveSymbol(handle, "cusolverDnDestroySyevjInfo", s.DestroySyevjInfo, missing);
        ResolveSymbol(handle, "cusolverDnXsyevjSetSortEig", s.XsyevjSetSortEig, missing);
        ResolveSymbol(handle, "cusolverDnSsyevjBatched_bufferSize", s.SsyevjBatchedBufferSize,
                      missing);
        ResolveSymbol(handle, "cusolverDnDsyevjBatched_bufferSize", s.DsyevjBatchedBufferSize,
                      missing);
        ResolveSymbol(handle, "cusolverDnSsyevjBatched", s.SsyevjBatched, missing);
        ResolveSymbol(handle, "cusolverDnDsyevjBatched", s.DsyevjBatched, missing);
        ResolveSymbol(handle, "cusolverDnCreateGesvdjInfo", s.CreateGesvdjInfo, missing);
        ResolveSymbol(handle, "cusolverDnDestroyGesvdjInfo", s.DestroyGesvdjInfo, missing);
        ResolveSymbol(handle, "cusolverDnXgesvdjSetSortEig", s.XgesvdjSetSortEig, missing);
        ResolveSymbol(handle, "cusolverDnSgesvdjBatched_bufferSize", s.SgesvdjBatchedBufferSize,
                      missing);
        ResolveSymbol(handle, "cusolverDnDgesvdjBatched_bufferSize", s.DgesvdjBatchedBufferSize,
                      missing);
        ResolveSymbol(handle, "cusolverDnSgesvdjBatched", s.SgesvdjBatched, missing);
        ResolveSymbol(handle, "cusolverDnDgesvdjBatched", s.DgesvdjBatched, missing);
      },
      absl::StrCat("cannot load cuSOLVER (", kLibrary,
                   ", which needs libcublas.so.13, libcublasLt.so.13, libcusparse.so.12 and "
                   "libnvJitLink.so.13 on the loader's path or beside it; set "
                   "FERRY_CUDA_LIB_DIR to the directory that holds it)"));
  if (!path.ok()) return path.status();
  s.path = *path;
  return s;
}

absl::StatusOr<const Cusolver*> LoadCusolver() {
  static const absl::StatusOr<Cusolver>* const loaded =
      new absl::StatusOr<Cusolver>(LoadCusolverFrom(CusolverCandidates()));
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

}  // namespace ferry::kernels::cuda
