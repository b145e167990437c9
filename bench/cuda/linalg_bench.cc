// The linear algebra ops through the CUDA backend against the cuSOLVER (or cuBLAS) routine
// each calls, called directly on the same float32 matrices (copied first, as both overwrite
// them): the ratio is what ferry adds (row-major transposes, the packing, the devInfo
// read-back); for qr of a batch, which runs in ferry's own kernel, against cuBLAS's batched
// QR. Prints RESULT and RATIO lines; SKIP without a GPU.

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>
#include <dlfcn.h>

#include <algorithm>
#include <functional>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cusolver_loader.h"

namespace ferry::bench {
namespace {

using kernels::cuda::Cusolver;

void CheckSolver(cusolverStatus_t status, const char* what) {
  if (status != CUSOLVER_STATUS_SUCCESS) {
    Check(absl::InternalError(absl::StrCat("cuSOLVER ", what, " failed: ", status)));
  }
}

// `count` n x n symmetric positive definite float32 matrices on the device (shape (n, n)
// when count is 0): n I plus noise.
kernels::Tensor SpdMatrices(kernels::Backend& backend, int64_t count, int64_t n) {
  std::vector<float> host(static_cast<size_t>(std::max<int64_t>(count, 1) * n * n));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> noise(-1, 1);
  for (size_t at = 0; at < host.size(); at += static_cast<size_t>(n * n)) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        host[at + i * n + j] = host[at + j * n + i] =
            noise(rng) + (i == j ? static_cast<float>(n) : 0.0f);
      }
    }
  }
  core::Shape shape = {n, n};
  if (count > 0) shape.insert(shape.begin(), count);
  absl::StatusOr<kernels::Tensor> a = backend.Allocate({core::DType::kFloat32, shape});
  Check(a.status());
  cudaMemcpy(a->raw(), host.data(), a->nbytes(), cudaMemcpyHostToDevice);
  return *a;
}

// Device scratch of `bytes`, freed at exit (a benchmark runs once).
template <typename T>
T* Scratch(int64_t count) {
  void* p = nullptr;
  cudaMalloc(&p, static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T));
  return static_cast<T*>(p);
}

// The device array of the addresses of `count` matrices `stride` floats apart, which the
// batched calls take, made again when the matrices move.
struct MatrixPointers {
  MatrixPointers(int count, int64_t stride)
      : count(count), stride(stride), device(Scratch<float*>(count)) {}
  void PointInto(float* base) {
    if (base == pointed) return;
    std::vector<float*> host(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) host[i] = base + i * stride;
    cudaMemcpy(device, host.data(), host.size() * sizeof(float*), cudaMemcpyHostToDevice);
    pointed = base;
  }
  int count;
  int64_t stride;
  float** device;
  float* pointed = nullptr;
};

// Runs `op` of `a` through the backend, then, where the library loaded (`direct_loaded`),
// `direct` (the library's routine on a copy of a), both as GFLOP/s of `flops`.
void Bench(kernels::Backend& backend, bool direct_loaded, const std::string& op,
           const core::Attrs& attrs, const kernels::Tensor& a, double flops,
           const std::function<void(float* copy)>& direct, const std::string& library = "cusolver",
           const std::vector<kernels::Tensor>& more = {}) {
  std::vector<kernels::Tensor> inputs = {a};
  inputs.insert(inputs.end(), more.begin(), more.end());
  std::vector<core::TensorType> types;
  core::Node node{op, {}, attrs, {}};
  for (const kernels::Tensor& input : inputs) {
    node.inputs.push_back(static_cast<int>(types.size()));
    types.push_back(input.type);
  }
  absl::StatusOr<core::TensorType> type = core::InferOp(op, types, attrs);
  Check(type.status());
  node.out = *type;
  absl::StatusOr<kernels::Tensor> out = backend.Allocate(*type);
  Check(out.status());
  // linalg_OP_float32_N, or _BATCHxN for a batch.
  const std::string name =
      a.shape().size() == 2
          ? absl::StrCat("linalg_", op, "_float32_", a.shape()[0])
          : absl::StrCat("linalg_", op, "_float32_", a.shape()[0], "x", a.shape()[1]);
  const double ferry = Tflops(
      name, flops, [&] { Check(backend.Run(node, inputs, *out)); },
      [&] { Check(backend.Synchronize()); });
  if (!direct_loaded) return;
  float* copy = Scratch<float>(a.size());
  const double baseline = Tflops(
      absl::StrCat(name, "_", library), flops,
      [&] {
        cudaMemcpyAsync(copy, a.raw(), a.nbytes(), cudaMemcpyDeviceToDevice, nullptr);
        direct(copy);
      },
      [] { cudaDeviceSynchronize(); });
  Ratio(absl::StrCat(name, "_vs_", library), ferry, baseline);
  cudaFree(copy);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  using ferry::bench::Scratch;
  ferry::bench::ParseFlags(argc, argv);
  std::unique_ptr<ferry::kernels::Backend> backend = ferry::bench::CudaBackendOrSkip(false);
  absl::StatusOr<const ferry::kernels::cuda::Cusolver*> loaded =
      ferry::kernels::cuda::LoadCusolver();
  const ferry::kernels::cuda::Cusolver* api = loaded.ok() ? *loaded : nullptr;
  if (api == nullptr)
    std::printf("NOTE no direct cuSOLVER: %s\n", loaded.status().ToString().c_str());
  cusolverDnHandle_t handle = nullptr;
  if (api != nullptr) ferry::bench::CheckSolver(api->Create(&handle), "create");
  const bool quick = ferry::bench::Quick();
  const int big = quick ? 64 : 4096, small = quick ? 48 : 1024;
  int* info = Scratch<int>(1);
  const ferry::kernels::Tensor a = ferry::bench::SpdMatrices(*backend, 0, big);
  const ferry::kernels::Tensor b = ferry::bench::SpdMatrices(*backend, 0, small);
  const double n = big, s = small;
  auto buffer = [](int lwork) { return Scratch<float>(lwork); };

  ferry::core::Attrs lower;
  lower.Set("upper", int64_t{0});
  int lwork = 0;
  if (api != nullptr) {
    ferry::bench::CheckSolver(
        api->SpotrfBufferSize(handle, CUBLAS_FILL_MODE_UPPER, big, nullptr, big, &lwork),
        "potrf_bufferSize");
  }
  float* work = buffer(lwork);
  ferry::bench::Bench(
      *backend, api != nullptr, "cholesky", lower, a, n * n * n / 3, [&](float* copy) {
        api->Spotrf(handle, CUBLAS_FILL_MODE_UPPER, big, copy, big, work, lwork, info);
      });
  cudaFree(work);

  if (api != nullptr) {
    ferry::bench::CheckSolver(api->SgetrfBufferSize(handle, big, big, nullptr, big, &lwork),
                              "getrf_bufferSize");
  }
  work = buffer(lwork);
  int* pivots = Scratch<int>(big);
  ferry::bench::Bench(*backend, api != nullptr, "lu", {}, a, 2 * n * n * n / 3, [&](float* copy) {
    api->Sgetrf(handle, big, big, copy, big, work, pivots, info);
  });
  cudaFree(work);

  ferry::core::Attrs eigh;
  eigh.Set("upper", int64_t{0});
  eigh.Set("compute_vectors", int64_t{1});
  float* values = Scratch<float>(small);
  if (api != nullptr) {
    ferry::bench::CheckSolver(
        api->SsyevdBufferSize(handle, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, small,
                              nullptr, small, values, &lwork),
        "syevd_bufferSize");
  }
  work = buffer(lwork);
  // syevd with vectors: about 9 n^3 flops (Golub and Van Loan).
  ferry::bench::Bench(*backend, api != nullptr, "eigh", eigh, b, 9 * s * s * s, [&](float* copy) {
    api->Ssyevd(handle, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, small, copy, small,
                values, work, lwork, info);
  });
  cudaFree(work);

  ferry::core::Attrs svd;
  svd.Set("compute_uv", int64_t{1});
  if (api != nullptr) {
    ferry::bench::CheckSolver(api->SgesvdBufferSize(handle, small, small, &lwork),
                              "gesvd_bufferSize");
  }
  work = buffer(lwork);
  float* u = Scratch<float>(int64_t{small} * small);
  float* vt = Scratch<float>(int64_t{small} * small);
  float* rwork = Scratch<float>(small);
  // gesvd with both sets of vectors: about 22 n^3 flops.
  ferry::bench::Bench(*backend, api != nullptr, "svd", svd, b, 22 * s * s * s, [&](float* copy) {
    api->Sgesvd(handle, 'A', 'A', small, small, copy, small, values, u, small, vt, small, work,
                lwork, rwork, info);
  });
  cudaFree(work);

  // Many small matrices: one batched call each (cuSOLVER's potrfBatched, syevjBatched,
  // gesvdjBatched; cuBLAS's getrfBatched).
  const int batch = quick ? 64 : 16384, order = 8;
  const ferry::kernels::Tensor many = ferry::bench::SpdMatrices(*backend, batch, order);
  const double matrices = batch, o = order;
  int* infos = Scratch<int>(batch);
  ferry::bench::MatrixPointers pointers(batch, order * order);
  ferry::bench::Bench(*backend, api != nullptr, "cholesky", lower, many, matrices * o * o * o / 3,
                      [&](float* copy) {
                        pointers.PointInto(copy);
                        api->SpotrfBatched(handle, CUBLAS_FILL_MODE_UPPER, order, pointers.device,
                                           order, infos, batch);
                      });
  syevjInfo_t params = nullptr;
  float* batch_values = Scratch<float>(int64_t{batch} * order);
  if (api != nullptr) {
    ferry::bench::CheckSolver(api->CreateSyevjInfo(&params), "create syevjInfo");
    ferry::bench::CheckSolver(
        api->SsyevjBatchedBufferSize(handle, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER,
                                     order, nullptr, order, batch_values, &lwork, params, batch),
        "syevjBatched_bufferSize");
  }
  work = buffer(lwork);
  ferry::bench::Bench(
      *backend, api != nullptr, "eigh", eigh, many, matrices * 9 * o * o * o, [&](float* copy) {
        api->SsyevjBatched(handle, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, order, copy,
                           order, batch_values, work, lwork, infos, params, batch);
      });
  cudaFree(work);
  gesvdjInfo_t svd_params = nullptr;
  float* batch_u = Scratch<float>(int64_t{batch} * order * order);
  float* batch_v = Scratch<float>(int64_t{batch} * order * order);
  if (api != nullptr) {
    ferry::bench::CheckSolver(api->CreateGesvdjInfo(&svd_params), "create gesvdjInfo");
    ferry::bench::CheckSolver(
        api->SgesvdjBatchedBufferSize(handle, CUSOLVER_EIG_MODE_VECTOR, order, order, nullptr,
                                      order, batch_values, batch_u, order, batch_v, order, &lwork,
                                      svd_params, batch),
        "gesvdjBatched_bufferSize");
  }
  work = buffer(lwork);
  ferry::bench::Bench(*backend, api != nullptr, "svd", svd, many, matrices * 22 * o * o * o,
                      [&](float* copy) {
                        api->SgesvdjBatched(handle, CUSOLVER_EIG_MODE_VECTOR, order, order, copy,
                                            order, batch_values, batch_u, order, batch_v, order,
                                            work, lwork, infos, svd_params, batch);
                      });
  cudaFree(work);
  // lu of the batch through cuBLAS's getrfBatched; the baseline is that call made directly.
  absl::StatusOr<const ferry::kernels::cuda::Cublas*> blas_loaded =
      ferry::kernels::cuda::LoadCublas();
  const ferry::kernels::cuda::Cublas* blas = blas_loaded.ok() ? *blas_loaded : nullptr;
  cublasHandle_t blas_handle = nullptr;
  if (blas != nullptr) blas->Create(&blas_handle);
  int* batch_pivots = Scratch<int>(int64_t{batch} * order);
  ferry::bench::Bench(
      *backend, blas != nullptr, "lu", {}, many, matrices * 2 * o * o * o / 3,
      [&](float* copy) {
        pointers.PointInto(copy);
        blas->SgetrfBatched(blas_handle, order, pointers.device, order, batch_pivots, infos, batch);
      },
      "cublas");
  // solve of the batch (one right side each) through the same two batched calls, which the
  // baseline makes directly on copies of a and b; counted as the factorization's flops.
  absl::StatusOr<ferry::kernels::Tensor> rhs =
      backend->Allocate({ferry::core::DType::kFloat32, {batch, order, 1}});
  ferry::bench::Check(rhs.status());
  cudaMemcpy(rhs->raw(), many.raw(), rhs->nbytes(), cudaMemcpyDeviceToDevice);  // any values
  float* rhs_copy = Scratch<float>(rhs->size());
  ferry::bench::MatrixPointers solutions(batch, order);
  solutions.PointInto(rhs_copy);
  int solve_info = 0;
  ferry::bench::Bench(
      *backend, blas != nullptr, "solve", {}, many, matrices * 2 * o * o * o / 3,
      [&](float* copy) {
        cudaMemcpyAsync(rhs_copy, rhs->raw(), rhs->nbytes(), cudaMemcpyDeviceToDevice, nullptr);
        pointers.PointInto(copy);
        blas->SgetrfBatched(blas_handle, order, pointers.device, order, batch_pivots, infos, batch);
        blas->SgetrsBatched(blas_handle, CUBLAS_OP_T, order, 1, pointers.device, order,
                            batch_pivots, solutions.device, order, &solve_info, batch);
      },
      "cublas", {*rhs});
  // qr of the batch runs in ferry's own kernel (Q and R); the baseline is cuBLAS's batched
  // QR, geqrfBatched, which does about half of that work (the reflectors and R, no orgqr: Q
  // is never formed), called directly from the library ferry loaded.
  using GeqrfBatched = decltype(&cublasSgeqrfBatched);
  GeqrfBatched geqrf_batched = nullptr;
  if (blas != nullptr) {
    if (void* library = dlopen(blas->path.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
      geqrf_batched = reinterpret_cast<GeqrfBatched>(dlsym(library, "cublasSgeqrfBatched"));
    }
  }
  if (blas != nullptr && geqrf_batched == nullptr) {
    std::printf("NOTE no cublasSgeqrfBatched in %s\n", blas->path.c_str());
  }
  ferry::bench::MatrixPointers taus(batch, order);
  taus.PointInto(Scratch<float>(int64_t{batch} * order));
  int qr_info = 0;
  // geqrf and orgqr: 4/3 n^3 flops each for a square matrix.
  ferry::bench::Bench(
      *backend, geqrf_batched != nullptr, "qr", {}, many, matrices * 8 * o * o * o / 3,
      [&](float* copy) {
        pointers.PointInto(copy);
        geqrf_batched(blas_handle, order, order, pointers.device, order, taus.device, &qr_info,
                      batch);
      },
      "cublas");
  if (blas != nullptr) blas->Destroy(blas_handle);
  if (api != nullptr) {
    api->DestroySyevjInfo(params);
    api->DestroyGesvdjInfo(svd_params);
    api->Destroy(handle);
  }
  return 0;
}
