#include "kernels/cuda/cublas_loader.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/library_loader.h"

namespace ferry::kernels::cuda {
namespace {

constexpr char kLibrary[] = "libcublasLt.so.13";
constexpr char kCublasLibrary[] = "libcublas.so.13";

}  // namespace

std::vector<std::string> CublasLtCandidates() { return LibraryCandidates(kLibrary); }

absl::StatusOr<CublasLt> LoadCublasLtFrom(const std::vector<std::string>& candidates) {
  CublasLt lt;
  absl::StatusOr<std::string> path = OpenFirstLibrary(
      candidates,
      [&lt](void* handle, std::string& missing) {
        ResolveSymbol(handle, "cublasLtCreate", lt.Create, missing);
        ResolveSymbol(handle, "cublasLtDestroy", lt.Destroy, missing);
        ResolveSymbol(handle, "cublasLtGetVersion", lt.GetVersion, missing);
        ResolveSymbol(handle, "cublasLtMatmulDescCreate", lt.MatmulDescCreate, missing);
        ResolveSymbol(handle, "cublasLtMatmulDescDestroy", lt.MatmulDescDestroy, missing);
        ResolveSymbol(handle, "cublasLtMatmulDescSetAttribute", lt.MatmulDescSetAttribute, missing);
        ResolveSymbol(handle, "cublasLtMatrixLayoutCreate", lt.MatrixLayoutCreate, missing);
        ResolveSymbol(handle, "cublasLtMatrixLayoutDestroy", lt.MatrixLayoutDestroy, missing);
        ResolveSymbol(handle, "cublasLtMatrixLayoutSetAttribute", lt.MatrixLayoutSetAttribute,
                      missing);
        ResolveSymbol(handle, "cublasLtMatmulPreferenceCreate", lt.MatmulPreferenceCreate, missing);
        ResolveSymbol(handle, "cublasLtMatmulPreferenceDestroy", lt.MatmulPreferenceDestroy,
                      missing);
        ResolveSymbol(handle, "cublasLtMatmulPreferenceSetAttribute",
                      lt.MatmulPreferenceSetAttribute, missing);
        ResolveSymbol(handle, "cublasLtMatmulAlgoGetHeuristic", lt.MatmulAlgoGetHeuristic, missing);
        ResolveSymbol(handle, "cublasLtMatmul", lt.Matmul, missing);
      },
      absl::StrCat("[matmul] cannot load cuBLASLt (", kLibrary,
                   "; set FERRY_CUDA_LIB_DIR to the directory that holds it)"));
  if (!path.ok()) return path.status();
  lt.path = *path;
  return lt;
}

absl::StatusOr<const CublasLt*> LoadCublasLt() {
  static const absl::StatusOr<CublasLt>* const loaded =
      new absl::StatusOr<CublasLt>(LoadCublasLtFrom(CublasLtCandidates()));
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

std::vector<std::string> CublasCandidates() { return LibraryCandidates(kCublasLibrary); }

absl::StatusOr<Cublas> LoadCublasFrom(const std::vector<std::string>& candidates) {
  Cublas blas;
  absl::StatusOr<std::string> path = OpenFirstLibrary(
      candidates,
      [&blas](void* handle, std::string& missing) {
        ResolveSymbol(handle, "cublasCreate_v2", blas.Create, missing);
        ResolveSymbol(handle, "cublasDestroy_v2", blas.Destroy, missing);
        ResolveSymbol(handle, "cublasSetStream_v2", blas.SetStream, missing);
        ResolveSymbol(handle, "cublasSgetrfBatched", blas.SgetrfBatched, missing);
        ResolveSymbol(handle, "cublasDgetrfBatched", blas.DgetrfBatched, missing);
        ResolveSymbol(handle, "cublasSgetrsBatched", blas.SgetrsBatched, missing);
        ResolveSymbol(handle, "cublasDgetrsBatched", blas.DgetrsBatched, missing);
      },
      absl::StrCat("cannot load cuBLAS (", kCublasLibrary,
                   ", which needs libcublasLt.so.13 on the loader's path or beside it; set "
                   "FERRY_CUDA_LIB_DIR to the directory that holds it)"));
  if (!path.ok()) return path.status();
  blas.path = *path;
  return blas;
}

absl::StatusOr<const Cublas*> LoadCublas() {
  static const absl::StatusOr<Cublas>* const loaded =
      new absl::StatusOr<Cublas>(LoadCublasFrom(CublasCandidates()));
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

}  // namespace ferry::kernels::cuda
