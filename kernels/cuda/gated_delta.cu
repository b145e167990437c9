// gated_delta, as kernels/cpu/gated_delta.cc, in float32. A block takes kRows value rows of
// one (batch row, value head), 32 lanes to a row; lane l keeps the row's state entries
// j = l + 32 p in registers through all T steps, and each step's two sums over j (S k and
// S q) go through shared memory. Dk past 32 * 8 takes RowKernel: a thread per value row,
// its state in the output (core/gated_delta_layout.h).

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

constexpr int kLanes = 32;
constexpr int kRows = 8;

struct Layout {
  int64_t y_size, row_size;
};

__device__ __forceinline__ Layout LayoutOf(const GatedDeltaArgs& a) {
  const int64_t y_size = a.t * a.hv * a.dv;
  return {y_size, y_size + a.hv * a.dv * a.dk};
}

// The sum of the kLanes partials of each row (every lane reads them all, in lane order).
__device__ __forceinline__ float RowSum(float (*partials)[kLanes], int row, int lane,
                                        float partial) {
  partials[row][lane] = partial;
  __syncthreads();
  float sum = 0;
  for (int l = 0; l < kLanes; ++l) sum += partials[row][l];
  return sum;
}

template <int kPer>
__global__ void TiledKernel(GatedDeltaArgs a, float* out) {
  __shared__ float kv_partials[kRows][kLanes];
  __shared__ float y_partials[kRows][kLanes];
  const int lane = threadIdx.x % kLanes, row = threadIdx.x / kLanes;
  const int64_t tiles = (a.dv + kRows - 1) / kRows;
  const int64_t h = blockIdx.x / tiles % a.hv, b = blockIdx.x / tiles / a.hv;
  const int64_t i = blockIdx.x % tiles * kRows + row;
  const bool active = i < a.dv;          // a past-the-end row still joins every barrier
  const int64_t hq = h / (a.hv / a.hk);  // the q/k head value head h reads (GQA)
  const Layout layout = LayoutOf(a);
  const int64_t state_at = ((b * a.hv + h) * a.dv + i) * a.dk;
  float s[kPer];
#pragma unroll
  for (int p = 0; p < kPer; ++p) {
    const int64_t j = lane + kLanes * p;
    s[p] = active && j < a.dk ? a.state[state_at + j] : 0.0f;
  }
  for (int64_t t = 0; t < a.t; ++t) {
    const int64_t bt = b * a.t + t;
    const float* q = a.q + (bt * a.hk + hq) * a.dk;
    const float* k = a.k + (bt * a.hk + hq) * a.dk;
    const float* g = a.g + (bt * a.hv + h) * (a.vector_gate ? a.dk : 1);
    float gated[kPer], kj[kPer];
    float kv = 0;
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int64_t j = lane + kLanes * p;
      const bool in = j < a.dk;
      gated[p] = in ? s[p] * g[a.vector_gate ? j : 0] : 0.0f;
      kj[p] = in ? k[j] : 0.0f;
      kv += gated[p] * kj[p];
    }
    kv = RowSum(kv_partials, row, lane, kv);
    const float delta =
        active ? (a.v[(bt * a.hv + h) * a.dv + i] - kv) * a.beta[bt * a.hv + h] : 0.0f;
    const bool keep = a.mask == nullptr || a.mask[bt] != 0;
    float y = 0;
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int64_t j = lane + kLanes * p;
      const float updated = gated[p] + kj[p] * delta;
      if (j < a.dk) y += updated * q[j];
      if (keep) s[p] = updated;  // a masked-out step's y only (mlx-lm's where)
    }
    y = RowSum(y_partials, row, lane, y);
    if (active && lane == 0) out[b * layout.row_size + (t * a.hv + h) * a.dv + i] = y;
  }
  if (!active) return;
  float* state_out = out + b * layout.row_size + layout.y_size + (h * a.dv + i) * a.dk;
#pragma unroll
  for (int p = 0; p < kPer; ++p) {
    const int64_t j = lane + kLanes * p;
    if (j < a.dk) state_out[j] = s[p];
  }
}

// Any Dk: a thread per value row, summing in the CPU's order.
__global__ void RowKernel(GatedDeltaArgs a, float* out) {
  const Layout layout = LayoutOf(a);
  const int64_t g_step = a.vector_gate ? 1 : 0;
  FERRY_GRID_LOOP(r, a.b * a.hv * a.dv) {
    const int64_t i = r % a.dv, h = (r / a.dv) % a.hv, b = r / (a.dv * a.hv);
    const int64_t hq = h / (a.hv / a.hk);
    float* s = out + b * layout.row_size + layout.y_size + r % (a.hv * a.dv) * a.dk;
    for (int64_t j = 0; j < a.dk; ++j) s[j] = a.state[r * a.dk + j];
    for (int64_t t = 0; t < a.t; ++t) {
      const int64_t bt = b * a.t + t;
      const float* q = a.q + (bt * a.hk + hq) * a.dk;
      const float* k = a.k + (bt * a.hk + hq) * a.dk;
      const float* g = a.g + (bt * a.hv + h) * (a.vector_gate ? a.dk : 1);
      const bool keep = a.mask == nullptr || a.mask[bt] != 0;
      float kv = 0;
      for (int64_t j = 0; j < a.dk; ++j) kv += s[j] * g[j * g_step] * k[j];
      const float delta = (a.v[(bt * a.hv + h) * a.dv + i] - kv) * a.beta[bt * a.hv + h];
      float y = 0;
      for (int64_t j = 0; j < a.dk; ++j) {
        const float updated = s[j] * g[j * g_step] + k[j] * delta;
        y += updated * q[j];
        if (keep) s[j] = updated;
      }
      out[b * layout.row_size + (t * a.hv + h) * a.dv + i] = y;
    }
  }
}

template <int kPer>
void LaunchTiled(const GatedDeltaArgs& args, float* out, int64_t blocks, cudaStream_t stream) {
  TiledKernel<kPer><<<static_cast<unsigned>(blocks), kLanes * kRows, 0, stream>>>(args, out);
}

}  // namespace

cudaError_t LaunchGatedDelta(const GatedDeltaArgs& args, float* out, cudaStream_t stream) {
  const int64_t rows = args.b * args.hv * args.dv;
  if (rows == 0) return cudaSuccess;
  const int64_t per = (args.dk + kLanes - 1) / kLanes;
  const int64_t blocks = args.b * args.hv * ((args.dv + kRows - 1) / kRows);
  if (per > 8 || blocks >= (int64_t{1} << 31)) {
    RowKernel<<<GridFor(rows), kThreads, 0, stream>>>(args, out);
  } else if (per == 1) {
    LaunchTiled<1>(args, out, blocks, stream);
  } else if (per == 2) {
    LaunchTiled<2>(args, out, blocks, stream);
  } else if (per <= 4) {
    LaunchTiled<4>(args, out, blocks, stream);
  } else {
    LaunchTiled<8>(args, out, blocks, stream);
  }
  return cudaGetLastError();
}

}  // namespace ferry::kernels::cuda
