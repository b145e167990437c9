// A CPU stand-in for cuBLASLt, used only by the CUDA emulation tests and never shipped.
// Built as libcublasLt.so.13, it is what kernels/cuda/cublas_loader.cc dlopens when the
// tests run the CUDA backend on the CPU emulation of CUDA, where device memory is host
// memory. It implements the entry points cublas_loader.h resolves, for the problems
// matmul.cc poses, and is strict where cuBLASLt's behavior is undefined or fails (shapes,
// strides, alignments), so that a mistake in matmul.cc shows here rather than on a GPU.
//
// Semantics, as cuBLASLt's: column-major layouts, D = alpha op(A) op(B) + beta C with
// float accumulation for the 32F compute types and double for 64F, rounded once to D's
// type. Matmul runs synchronously on the calling thread (the emulator's kernel launches
// do too, so stream order holds) and ignores the stream and the workspace.

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <new>

// The handle type is a pointer to a struct cuBLASLt leaves undefined; this is ours.
struct cublasLtContext {
  uint64_t magic;
};

namespace {

constexpr uint64_t kMagic = 0x6665727279'4c7445;  // "ferryLtE": set in every live object

// The descriptors are "semi-opaque" (uint64_t data[N] in the header): each of our states
// is copied in and out of that storage with memcpy.
template <typename State, typename Opaque>
State Load(const Opaque* opaque) {
  static_assert(sizeof(State) <= sizeof(opaque->data), "state does not fit");
  State state;
  std::memcpy(&state, opaque->data, sizeof(state));
  return state;
}

template <typename State, typename Opaque>
void Store(Opaque* opaque, const State& state) {
  std::memcpy(opaque->data, &state, sizeof(state));
}

template <typename Opaque, typename State>
cublasStatus_t Create(Opaque** out, const State& state) {
  if (out == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  auto* opaque = new (std::nothrow) Opaque{};
  if (opaque == nullptr) return CUBLAS_STATUS_ALLOC_FAILED;
  Store(opaque, state);
  *out = opaque;
  return CUBLAS_STATUS_SUCCESS;
}

// Stores `state` if its attribute was read, else INVALID_VALUE (null or wrong-size buffer).
template <typename Opaque, typename State>
cublasStatus_t Save(Opaque* opaque, const State& state, bool read) {
  if (!read) return CUBLAS_STATUS_INVALID_VALUE;
  Store(opaque, state);
  return CUBLAS_STATUS_SUCCESS;
}

template <typename Opaque>
cublasStatus_t Destroy(Opaque* opaque) {
  if (opaque != nullptr) std::memset(opaque->data, 0, sizeof(opaque->data));  // magic gone
  delete opaque;
  return CUBLAS_STATUS_SUCCESS;
}

struct Layout {
  uint64_t magic;
  cudaDataType_t type;
  int32_t batch;
  uint64_t rows, cols;
  int64_t ld, stride;  // in elements
};

struct Op {
  uint64_t magic;
  int32_t field[8];  // the 4-byte attributes, COMPUTE_TYPE (0) to EPILOGUE (7), by number
  uint64_t scaled;   // bit `attr` set: that (FP8) scale or amax pointer is set; not emulated
};

struct Preference {
  uint64_t magic;
  uint64_t max_workspace;
  uint32_t align[4];  // MIN_ALIGNMENT_{A,B,C,D}_BYTES
};

// What the heuristic hands back in cublasLtMatmulAlgo_t: the alignments the caller promised,
// which Matmul then holds the pointers to, as an algorithm chosen for them would need.
struct Algo {
  uint64_t magic;
  uint32_t align[4];
};

// Copies an attribute of exactly `size` bytes (cuBLASLt refuses any other size).
template <typename T>
bool Read(const void* buf, size_t size, T& value) {
  if (buf == nullptr || size != sizeof(T)) return false;
  std::memcpy(&value, buf, sizeof(T));
  return true;
}

size_t SizeOf(cudaDataType_t type) {
  switch (type) {
    case CUDA_R_16F:
    case CUDA_R_16BF:
      return 2;
    case CUDA_R_32F:
      return 4;
    case CUDA_R_64F:
      return 8;
    default:
      return 0;
  }
}

bool Is32F(int32_t c) {
  return c == CUBLAS_COMPUTE_32F || c == CUBLAS_COMPUTE_32F_PEDANTIC ||
         c == CUBLAS_COMPUTE_32F_FAST_16F || c == CUBLAS_COMPUTE_32F_FAST_16BF ||
         c == CUBLAS_COMPUTE_32F_FAST_TF32;
}

bool Transposed(int32_t op) { return op == CUBLAS_OP_T || op == CUBLAS_OP_C; }  // real data

// A problem, checked: INVALID_VALUE where cuBLASLt refuses it or its result is undefined,
// NOT_SUPPORTED where cuBLASLt could run it but this stand-in does not.
struct Problem {
  Layout a, b, c, d;
  bool ta, tb;  // op(A), op(B) transpose
  int64_t m, n, k;
};

cublasStatus_t Check(cublasLtMatmulDesc_t op_desc, cublasLtMatrixLayout_t a_desc,
                     cublasLtMatrixLayout_t b_desc, cublasLtMatrixLayout_t c_desc,
                     cublasLtMatrixLayout_t d_desc, Problem& p) {
  if (op_desc == nullptr || a_desc == nullptr || b_desc == nullptr || c_desc == nullptr ||
      d_desc == nullptr) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const Op op = Load<Op>(op_desc);
  p.a = Load<Layout>(a_desc);
  p.b = Load<Layout>(b_desc);
  p.c = Load<Layout>(c_desc);
  p.d = Load<Layout>(d_desc);
  for (const Layout* l : {&p.a, &p.b, &p.c, &p.d}) {
    if (l->magic != kMagic) return CUBLAS_STATUS_INVALID_VALUE;
    if (l->ld < 1 || static_cast<uint64_t>(l->ld) < l->rows) return CUBLAS_STATUS_INVALID_VALUE;
    if (l->batch < 1 || l->batch != p.d.batch) return CUBLAS_STATUS_INVALID_VALUE;
    if (l->stride < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (l->rows > INT32_MAX || l->cols > INT32_MAX) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (l->type != p.d.type) return CUBLAS_STATUS_NOT_SUPPORTED;  // mixed types: not emulated
  }
  if (op.magic != kMagic) return CUBLAS_STATUS_INVALID_VALUE;
  const int32_t* f = op.field;
  for (int32_t t : {f[CUBLASLT_MATMUL_DESC_TRANSA], f[CUBLASLT_MATMUL_DESC_TRANSB]}) {
    if (t != CUBLAS_OP_N && !Transposed(t)) return CUBLAS_STATUS_INVALID_VALUE;
  }
  const int32_t pointer_mode = f[CUBLASLT_MATMUL_DESC_POINTER_MODE];
  if (f[CUBLASLT_MATMUL_DESC_TRANSC] != CUBLAS_OP_N ||
      f[CUBLASLT_MATMUL_DESC_FILL_MODE] != CUBLAS_FILL_MODE_FULL ||
      f[CUBLASLT_MATMUL_DESC_EPILOGUE] != CUBLASLT_EPILOGUE_DEFAULT || op.scaled != 0 ||
      (pointer_mode != CUBLASLT_POINTER_MODE_HOST &&
       pointer_mode != CUBLASLT_POINTER_MODE_DEVICE)) {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  // The combinations of cuBLASLt's table that ferry uses; the FAST_* types take float only.
  const int32_t compute = f[CUBLASLT_MATMUL_DESC_COMPUTE_TYPE];
  const int32_t scale = f[CUBLASLT_MATMUL_DESC_SCALE_TYPE];
  const cudaDataType_t t = p.d.type;
  const bool supported =
      Is32F(compute)
          ? scale == CUDA_R_32F && (t == CUDA_R_32F || ((t == CUDA_R_16F || t == CUDA_R_16BF) &&
                                                        (compute == CUBLAS_COMPUTE_32F ||
                                                         compute == CUBLAS_COMPUTE_32F_PEDANTIC)))
          : (compute == CUBLAS_COMPUTE_64F || compute == CUBLAS_COMPUTE_64F_PEDANTIC) &&
                scale == CUDA_R_64F && t == CUDA_R_64F;
  if (!supported) return CUBLAS_STATUS_NOT_SUPPORTED;
  // op(A) is m x k, op(B) k x n, C and D m x n.
  p.ta = Transposed(f[CUBLASLT_MATMUL_DESC_TRANSA]);
  p.tb = Transposed(f[CUBLASLT_MATMUL_DESC_TRANSB]);
  p.m = p.d.rows;
  p.n = p.d.cols;
  p.k = p.ta ? p.a.rows : p.a.cols;
  const uint64_t a_m = p.ta ? p.a.cols : p.a.rows;
  const uint64_t b_k = p.tb ? p.b.cols : p.b.rows;
  const uint64_t b_n = p.tb ? p.b.rows : p.b.cols;
  if (a_m != p.d.rows || b_n != p.d.cols || b_k != static_cast<uint64_t>(p.k) ||
      p.c.rows != p.d.rows || p.c.cols != p.d.cols) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  // Batches of D that overlap are written concurrently on a GPU: undefined, refused here.
  const int64_t d_extent = p.d.ld * (static_cast<int64_t>(p.d.cols) - 1) + p.d.rows;
  if (p.d.batch > 1 && p.d.cols > 0 && p.d.rows > 0 && p.d.stride < d_extent) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  return CUBLAS_STATUS_SUCCESS;
}

// To and from the accumulator (and scale) type: float for the 32F compute types that take
// float, half and bfloat16 data, double for 64F.
float Widen(float v) { return v; }
float Widen(__half v) { return __half2float(v); }
float Widen(__nv_bfloat16 v) { return __bfloat162float(v); }
double Widen(double v) { return v; }
void Narrow(float v, float& out) { out = v; }
void Narrow(float v, __half& out) { out = __float2half_rn(v); }
void Narrow(float v, __nv_bfloat16& out) { out = __float2bfloat16_rn(v); }
void Narrow(double v, double& out) { out = v; }

template <typename T, typename Acc = decltype(Widen(T()))>
void Gemm(const Problem& p, const void* alpha_ptr, const void* beta_ptr, const void* a_ptr,
          const void* b_ptr, const void* c_ptr, void* d_ptr) {
  const Acc alpha = *static_cast<const Acc*>(alpha_ptr), beta = *static_cast<const Acc*>(beta_ptr);
  const bool ta = p.ta, tb = p.tb;
  for (int32_t batch = 0; batch < p.d.batch; ++batch) {
    const T* a = static_cast<const T*>(a_ptr) + batch * p.a.stride;
    const T* b = static_cast<const T*>(b_ptr) + batch * p.b.stride;
    const T* c = static_cast<const T*>(c_ptr) + batch * p.c.stride;
    T* d = static_cast<T*>(d_ptr) + batch * p.d.stride;
    for (int64_t j = 0; j < p.n; ++j) {
      for (int64_t i = 0; i < p.m; ++i) {
        Acc acc = 0;
        for (int64_t l = 0; l < p.k; ++l) {
          const T* x = ta ? &a[l + i * p.a.ld] : &a[i + l * p.a.ld];
          const T* y = tb ? &b[j + l * p.b.ld] : &b[l + j * p.b.ld];
          acc += Widen(*x) * Widen(*y);
        }
        // C is not read when beta is 0, as in BLAS (it may hold NaNs). D may be C: each
        // element is read before it is written, and by no other element.
        Acc value = alpha * acc;
        if (beta != 0) value += beta * Widen(c[i + j * p.c.ld]);
        Narrow(value, d[i + j * p.d.ld]);
      }
    }
  }
}

bool Aligned(const void* ptr, const Layout& l, uint32_t promised) {
  const uint64_t bytes = SizeOf(l.type);
  const uint64_t address = reinterpret_cast<uintptr_t>(ptr);
  if (address % bytes != 0) return false;  // no algorithm takes a misaligned element
  if (promised == 0) return true;
  // Every batch's matrix must have the alignment the algorithm was chosen for.
  return address % promised == 0 && (l.batch == 1 || (l.stride * bytes) % promised == 0);
}

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new (std::nothrow) cublasLtContext{kMagic};
  return *handle == nullptr ? CUBLAS_STATUS_ALLOC_FAILED : CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  if (handle == nullptr || handle->magic != kMagic) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->magic = 0;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

size_t cublasLtGetVersion(void) { return CUBLAS_VERSION; }  // the headers' (13.x) version

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  return Create(desc, Op{kMagic,
                         {static_cast<int32_t>(compute), static_cast<int32_t>(scale),
                          CUBLASLT_POINTER_MODE_HOST, CUBLAS_OP_N, CUBLAS_OP_N, CUBLAS_OP_N,
                          CUBLAS_FILL_MODE_FULL, CUBLASLT_EPILOGUE_DEFAULT},
                         0});
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) { return Destroy(desc); }

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                              cublasLtMatmulDescAttributes_t attr, const void* buf,
                                              size_t size) {
  if (desc == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Op op = Load<Op>(desc);
  if (attr <= CUBLASLT_MATMUL_DESC_EPILOGUE) return Save(desc, op, Read(buf, size, op.field[attr]));
  uint64_t value64;
  uint32_t value32;
  uint8_t value8;
  switch (attr) {
    // Scaling pointers change the result: remembered, and then refused by Check.
    case CUBLASLT_MATMUL_DESC_A_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_B_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_C_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_D_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_AMAX_D_POINTER:
    case CUBLASLT_MATMUL_DESC_D_OUT_SCALE_POINTER:
      if (!Read(buf, size, value64)) return CUBLAS_STATUS_INVALID_VALUE;
      op.scaled =
          value64 != 0 ? op.scaled | uint64_t{1} << attr : op.scaled & ~(uint64_t{1} << attr);
      return Save(desc, op, true);
    // Read only by epilogues other than DEFAULT (which Check refuses): accepted, ignored.
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
    case CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_POINTER:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_AMAX_POINTER:
    case CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE:
      return Save(desc, op, Read(buf, size, value64));
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE:
    case CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET:  // speed only
      return Save(desc, op, Read(buf, size, value32));
    case CUBLASLT_MATMUL_DESC_FAST_ACCUM:  // FP8 only
      return Save(desc, op, Read(buf, size, value8));
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;  // an attribute this stand-in does not know
  }
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  return Create(layout, Layout{kMagic, type, 1, rows, cols, ld, 0});
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  return Destroy(layout);
}

cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout,
                                                cublasLtMatrixLayoutAttribute_t attr,
                                                const void* buf, size_t size) {
  if (layout == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Layout l = Load<Layout>(layout);
  int32_t order;
  uint32_t mode;
  int64_t plane;
  switch (attr) {
    case CUBLASLT_MATRIX_LAYOUT_TYPE:
      return Save(layout, l, Read(buf, size, l.type));
    case CUBLASLT_MATRIX_LAYOUT_ROWS:
      return Save(layout, l, Read(buf, size, l.rows));
    case CUBLASLT_MATRIX_LAYOUT_COLS:
      return Save(layout, l, Read(buf, size, l.cols));
    case CUBLASLT_MATRIX_LAYOUT_LD:
      return Save(layout, l, Read(buf, size, l.ld));
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT:
      return Save(layout, l, Read(buf, size, l.batch));
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
      return Save(layout, l, Read(buf, size, l.stride));
    // Only column-major, strided batches of real numbers are emulated.
    case CUBLASLT_MATRIX_LAYOUT_ORDER:
      if (!Read(buf, size, order)) return CUBLAS_STATUS_INVALID_VALUE;
      return order == CUBLASLT_ORDER_COL ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_SUPPORTED;
    case CUBLASLT_MATRIX_LAYOUT_BATCH_MODE:
      if (!Read(buf, size, mode)) return CUBLAS_STATUS_INVALID_VALUE;
      return mode == CUBLASLT_BATCH_MODE_STRIDED ? CUBLAS_STATUS_SUCCESS
                                                 : CUBLAS_STATUS_NOT_SUPPORTED;
    case CUBLASLT_MATRIX_LAYOUT_PLANE_OFFSET:
      if (!Read(buf, size, plane)) return CUBLAS_STATUS_INVALID_VALUE;
      return plane == 0 ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_SUPPORTED;
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  return Create(pref, Preference{kMagic, 0, {256, 256, 256, 256}});  // cuBLASLt's defaults
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  return Destroy(pref);
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void* buf, size_t size) {
  if (pref == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Preference p = Load<Preference>(pref);
  uint32_t value32;
  uint64_t value64;
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
      return Save(pref, p, Read(buf, size, p.max_workspace));
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
      return Save(pref, p,
                  Read(buf, size, p.align[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES]));
    // Filters on how the product is computed, not on what it is: accepted, ignored.
    case CUBLASLT_MATMUL_PREF_SEARCH_MODE:
    case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK:
    case CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT:  // a float
      return Save(pref, p, Read(buf, size, value32));
    case CUBLASLT_MATMUL_PREF_IMPL_MASK:
      return Save(pref, p, Read(buf, size, value64));
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t op_desc, cublasLtMatrixLayout_t a_desc,
    cublasLtMatrixLayout_t b_desc, cublasLtMatrixLayout_t c_desc, cublasLtMatrixLayout_t d_desc,
    cublasLtMatmulPreference_t pref, int requested, cublasLtMatmulHeuristicResult_t results[],
    int* returned) {
  if (handle == nullptr || handle->magic != kMagic) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (requested <= 0 || results == nullptr || returned == nullptr || pref == nullptr) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *returned = 0;
  const Preference p = Load<Preference>(pref);
  if (p.magic != kMagic) return CUBLAS_STATUS_INVALID_VALUE;
  Problem problem;
  const cublasStatus_t status = Check(op_desc, a_desc, b_desc, c_desc, d_desc, problem);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  // One algorithm, which needs no workspace and the alignments promised.
  results[0] = {};
  Algo algo{kMagic, {p.align[0], p.align[1], p.align[2], p.align[3]}};
  Store(&results[0].algo, algo);
  results[0].workspaceSize = 0;
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t op_desc,
                              const void* alpha, const void* a, cublasLtMatrixLayout_t a_desc,
                              const void* b, cublasLtMatrixLayout_t b_desc, const void* beta,
                              const void* c, cublasLtMatrixLayout_t c_desc, void* d,
                              cublasLtMatrixLayout_t d_desc, const cublasLtMatmulAlgo_t* algo,
                              void* workspace, size_t workspace_bytes, cudaStream_t /*stream*/) {
  if (handle == nullptr || handle->magic != kMagic) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (alpha == nullptr || beta == nullptr || a == nullptr || b == nullptr || c == nullptr ||
      d == nullptr || (workspace == nullptr && workspace_bytes > 0)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  Problem p;
  const cublasStatus_t status = Check(op_desc, a_desc, b_desc, c_desc, d_desc, p);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  // In place only with C's own layout (cuBLASLt: C == D needs Cdesc == Ddesc).
  if (c == d && (p.c.ld != p.d.ld || p.c.stride != p.d.stride)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  // Without an algorithm cuBLASLt picks one for the pointers given; with one, the pointers
  // must keep the alignments it was chosen for.
  Algo chosen{kMagic, {0, 0, 0, 0}};
  if (algo != nullptr) {
    chosen = Load<Algo>(algo);
    if (chosen.magic != kMagic) return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (!Aligned(a, p.a, chosen.align[0]) || !Aligned(b, p.b, chosen.align[1]) ||
      !Aligned(c, p.c, chosen.align[2]) || !Aligned(d, p.d, chosen.align[3])) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  // Check let through only the types below, with the scale type of their accumulator.
  switch (p.d.type) {
    case CUDA_R_16F:
      Gemm<__half>(p, alpha, beta, a, b, c, d);
      break;
    case CUDA_R_16BF:
      Gemm<__nv_bfloat16>(p, alpha, beta, a, b, c, d);
      break;
    case CUDA_R_64F:
      Gemm<double>(p, alpha, beta, a, b, c, d);
      break;
    default:
      Gemm<float>(p, alpha, beta, a, b, c, d);
      break;
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
