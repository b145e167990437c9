// cuBLASLt products (gemm.h). cuBLASLt is column-major: the row-major C = A B is computed
// as C^T = B^T A^T, i.e. with B as the left operand.

#include "kernels/cuda/gemm.h"

#include <algorithm>
#include <climits>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kernels/cuda/cublas_loader.h"

namespace ferry::kernels::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

absl::Status CheckLt(const char* what, cublasStatus_t status) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("cuBLASLt ", what, " failed with status ", static_cast<int>(status)));
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
    // The byte alignment every A, B and C pointer of the calls has (cuBLASLt assumes 256
    // unless told, and batches, groups or leading indices may step by less).
    uint32_t a_align, b_align, c_align;
    size_t workspace_bytes;

    auto Tie() const {
      return std::tie(device, dtype, tf32, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.a_transposed,
                      g.b_transposed, g.batch, g.a_stride, g.b_stride, g.c_stride, a_align, b_align,
                      c_align, workspace_bytes);
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
    // Column-major view: left = B^T (n x k; stored k x n when B is transposed, then read
    // transposed), right = A^T (k x m; stored m x k when A is transposed), C^T (n x m).
    if (g.b_transposed) {
      const int32_t transpose = CUBLAS_OP_T;
      s = CheckLt("transpose", lt_.MatmulDescSetAttribute(d_.op, CUBLASLT_MATMUL_DESC_TRANSA,
                                                          &transpose, sizeof(transpose)));
      if (s.ok()) s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.a, data, g.k, g.n, g.ldb));
    } else {
      s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.a, data, g.n, g.k, g.ldb));
    }
    if (s.ok() && g.a_transposed) {
      const int32_t transpose = CUBLAS_OP_T;
      s = CheckLt("transpose", lt_.MatmulDescSetAttribute(d_.op, CUBLASLT_MATMUL_DESC_TRANSB,
                                                          &transpose, sizeof(transpose)));
      if (s.ok()) s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.b, data, g.m, g.k, g.lda));
    } else if (s.ok()) {
      s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.b, data, g.k, g.m, g.lda));
    }
    if (s.ok()) s = CheckLt("layout", lt_.MatrixLayoutCreate(&d_.c, data, g.n, g.m, g.ldc));
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
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.b_align},  // Lt's A is our B
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.a_align},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.c_align},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.c_align},
    };
    for (const auto& [attribute, bytes] : alignments) {
      if (s.ok()) {
        s = CheckLt("preference", lt_.MatmulPreferenceSetAttribute(d_.preference, attribute, &bytes,
                                                                   sizeof(bytes)));
      }
    }
    if (!s.ok()) return s;
    int found = 0;
    const cublasStatus_t heuristic = lt_.MatmulAlgoGetHeuristic(
        handle_, d_.op, d_.a, d_.b, d_.c, d_.c, d_.preference, 1, &algo_, &found);
    if (heuristic == CUBLAS_STATUS_NOT_SUPPORTED ||
        (heuristic == CUBLAS_STATUS_SUCCESS && found == 0)) {
      return absl::UnimplementedError(
          absl::StrCat("cuBLASLt has no algorithm for ", g.m, "x", g.k, " @ ", g.k, "x", g.n,
                       " in ", core::DTypeName(key.dtype), " (leading dimensions ", g.lda, ", ",
                       g.ldb, ", ", g.ldc, g.a_transposed ? ", left operand transposed" : "",
                       g.b_transposed ? ", right operand transposed)" : ")"));
    }
    s = CheckLt("heuristic", heuristic);
    if (!s.ok()) return s;
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

// The alignment of A, B and C over every call and batch entry.
void SetAlignments(const Gemm& g, size_t size, absl::Span<const GemmOperands> calls,
                   MatmulPlan::Key& key) {
  key.a_align = key.b_align = key.c_align = 256;
  for (const GemmOperands& call : calls) {
    key.a_align = std::min(key.a_align, AlignmentOf(reinterpret_cast<uintptr_t>(call.a)));
    key.b_align = std::min(key.b_align, AlignmentOf(reinterpret_cast<uintptr_t>(call.b)));
    key.c_align = std::min(key.c_align, AlignmentOf(reinterpret_cast<uintptr_t>(call.c)));
  }
  if (g.batch > 1) {
    key.a_align = std::min(key.a_align, AlignmentOf(g.a_stride * size));
    key.b_align = std::min(key.b_align, AlignmentOf(g.b_stride * size));
    key.c_align = std::min(key.c_align, AlignmentOf(g.c_stride * size));
  }
}

}  // namespace

absl::Status RunGemms(Context& ctx, const std::string& op, core::DType dtype, const Gemm& gemm,
                      absl::Span<const GemmOperands> calls) {
  auto named = [&op](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("[", op, "] ", s.message()));
  };
  for (int64_t extent : {gemm.m, gemm.n, gemm.k, gemm.lda, gemm.ldb, gemm.ldc}) {
    if (extent > INT_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("[", op, "] a ", gemm.m, "x", gemm.k, " @ ", gemm.k, "x", gemm.n,
                       " product has an extent past what cuBLAS can index"));
    }
  }
  if (calls.empty()) return absl::OkStatus();
  absl::StatusOr<const CublasLt*> lt = LoadCublasLt();
  if (!lt.ok()) return lt.status();
  absl::StatusOr<cublasLtHandle_t> handle = Handle(**lt);
  if (!handle.ok()) return named(handle.status());
  absl::StatusOr<void*> workspace = ctx.Workspace(op, kWorkspaceBytes);
  MatmulPlan::Key key{0, dtype, ctx.allow_tf32() && dtype == core::DType::kFloat32, gemm};
  key.workspace_bytes = workspace.ok() ? kWorkspaceBytes : 0;  // none: fewer algorithms
  cudaGetDevice(&key.device);
  SetAlignments(gemm, core::SizeOf(dtype), calls, key);
  absl::StatusOr<std::shared_ptr<const MatmulPlan>> plan = PlanFor(**lt, *handle, key);
  if (!plan.ok()) return named(plan.status());
  for (const GemmOperands& call : calls) {
    absl::Status ran =
        (*plan)->Run(call.a, call.b, call.c, workspace.ok() ? *workspace : nullptr, ctx.stream());
    if (!ran.ok()) return named(ran);
  }
  return absl::OkStatus();
}

void ForgetCublasLtHandles() {
  // Not destroyed: their context is gone with the reset, and each holds little host memory.
  {
    absl::MutexLock lock(&plans_mu);
    Plans().clear();
  }
  absl::MutexLock lock(&handles_mu);
  Handles().clear();
}

}  // namespace ferry::kernels::cuda
