// matmul through cuBLASLt (loaded on first use, see cublas_loader.h), with NumPy's rules as
// kernels/cpu/matmul.cc: 1-D operands promoted, batch dims broadcast. float32 computes in
// float32 (TF32 tensor cores only when the backend allows them), float16 and bfloat16 in
// float32 with 16-bit operands, float64 in float64. Mixed dtypes are converted to the
// output's first. A batch whose operands each step evenly (or not at all) is one strided
// batched call; any other broadcast is one call per leading index.
//
// cuBLASLt is column-major: the row-major C = A B is computed as C^T = B^T A^T, i.e. with
// B as the left operand, no transposes.

#include <algorithm>
#include <climits>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/kernels.h"

namespace ferry::kernels::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

absl::Status CheckLt(const char* what, cublasStatus_t status) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("[matmul] cuBLASLt ", what, " failed with status ", static_cast<int>(status)));
}

// One cuBLASLt handle per device, created on first use (and again after a reset).
ABSL_CONST_INIT absl::Mutex handles_mu(absl::kConstInit);
absl::flat_hash_map<int, cublasLtHandle_t>& Handles() ABSL_EXCLUSIVE_LOCKS_REQUIRED(handles_mu) {
  static auto* handles = new absl::flat_hash_map<int, cublasLtHandle_t>;
  return *handles;
}

absl::StatusOr<cublasLtHandle_t> Handle(const CublasLt& lt) {
  int device = 0;
  cudaGetDevice(&device);
  absl::MutexLock lock(&handles_mu);
  auto it = Handles().find(device);
  if (it != Handles().end()) return it->second;
  cublasLtHandle_t handle = nullptr;
  absl::Status created = CheckLt("create", lt.Create(&handle));
  if (!created.ok()) return created;
  Handles()[device] = handle;
  return handle;
}

// The descriptors of one problem shape, destroyed together.
struct Descriptors {
  const CublasLt& lt;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  explicit Descriptors(const CublasLt& l) : lt(l) {}
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  ~Descriptors() {
    if (preference != nullptr) lt.MatmulPreferenceDestroy(preference);
    if (c != nullptr) lt.MatrixLayoutDestroy(c);
    if (b != nullptr) lt.MatrixLayoutDestroy(b);
    if (a != nullptr) lt.MatrixLayoutDestroy(a);
    if (op != nullptr) lt.MatmulDescDestroy(op);
  }
};

absl::Status SetBatch(const CublasLt& lt, cublasLtMatrixLayout_t layout, int32_t count,
                      int64_t stride) {
  absl::Status s = CheckLt("set batch count",
                           lt.MatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &count, sizeof(count)));
  if (!s.ok()) return s;
  return CheckLt("set batch stride",
                 lt.MatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                             &stride, sizeof(stride)));
}

// C (m x n) = A (m x k) B (k x n), row-major, `batch` times with element strides between
// consecutive products (0: the operand is shared).
struct Gemm {
  int64_t m, n, k;
  int32_t batch;
  int64_t a_stride, b_stride, c_stride;
  // The byte alignment every A, B and C matrix pointer of the call has (cuBLASLt assumes
  // 256 unless told, and batches or leading indices may step by less).
  uint32_t a_align = 256, b_align = 256, c_align = 256;
};

// The largest power of two, at most 256, that divides `bytes` (0 divides by anything).
uint32_t AlignmentOf(uint64_t bytes) {
  if (bytes == 0) return 256;
  const uint64_t lowest = bytes & (~bytes + 1);
  return static_cast<uint32_t>(lowest < 256 ? lowest : 256);
}

// A prepared problem: its descriptors and the algorithm cuBLASLt's heuristic chose. The
// heuristic costs tens of microseconds, as long as a small product itself, so plans are
// kept per problem (MatmulPlans) and shared by every stream; cuBLASLt only reads them.
class MatmulPlan {
 public:
  // What selects a plan: the device, the dtype and TF32, the problem, the workspace.
  struct Key {
    int device;
    core::DType dtype;
    bool tf32;
    Gemm g;
    size_t workspace_bytes;

    auto Tie() const {
      return std::tie(device, dtype, tf32, g.m, g.n, g.k, g.batch, g.a_stride, g.b_stride,
                      g.c_stride, g.a_align, g.b_align, g.c_align, workspace_bytes);
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.Tie());
    }
    friend bool operator==(const Key& x, const Key& y) { return x.Tie() == y.Tie(); }
  };

  MatmulPlan(const CublasLt& lt, cublasLtHandle_t handle) : lt_(lt), handle_(handle), d_(lt) {}

  absl::Status Prepare(const Key& key) {
    const Gemm& g = key.g;
    cudaDataType_t data = CUDA_R_32F;
    cublasComputeType_t compute = key.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cudaDataType_t scale = CUDA_R_32F;
    switch (key.dtype) {
      case core::DType::kFloat16:
        data = CUDA_R_16F;
        compute = CUBLAS_COMPUTE_32F;
        break;
      case core::DType::kBFloat16:
        data = CUDA_R_16BF;
        compute = CUBLAS_COMPUTE_32F;
        break;
      case core::DType::kFloat64:
        data = CUDA_R_64F;
        compute = CUBLAS_COMPUTE_64F;
        scale = CUDA_R_64F;
        break;
      default:
        break;
    }
    double_scale_ = scale == CUDA_R_64F;
    workspace_bytes_ = key.workspace_bytes;
    absl::Status s = CheckLt("create op", lt_.MatmulDescCreate(&d_.op, compute, scale));
    if (!s.ok()) return s;
    // Column-major view: left = B^T (n x k, ld n), right = A^T (k x m, ld k), C^T (n x m).
    s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.a, data, g.n, g.k, g.n));
    if (s.ok()) s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.b, data, g.k, g.m, g.k));
    if (s.ok()) s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.c, data, g.n, g.m, g.n));
    if (s.ok() && g.batch > 1) {
      s = SetBatch(lt_, d_.a, g.batch, g.b_stride);
      if (s.ok()) s = SetBatch(lt_, d_.b, g.batch, g.a_stride);
      if (s.ok()) s = SetBatch(lt_, d_.c, g.batch, g.c_stride);
    }
    if (!s.ok()) return s;
    s = CheckLt("preference", lt_.MatmulPreferenceCreate(&d_.preference));
    if (s.ok()) {
      s = CheckLt("preference", lt_.MatmulPreferenceSetAttribute(
                                    d_.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                    &workspace_bytes_, sizeof(workspace_bytes_)));
    }
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, g.b_align},  // Lt's A is our B
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, g.a_align},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g.c_align},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g.c_align},
    };
    for (const auto& [attribute, bytes] : alignments) {
      if (s.ok()) {
        s = CheckLt("preference", lt_.MatmulPreferenceSetAttribute(d_.preference, attribute, &bytes,
                                                                   sizeof(bytes)));
      }
    }
    if (!s.ok()) return s;
    int found = 0;
    s = CheckLt("heuristic", lt_.MatmulAlgoGetHeuristic(handle_, d_.op, d_.a, d_.b, d_.c, d_.c,
                                                        d_.preference, 1, &algo_, &found));
    if (!s.ok()) return s;
    if (found == 0) {
      return absl::InternalError(absl::StrCat("[matmul] cuBLASLt has no algorithm for ", g.m, "x",
                                              g.k, " @ ", g.k, "x", g.n, " in ",
                                              core::DTypeName(key.dtype)));
    }
    return absl::OkStatus();
  }

  // C = A B on `stream`; `workspace` holds the key's workspace_bytes.
  absl::Status Run(const void* a, const void* b, void* c, void* workspace,
                   cudaStream_t stream) const {
    const float one_f = 1, zero_f = 0;
    const double one_d = 1, zero_d = 0;
    const void* alpha = double_scale_ ? static_cast<const void*>(&one_d) : &one_f;
    const void* beta = double_scale_ ? static_cast<const void*>(&zero_d) : &zero_f;
    return CheckLt("matmul", lt_.Matmul(handle_, d_.op, alpha, b, d_.a, a, d_.b, beta, c, d_.c, c,
                                        d_.c, &algo_.algo, workspace, workspace_bytes_, stream));
  }

 private:
  const CublasLt& lt_;
  cublasLtHandle_t handle_;
  Descriptors d_;
  cublasLtMatmulHeuristicResult_t algo_ = {};
  size_t workspace_bytes_ = 0;
  bool double_scale_ = false;
};

// The plans made so far; emptied when full (a workload has few shapes) and on a device
// reset, whose handles the plans name.
constexpr size_t kMaxPlans = 1024;
ABSL_CONST_INIT absl::Mutex plans_mu(absl::kConstInit);
absl::flat_hash_map<MatmulPlan::Key, std::shared_ptr<const MatmulPlan>>& Plans()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(plans_mu) {
  static auto* plans = new absl::flat_hash_map<MatmulPlan::Key, std::shared_ptr<const MatmulPlan>>;
  return *plans;
}

absl::StatusOr<std::shared_ptr<const MatmulPlan>> PlanFor(const CublasLt& lt,
                                                          cublasLtHandle_t handle,
                                                          const MatmulPlan::Key& key) {
  {
    absl::MutexLock lock(&plans_mu);
    auto it = Plans().find(key);
    if (it != Plans().end()) return it->second;
  }
  auto plan = std::make_shared<MatmulPlan>(lt, handle);
  if (absl::Status prepared = plan->Prepare(key); !prepared.ok()) return prepared;
  absl::MutexLock lock(&plans_mu);
  if (Plans().size() >= kMaxPlans) Plans().clear();
  return Plans().try_emplace(key, std::move(plan)).first->second;
}

absl::Status Matmul(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  if (!core::IsFloating(out.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("[matmul] needs a floating dtype, not ", core::DTypeName(out.dtype())));
  }
  absl::StatusOr<cpu::MatmulDims> dims = cpu::GetMatmulDims(a.shape(), b.shape());
  if (!dims.ok()) return dims.status();
  const int64_t m = dims->m, n = dims->n, k = dims->k;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX) {
    return absl::InvalidArgumentError("[matmul] a dimension exceeds what cuBLAS can index");
  }
  if (out.size() == 0) return absl::OkStatus();
  if (k == 0) {
    return CheckCuda("matmul", "zero fill",
                     cudaMemsetAsync(out.raw(), 0, out.nbytes(), ctx.stream()));
  }
  absl::StatusOr<const CublasLt*> lt = LoadCublasLt();
  if (!lt.ok()) return lt.status();
  absl::StatusOr<cublasLtHandle_t> handle = Handle(**lt);
  if (!handle.ok()) return handle.status();
  absl::StatusOr<const void*> a_data = ctx.ElementsAs("matmul", a, out.dtype());
  if (!a_data.ok()) return a_data.status();
  absl::StatusOr<const void*> b_data = ctx.ElementsAs("matmul", b, out.dtype());
  if (!b_data.ok()) return b_data.status();

  // Batch strides in matrices, merged where possible; the last dim becomes the strided
  // batch, the others are walked here.
  absl::StatusOr<Indexer> ix = MakeIndexer(
      "matmul", dims->batch,
      {core::ContiguousStrides(dims->batch), cpu::BroadcastStrides(dims->a_batch, dims->batch),
       cpu::BroadcastStrides(dims->b_batch, dims->batch)});
  if (!ix.ok()) return ix.status();
  Gemm g{m, n, k, 1, 0, 0, 0};
  int64_t outer = 1;
  if (ix->rank > 0) {
    const int last = ix->rank - 1;
    if (ix->shape[last] > INT32_MAX) {
      return absl::InvalidArgumentError("[matmul] the batch exceeds what cuBLAS can index");
    }
    g.batch = static_cast<int32_t>(ix->shape[last]);
    g.c_stride = ix->strides[0][last] * m * n;
    g.a_stride = ix->strides[1][last] * m * k;
    g.b_stride = ix->strides[2][last] * k * n;
    for (int d = 0; d < last; ++d) outer *= ix->shape[d];
  }
  const size_t size = core::SizeOf(out.dtype());
  g.a_align = AlignmentOf(reinterpret_cast<uintptr_t>(*a_data));
  g.b_align = AlignmentOf(reinterpret_cast<uintptr_t>(*b_data));
  g.c_align = AlignmentOf(reinterpret_cast<uintptr_t>(out.raw()));
  for (int d = 0; d < ix->rank; ++d) {
    g.c_align = std::min(g.c_align, AlignmentOf(ix->strides[0][d] * m * n * size));
    g.a_align = std::min(g.a_align, AlignmentOf(ix->strides[1][d] * m * k * size));
    g.b_align = std::min(g.b_align, AlignmentOf(ix->strides[2][d] * k * n * size));
  }
  absl::StatusOr<void*> workspace = ctx.Scratch("matmul", kWorkspaceBytes);
  MatmulPlan::Key key{0, out.dtype(), ctx.allow_tf32() && out.dtype() == core::DType::kFloat32, g,
                      workspace.ok() ? kWorkspaceBytes : 0};  // no workspace: fewer algorithms
  cudaGetDevice(&key.device);
  absl::StatusOr<std::shared_ptr<const MatmulPlan>> plan = PlanFor(**lt, *handle, key);
  if (!plan.ok()) return plan.status();
  const auto* a_bytes = static_cast<const char*>(*a_data);
  const auto* b_bytes = static_cast<const char*>(*b_data);
  auto* c_bytes = static_cast<char*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    // Offsets of the o-th leading index (all dims but the last of the indexer).
    int64_t rest = o, a_off = 0, b_off = 0, c_off = 0;
    for (int d = ix->rank - 2; d >= 0; --d) {
      const int64_t i = rest % ix->shape[d];
      rest /= ix->shape[d];
      c_off += i * ix->strides[0][d] * m * n;
      a_off += i * ix->strides[1][d] * m * k;
      b_off += i * ix->strides[2][d] * k * n;
    }
    absl::Status ran =
        (*plan)->Run(a_bytes + a_off * size, b_bytes + b_off * size, c_bytes + c_off * size,
                     workspace.ok() ? *workspace : nullptr, ctx.stream());
    if (!ran.ok()) return ran;
  }
  return absl::OkStatus();
}

}  // namespace

void ForgetCublasLtHandles() {
  // Not destroyed: their context is gone with the reset, and each holds little host memory.
  {
    absl::MutexLock lock(&plans_mu);
    Plans().clear();
  }
  absl::MutexLock lock(&handles_mu);
  Handles().clear();
}

void RegisterMatmulKernels(KernelTable& table) { table["matmul"] = &Matmul; }

}  // namespace ferry::kernels::cuda
