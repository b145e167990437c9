#ifndef FERRY_KERNELS_CUDA_DEVICE_CUH_
#define FERRY_KERNELS_CUDA_DEVICE_CUH_

// What every CUDA kernel shares, in device code: one dtype dispatch over the device element
// types, loads and stores that read 16-bit floats as float (as the CPU backend does), the
// astype conversion rules, and the strided indexing of launch.h.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cuda/launch.h"

namespace ferry::kernels::cuda {

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with T the device type that stores `dtype`. complex64 comes as its
// bits, uint64_t, as on the CPU (kernels/cpu/dispatch.h): right for the kernels that only
// move elements; core refuses complex64 to every op without a complex kernel, and those
// launch their complex64 kernels before they dispatch (complex.cuh).
template <typename F>
__host__ decltype(auto) DispatchDType(core::DType dtype, F&& f) {
  switch (dtype) {
    case core::DType::kComplex64:
      return f(TypeTag<uint64_t>{});
    case core::DType::kBool:
      return f(TypeTag<bool>{});
    case core::DType::kUInt8:
      return f(TypeTag<uint8_t>{});
    case core::DType::kUInt16:
      return f(TypeTag<uint16_t>{});
    case core::DType::kUInt32:
      return f(TypeTag<uint32_t>{});
    case core::DType::kUInt64:
      return f(TypeTag<uint64_t>{});
    case core::DType::kInt8:
      return f(TypeTag<int8_t>{});
    case core::DType::kInt16:
      return f(TypeTag<int16_t>{});
    case core::DType::kInt32:
      return f(TypeTag<int32_t>{});
    case core::DType::kInt64:
      return f(TypeTag<int64_t>{});
    case core::DType::kFloat16:
      return f(TypeTag<__half>{});
    case core::DType::kBFloat16:
      return f(TypeTag<__nv_bfloat16>{});
    case core::DType::kFloat32:
      return f(TypeTag<float>{});
    case core::DType::kFloat64:
      break;
  }
  return f(TypeTag<double>{});
}

template <typename T>
inline constexpr bool kIsHalf = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// The type an element computes in: float for the 16-bit floats, else itself.
template <typename T>
using ComputeType = std::conditional_t<kIsHalf<T>, float, T>;

template <typename T>
inline constexpr bool kIsFloating = std::is_floating_point_v<ComputeType<T>>;

template <typename T>
__device__ __forceinline__ ComputeType<T> Load(const T* p) {
  if constexpr (std::is_same_v<T, bool>) {
    return *reinterpret_cast<const uint8_t*>(p) != 0;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __half2float(*p);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(*p);
  } else {
    return *p;
  }
}

template <typename T>
__device__ __forceinline__ void Store(T* p, ComputeType<T> v) {
  if constexpr (std::is_same_v<T, __half>) {
    *p = __float2half_rn(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    *p = __float2bfloat16_rn(v);
  } else {
    *p = v;
  }
}

// astype's rules (kernels/cpu/dispatch.h ConvertTo): to bool is "not zero"; floating to
// integer truncates, saturates and maps NaN to 0; integers wrap; floats round to nearest.
template <typename To, typename From>
__device__ __forceinline__ ComputeType<To> ConvertTo(From value) {
  using C = ComputeType<To>;
  if constexpr (std::is_same_v<To, bool>) {
    return value != From(0);
  } else if constexpr (std::is_integral_v<C> && std::is_floating_point_v<From>) {
    if (value != value) return 0;
    const double t = trunc(static_cast<double>(value));
    if (t <= static_cast<double>(std::numeric_limits<C>::min())) {
      return std::numeric_limits<C>::min();
    }
    if (t >= static_cast<double>(std::numeric_limits<C>::max())) {
      return std::numeric_limits<C>::max();
    }
    return static_cast<C>(t);
  } else {
    return static_cast<C>(value);
  }
}

// Unsigned (wrapping) arithmetic for integers, as on the CPU (at least `unsigned`, as
// narrower types promote to int); plain arithmetic for floats.
template <typename C, bool = std::is_integral_v<C> && !std::is_same_v<C, bool>>
struct Wrapping {
  using type = C;
};
template <typename C>
struct Wrapping<C, true> {
  using type =
      std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
};
template <typename C>
using WrapType = typename Wrapping<C>::type;

template <typename C>
__device__ __forceinline__ C WrapAdd(C a, C b) {
  return static_cast<C>(static_cast<WrapType<C>>(a) + static_cast<WrapType<C>>(b));
}
template <typename C>
__device__ __forceinline__ C WrapSub(C a, C b) {
  return static_cast<C>(static_cast<WrapType<C>>(a) - static_cast<WrapType<C>>(b));
}
template <typename C>
__device__ __forceinline__ C WrapMul(C a, C b) {
  return static_cast<C>(static_cast<WrapType<C>>(a) * static_cast<WrapType<C>>(b));
}

// log(exp(a) + exp(b)) as the CPU's AddInLogSpace (kernels/cpu/dispatch.h): max +
// log1p(exp(-|a - b|)); NaN in, NaN out; infinities pass. logaddexp and logcumsumexp use it.
template <typename F>
__device__ __forceinline__ F AddInLogSpace(F a, F b) {
  if (a != a || b != b) return F(NAN);
  const F m = a > b ? a : b;
  if (isinf(m)) return m;
  return F(m + log1p(exp(-fabs(a - b))));
}

// Element offsets of up to kMaxOperands operands at row-major position `index` (below the
// shape's element count) of the indexer's shape. A 64-bit division costs tens of
// instructions on a GPU, more than the memory traffic of a strided kernel: positions and
// sizes that fit 32 bits divide in 32 bits, and the outermost dim needs no division.
template <int N>
__device__ __forceinline__ void Offsets(const Indexer& ix, int64_t index, int64_t (&off)[N]) {
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = ix.rank - 1; d > 0; --d) {
    const int64_t size = ix.shape[d];
    int64_t quotient;
    if (((static_cast<uint64_t>(index) | static_cast<uint64_t>(size)) >> 32) == 0) {
      quotient = static_cast<uint32_t>(index) / static_cast<uint32_t>(size);
    } else {
      quotient = index / size;
    }
    const int64_t i = index - quotient * size;
    index = quotient;
    for (int k = 0; k < N; ++k) off[k] += i * ix.strides[k][d];
  }
  if (ix.rank > 0) {
    for (int k = 0; k < N; ++k) off[k] += index * ix.strides[k][0];
  }
}

// Combines every thread's `value` of the block with `merge` (associative); thread 0 gets
// the result. `shared` holds blockDim.x values; blockDim.x is a power of two.
template <typename A, typename M>
__device__ __forceinline__ A BlockReduce(A value, A* shared, M merge) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] = merge(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  const A result = shared[0];
  __syncthreads();  // shared is reused by the next group
  return result;
}

// A grid-stride loop's bounds: enough blocks of kThreads to cover n, capped.
inline constexpr int kThreads = 256;
inline unsigned GridFor(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

#define FERRY_GRID_LOOP(i, n)                                                            \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Dense elementwise loops move 16 bytes of each operand per thread and step where every
// pointer is aligned for it: one 4-byte load per thread keeps too few bytes in flight to
// fill an H100's or H200's memory bus. kPack<Ts...> elements of the widest type make 16
// bytes; the launch needs only GridFor(PacksOf(n, kPack<...>)) threads.
template <typename... Ts>
inline constexpr int kPack = static_cast<int>(16 / std::max({sizeof(Ts)...}));

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

inline int64_t PacksOf(int64_t n, int pack) { return (n + pack - 1) / pack; }

template <int V, typename... Ts>
__device__ __forceinline__ bool PackAligned(const Ts*... p) {
  return ((reinterpret_cast<uintptr_t>(p) % (sizeof(Ts) * V) == 0) && ...);
}

// out[i] = f(Load(a + i)) for i < n: packs where aligned, then single elements for the rest.
// out may be a: each pack (or element) is read before it is written.
template <typename O, typename A, typename F>
__device__ __forceinline__ void DenseMap(int64_t n, O* out, const A* a, F f) {
  constexpr int V = kPack<O, A>;
  int64_t done = 0;
  if (PackAligned<V>(out, a)) {
    done = n / V * V;
    FERRY_GRID_LOOP(p, n / V) {
      const Pack<A, V> in = reinterpret_cast<const Pack<A, V>*>(a)[p];
      Pack<O, V> result;
#pragma unroll
      for (int j = 0; j < V; ++j) Store(&result.v[j], f(Load(&in.v[j])));
      reinterpret_cast<Pack<O, V>*>(out)[p] = result;
    }
  }
  FERRY_GRID_LOOP(i, n - done) { Store(out + done + i, f(Load(a + done + i))); }
}

// out[i] = f(Load(a + i), Load(b + i)), as the one-operand DenseMap.
template <typename O, typename A, typename B, typename F>
__device__ __forceinline__ void DenseMap(int64_t n, O* out, const A* a, const B* b, F f) {
  constexpr int V = kPack<O, A, B>;
  int64_t done = 0;
  if (PackAligned<V>(out, a, b)) {
    done = n / V * V;
    FERRY_GRID_LOOP(p, n / V) {
      const Pack<A, V> in_a = reinterpret_cast<const Pack<A, V>*>(a)[p];
      const Pack<B, V> in_b = reinterpret_cast<const Pack<B, V>*>(b)[p];
      Pack<O, V> result;
#pragma unroll
      for (int j = 0; j < V; ++j) Store(&result.v[j], f(Load(&in_a.v[j]), Load(&in_b.v[j])));
      reinterpret_cast<Pack<O, V>*>(out)[p] = result;
    }
  }
  FERRY_GRID_LOOP(i, n - done) { Store(out + done + i, f(Load(a + done + i), Load(b + done + i))); }
}

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_DEVICE_CUH_
