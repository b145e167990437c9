// The CPU stand-in for cuBLASLt (cublaslt.cc), called directly: products of random matrices
// in every layout it takes, against a naive row-major reference, and the problems it must
// refuse as cuBLASLt does.

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace {

template <typename T>
struct Traits;
template <>
struct Traits<float> {
  static constexpr cudaDataType_t kType = CUDA_R_32F;
  static constexpr cublasComputeType_t kCompute = CUBLAS_COMPUTE_32F;
  static constexpr double kEps = 1.2e-7;
  static float From(double v) { return static_cast<float>(v); }
  static double To(float v) { return v; }
};
template <>
struct Traits<double> {
  static constexpr cudaDataType_t kType = CUDA_R_64F;
  static constexpr cublasComputeType_t kCompute = CUBLAS_COMPUTE_64F;
  static constexpr double kEps = 2.3e-16;
  static double From(double v) { return v; }
  static double To(double v) { return v; }
};
template <>
struct Traits<__half> {
  static constexpr cudaDataType_t kType = CUDA_R_16F;
  static constexpr cublasComputeType_t kCompute = CUBLAS_COMPUTE_32F;
  static constexpr double kEps = 9.8e-4;
  static __half From(double v) { return __float2half_rn(static_cast<float>(v)); }
  static double To(__half v) { return __half2float(v); }
};
template <>
struct Traits<__nv_bfloat16> {
  static constexpr cudaDataType_t kType = CUDA_R_16BF;
  static constexpr cublasComputeType_t kCompute = CUBLAS_COMPUTE_32F;
  static constexpr double kEps = 7.9e-3;
  static __nv_bfloat16 From(double v) { return __float2bfloat16_rn(static_cast<float>(v)); }
  static double To(__nv_bfloat16 v) { return __bfloat162float(v); }
};

cublasLtMatrixLayout_t MakeLayout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld,
                                  int32_t batch = 1, int64_t stride = 0) {
  cublasLtMatrixLayout_t layout = nullptr;
  EXPECT_EQ(cublasLtMatrixLayoutCreate(&layout, type, rows, cols, ld), CUBLAS_STATUS_SUCCESS);
  if (batch != 1) {
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
                                               sizeof(batch)),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                               &stride, sizeof(stride)),
              CUBLAS_STATUS_SUCCESS);
  }
  return layout;
}

cublasLtMatmulDesc_t MakeOp(cublasComputeType_t compute, cudaDataType_t scale, bool ta = false,
                            bool tb = false) {
  cublasLtMatmulDesc_t op = nullptr;
  EXPECT_EQ(cublasLtMatmulDescCreate(&op, compute, scale), CUBLAS_STATUS_SUCCESS);
  const int32_t a = ta ? CUBLAS_OP_T : CUBLAS_OP_N, b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &a, sizeof(a)),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &b, sizeof(b)),
            CUBLAS_STATUS_SUCCESS);
  return op;
}

// A preference promising `align` bytes for every matrix (0: cuBLASLt's default, 256).
cublasLtMatmulPreference_t MakePreference(uint32_t align = 0) {
  cublasLtMatmulPreference_t pref = nullptr;
  EXPECT_EQ(cublasLtMatmulPreferenceCreate(&pref), CUBLAS_STATUS_SUCCESS);
  const uint64_t workspace = 1 << 20;
  EXPECT_EQ(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                 &workspace, sizeof(workspace)),
            CUBLAS_STATUS_SUCCESS);
  for (auto attr :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
    if (align != 0) {
      EXPECT_EQ(cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof(align)),
                CUBLAS_STATUS_SUCCESS);
    }
  }
  return pref;
}

class CublasLtTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(cublasLtCreate(&handle_), CUBLAS_STATUS_SUCCESS); }
  void TearDown() override { EXPECT_EQ(cublasLtDestroy(handle_), CUBLAS_STATUS_SUCCESS); }
  cublasLtHandle_t handle_ = nullptr;
};

// One product's layouts: each matrix padded to ld = rows + pad, batches `gap` elements apart
// beyond that (A or B broadcast: stride 0).
struct Spec {
  int64_t m, n, k;
  bool ta = false, tb = false;
  int32_t batch = 1;
  int64_t pad = 0, gap = 0;
  bool broadcast_a = false, broadcast_b = false;
  bool in_place = false;  // D is C
  double alpha = 1, beta = 0;
  bool nan_c = false;  // C holds NaNs (read only if beta != 0)
};

// A stored column-major matrix (rows x cols per batch), padding NaN so that a read of it shows.
template <typename T>
struct Stored {
  int64_t rows, cols, ld, stride;
  int32_t batch;
  std::vector<T> data;
  Stored(int64_t r, int64_t c, int64_t pad, int64_t gap, int32_t b, bool broadcast)
      : rows(r), cols(c), ld(r + pad), stride(broadcast ? 0 : ld * c + gap), batch(b) {
    data.assign(stride * (b - 1) + ld * c, Traits<T>::From(std::nan("")));
  }
  T& at(int32_t b, int64_t r, int64_t c) { return data[b * stride + r + c * ld]; }
  cublasLtMatrixLayout_t Layout() const {
    return MakeLayout(Traits<T>::kType, rows, cols, ld, batch, stride);
  }
};

template <typename T>
void CheckProduct(cublasLtHandle_t handle, const Spec& s,
                  cublasComputeType_t compute = Traits<T>::kCompute) {
  SCOPED_TRACE(testing::Message() << s.m << "x" << s.k << " @ " << s.k << "x" << s.n << " ta "
                                  << s.ta << " tb " << s.tb << " batch " << s.batch);
  using Tr = Traits<T>;
  std::mt19937 rng(s.m * 131 + s.n * 17 + s.k + s.batch);
  std::uniform_real_distribution<double> uniform(-1, 1);
  auto random = [&] { return Tr::To(Tr::From(uniform(rng))); };  // representable in T
  // The logical row-major operands, per batch: a[b][i * k + l], b[b][l * n + j], c[b][i * n + j].
  std::vector<std::vector<double>> a(s.batch), b(s.batch), c(s.batch);
  Stored<T> sa(s.ta ? s.k : s.m, s.ta ? s.m : s.k, s.pad, s.gap, s.batch, s.broadcast_a);
  Stored<T> sb(s.tb ? s.n : s.k, s.tb ? s.k : s.n, s.pad, s.gap, s.batch, s.broadcast_b);
  Stored<T> sc(s.m, s.n, s.pad, s.gap, s.batch, false);
  Stored<T> sd(s.m, s.n, s.pad, s.gap, s.batch, false);
  for (int32_t p = 0; p < s.batch; ++p) {
    a[p].resize(s.m * s.k);
    b[p].resize(s.k * s.n);
    c[p].resize(s.m * s.n);
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t l = 0; l < s.k; ++l) {
        a[p][i * s.k + l] = s.broadcast_a && p > 0 ? a[0][i * s.k + l] : random();
        (s.ta ? sa.at(p, l, i) : sa.at(p, i, l)) = Tr::From(a[p][i * s.k + l]);
      }
    }
    for (int64_t l = 0; l < s.k; ++l) {
      for (int64_t j = 0; j < s.n; ++j) {
        b[p][l * s.n + j] = s.broadcast_b && p > 0 ? b[0][l * s.n + j] : random();
        (s.tb ? sb.at(p, j, l) : sb.at(p, l, j)) = Tr::From(b[p][l * s.n + j]);
      }
    }
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        c[p][i * s.n + j] = s.nan_c ? std::nan("") : random();
        sc.at(p, i, j) = Tr::From(c[p][i * s.n + j]);
      }
    }
  }
  Stored<T>& out = s.in_place ? sc : sd;

  const bool wide = Tr::kType == CUDA_R_64F;
  cublasLtMatmulDesc_t op = MakeOp(compute, wide ? CUDA_R_64F : CUDA_R_32F, s.ta, s.tb);
  cublasLtMatrixLayout_t la = sa.Layout(), lb = sb.Layout(), lc = sc.Layout(), ld = sd.Layout();
  cublasLtMatmulPreference_t pref = MakePreference(sizeof(T));
  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  ASSERT_EQ(cublasLtMatmulAlgoGetHeuristic(handle, op, la, lb, lc, ld, pref, 1, &result, &found),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(found, 1);
  EXPECT_EQ(result.state, CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(result.workspaceSize, 0u);
  const float alpha_f = s.alpha, beta_f = s.beta;
  const void* alpha = wide ? static_cast<const void*>(&s.alpha) : &alpha_f;
  const void* beta = wide ? static_cast<const void*>(&s.beta) : &beta_f;
  ASSERT_EQ(cublasLtMatmul(handle, op, alpha, sa.data.data(), la, sb.data.data(), lb, beta,
                           sc.data.data(), lc, out.data.data(), s.in_place ? lc : ld, &result.algo,
                           nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulPreferenceDestroy(pref);
  for (auto* l : {la, lb, lc, ld}) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(op);

  const double acc_eps = compute == CUBLAS_COMPUTE_64F ? 2.3e-16 : 1.2e-7;
  std::vector<bool> written(out.data.size(), false);
  for (int32_t p = 0; p < s.batch; ++p) {
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        double want = 0;
        for (int64_t l = 0; l < s.k; ++l) want += a[p][i * s.k + l] * b[p][l * s.n + j];
        want = s.alpha * want + (s.beta != 0 ? s.beta * c[p][i * s.n + j] : 0);
        const double tol = Tr::kEps * (std::abs(want) + 1) + s.k * s.k * acc_eps;
        ASSERT_NEAR(Tr::To(out.at(p, i, j)), want, tol)
            << "batch " << p << " at " << i << ", " << j;
        written[&out.at(p, i, j) - out.data.data()] = true;
      }
    }
  }
  for (size_t e = 0; e < out.data.size(); ++e) {  // padding and gaps untouched (NaN)
    if (!written[e]) {
      ASSERT_TRUE(std::isnan(Tr::To(out.data[e]))) << "element " << e;
    }
  }
}

TEST_F(CublasLtTest, Float32) {
  CheckProduct<float>(handle_, {5, 7, 3});
  CheckProduct<float>(handle_, {1, 1, 1});
  CheckProduct<float>(handle_, {16, 9, 33}, CUBLAS_COMPUTE_32F_FAST_TF32);
}

TEST_F(CublasLtTest, Transposes) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Spec s{6, 4, 5, ta, tb};
      s.pad = 2;
      CheckProduct<float>(handle_, s);
    }
  }
}

TEST_F(CublasLtTest, StridedBatches) {
  Spec s{4, 3, 5, false, true, 3, 1, 7};
  CheckProduct<float>(handle_, s);
  s.broadcast_a = true;
  CheckProduct<float>(handle_, s);
  s.broadcast_a = false;
  s.broadcast_b = true;
  s.ta = true;
  CheckProduct<float>(handle_, s);
}

TEST_F(CublasLtTest, OtherDTypes) {
  Spec s{7, 5, 9, true, false, 2, 1, 3};
  s.broadcast_b = true;
  CheckProduct<__half>(handle_, s);
  CheckProduct<__nv_bfloat16>(handle_, s);
  CheckProduct<double>(handle_, s);
}

TEST_F(CublasLtTest, InPlaceWithBeta) {
  Spec s{5, 6, 4, false, false, 2, 1, 2};
  s.in_place = true;
  s.alpha = 0.5;
  s.beta = 1;
  CheckProduct<float>(handle_, s);
  CheckProduct<__half>(handle_, s);
  s.in_place = false;
  s.beta = -2;
  CheckProduct<double>(handle_, s);
}

TEST_F(CublasLtTest, BetaZeroDoesNotReadC) {
  Spec s{3, 4, 2};
  s.nan_c = true;
  CheckProduct<float>(handle_, s);
}

// matmul.cc's use: row-major C (m x n) = A (m x k) B (k x n) as column-major C^T = B^T A^T.
TEST_F(CublasLtTest, RowMajorProductAsFerryPosesIt) {
  const int64_t m = 3, n = 4, k = 2;
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {1, 0, 2, -1, 0, 1, 1, 3};
  std::vector<float> c(m * n, -7);
  cublasLtMatmulDesc_t op = MakeOp(CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasLtMatrixLayout_t lb = MakeLayout(CUDA_R_32F, n, k, n), la = MakeLayout(CUDA_R_32F, k, m, k),
                         lc = MakeLayout(CUDA_R_32F, n, m, n);
  const float one = 1, zero = 0;
  ASSERT_EQ(cublasLtMatmul(handle_, op, &one, b.data(), lb, a.data(), la, &zero, c.data(), lc,
                           c.data(), lc, nullptr, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c, (std::vector<float>{1, 2, 4, 5, 3, 4, 10, 9, 5, 6, 16, 13}));
  for (auto* l : {la, lb, lc}) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(op);
}

TEST_F(CublasLtTest, RefusesWhatCublasLtRefuses) {
  // Every matrix 256-byte aligned, as cudaMalloc's are: A at p, B at p + 256, C at p + 512.
  std::vector<float> buf(1024 + 64, 0);
  float* p = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 255) / 256 * 256);
  const float one = 1, zero = 0;
  cublasLtMatmulDesc_t op = MakeOp(CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasLtMatrixLayout_t a = MakeLayout(CUDA_R_32F, 4, 3, 4), b = MakeLayout(CUDA_R_32F, 3, 2, 3),
                         c = MakeLayout(CUDA_R_32F, 4, 2, 4);
  auto matmul = [&](cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t lc,
                    const float* pa = nullptr, const cublasLtMatmulAlgo_t* algo = nullptr,
                    cublasLtMatmulDesc_t o = nullptr) {
    return cublasLtMatmul(handle_, o != nullptr ? o : op, &one, pa != nullptr ? pa : p, la, p + 256,
                          lb, &zero, p + 512, lc, p + 512, lc, algo, nullptr, 0, nullptr);
  };
  EXPECT_EQ(matmul(a, b, c), CUBLAS_STATUS_SUCCESS);
  // Null pointers and handles.
  EXPECT_EQ(cublasLtMatmul(handle_, op, &one, nullptr, a, p, b, &zero, p, c, p, c, nullptr, nullptr,
                           0, nullptr),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasLtMatmul(nullptr, op, &one, p, a, p, b, &zero, p, c, p, c, nullptr, nullptr, 0,
                           nullptr),
            CUBLAS_STATUS_NOT_INITIALIZED);
  // Inconsistent shapes: k differs, C's rows differ, ld below rows.
  cublasLtMatrixLayout_t b4 = MakeLayout(CUDA_R_32F, 4, 2, 4), c3 = MakeLayout(CUDA_R_32F, 3, 2, 4),
                         a_ld = MakeLayout(CUDA_R_32F, 4, 3, 3);
  EXPECT_EQ(matmul(a, b4, c), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(matmul(a, b, c3), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(matmul(a_ld, b, c), CUBLAS_STATUS_INVALID_VALUE);
  cublasLtMatmulPreference_t pref = MakePreference();
  cublasLtMatmulHeuristicResult_t result = {};
  int found = -1;
  EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(handle_, op, a, b4, c, c, pref, 1, &result, &found),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(found, 0);
  // Batch counts that differ; batches of D that overlap.
  cublasLtMatrixLayout_t a2 = MakeLayout(CUDA_R_32F, 4, 3, 4, 2, 12),
                         b2 = MakeLayout(CUDA_R_32F, 3, 2, 3, 2, 0),
                         c2 = MakeLayout(CUDA_R_32F, 4, 2, 4, 2, 8),
                         c2_overlap = MakeLayout(CUDA_R_32F, 4, 2, 4, 2, 7);
  EXPECT_EQ(matmul(a2, b, c2), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(matmul(a2, b2, c2), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul(a2, b2, c2_overlap), CUBLAS_STATUS_INVALID_VALUE);
  // Unsupported: row order, an epilogue, TF32 on halves, mixed types.
  const int32_t row = CUBLASLT_ORDER_ROW;
  EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(a, CUBLASLT_MATRIX_LAYOUT_ORDER, &row, sizeof(row)),
            CUBLAS_STATUS_NOT_SUPPORTED);
  cublasLtMatmulDesc_t relu = MakeOp(CUBLAS_COMPUTE_32F, CUDA_R_32F);
  const uint32_t epilogue = CUBLASLT_EPILOGUE_RELU;
  ASSERT_EQ(cublasLtMatmulDescSetAttribute(relu, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                           sizeof(epilogue)),
            CUBLAS_STATUS_SUCCESS);
  found = -1;
  EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(handle_, relu, a, b, c, c, pref, 1, &result, &found),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(found, 0);
  const float scale = 2;
  const float* scale_pointer = &scale;
  cublasLtMatmulDesc_t scaled = MakeOp(CUBLAS_COMPUTE_32F, CUDA_R_32F);
  ASSERT_EQ(cublasLtMatmulDescSetAttribute(scaled, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER,
                                           &scale_pointer, sizeof(scale_pointer)),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul(a, b, c, nullptr, nullptr, scaled), CUBLAS_STATUS_NOT_SUPPORTED);
  cublasLtMatmulDesc_t tf32 = MakeOp(CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F);
  cublasLtMatrixLayout_t h = MakeLayout(CUDA_R_16F, 4, 3, 4), hb = MakeLayout(CUDA_R_16F, 3, 2, 3),
                         hc = MakeLayout(CUDA_R_16F, 4, 2, 4);
  EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(handle_, tf32, h, hb, hc, hc, pref, 1, &result, &found),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(matmul(h, b, c), CUBLAS_STATUS_NOT_SUPPORTED);
  // Attributes of the wrong size.
  const int64_t wide = CUBLAS_OP_T;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &wide, sizeof(wide)),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(
      cublasLtMatrixLayoutSetAttribute(a, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &wide, sizeof(wide)),
      CUBLAS_STATUS_INVALID_VALUE);
  // Alignment: the heuristic's algorithm assumes 256 bytes unless told less.
  ASSERT_EQ(cublasLtMatmulAlgoGetHeuristic(handle_, op, a, b, c, c, pref, 1, &result, &found),
            CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulPreference_t loose = MakePreference(4);
  cublasLtMatmulHeuristicResult_t loose_result = {};
  ASSERT_EQ(
      cublasLtMatmulAlgoGetHeuristic(handle_, op, a, b, c, c, loose, 1, &loose_result, &found),
      CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul(a, b, c, p, &result.algo), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul(a, b, c, p + 1, &result.algo), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(matmul(a, b, c, p + 1, &loose_result.algo), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul(a, b, c, p + 1, nullptr), CUBLAS_STATUS_SUCCESS);  // Lt picks for the pointers
  // A batch stride that breaks the promise, though the first matrix keeps it.
  EXPECT_EQ(matmul(a2, b2, c2, p, &result.algo), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(matmul(a2, b2, c2, p, &loose_result.algo), CUBLAS_STATUS_SUCCESS);
  const char* odd = reinterpret_cast<const char*>(p) + 2;  // not even a whole float
  EXPECT_EQ(matmul(a, b, c, reinterpret_cast<const float*>(odd), nullptr),
            CUBLAS_STATUS_INVALID_VALUE);
  cublasLtMatmulAlgo_t garbage = {};
  EXPECT_EQ(matmul(a, b, c, nullptr, &garbage), CUBLAS_STATUS_INVALID_VALUE);
  // In place needs C's layout for D.
  cublasLtMatrixLayout_t c_wide = MakeLayout(CUDA_R_32F, 4, 2, 5);
  EXPECT_EQ(cublasLtMatmul(handle_, op, &one, p, a, p + 256, b, &zero, p + 512, c, p + 512, c_wide,
                           nullptr, nullptr, 0, nullptr),
            CUBLAS_STATUS_INVALID_VALUE);

  for (auto* l : {a, b, c, b4, c3, a_ld, a2, b2, c2, c2_overlap, h, hb, hc, c_wide}) {
    EXPECT_EQ(cublasLtMatrixLayoutDestroy(l), CUBLAS_STATUS_SUCCESS);
  }
  for (auto* o : {op, relu, scaled, tf32})
    EXPECT_EQ(cublasLtMatmulDescDestroy(o), CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatmulPreferenceDestroy(loose);
}

TEST(CublasLtVersionTest, IsTheHeadersMajorVersion) {
  EXPECT_EQ(cublasLtGetVersion() / 10000, static_cast<size_t>(CUBLAS_VER_MAJOR));
}

}  // namespace
