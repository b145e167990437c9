// gated_delta_vjp, as kernels/cpu/gated_delta_vjp.cc, in float32: a block per (batch row,
// value head). Its threads recompute the forward over the value rows (a row's update reads
// only that row), keeping every C-th state in scratch, then go back through each segment
// of C steps recomputed from its checkpoint. A step back runs in three phases between
// barriers: over the rows (each row's delta and its cotangent), over the columns (dq, dk
// and the vector gate's dg sum over the rows), over the rows again (the state's
// cotangent). Per-step vectors shared between the phases live in the block's scratch.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

// Where each cotangent starts in a batch row of the result (core/gated_delta_layout.h).
struct GradLayout {
  int64_t k_at, v_at, g_at, beta_at, state_at, row_size, forward_row_size, y_size;
};

__device__ __forceinline__ GradLayout GradLayoutOf(const GatedDeltaVjpArgs& a) {
  GradLayout l;
  l.k_at = a.t * a.hv * a.dk;
  l.v_at = 2 * l.k_at;
  l.g_at = l.v_at + a.t * a.hv * a.dv;
  l.beta_at = l.g_at + a.t * a.hv * (a.vector_gate ? a.dk : 1);
  l.state_at = l.beta_at + a.t * a.hv;
  l.row_size = l.state_at + a.hv * a.dv * a.dk;
  l.y_size = a.t * a.hv * a.dv;
  l.forward_row_size = l.y_size + a.hv * a.dv * a.dk;
  return l;
}

struct Step {
  const float *q, *k, *v, *g;
  int64_t g_step;
  float beta;
  bool keep;
};

__device__ __forceinline__ Step StepAt(const GatedDeltaVjpArgs& a, int64_t b, int64_t h,
                                       int64_t t) {
  const int64_t hq = h / (a.hv / a.hk);
  const int64_t bt = b * a.t + t;
  Step st;
  st.q = a.q + (bt * a.hk + hq) * a.dk;
  st.k = a.k + (bt * a.hk + hq) * a.dk;
  st.v = a.v + (bt * a.hv + h) * a.dv;
  st.g = a.g + (bt * a.hv + h) * (a.vector_gate ? a.dk : 1);
  st.g_step = a.vector_gate ? 1 : 0;
  st.beta = a.beta[bt * a.hv + h];
  st.keep = a.mask == nullptr || a.mask[bt] != 0;
  return st;
}

// The forward's update of one state row (Dk entries).
__device__ void ForwardRow(const GatedDeltaVjpArgs& a, const Step& st, int64_t i, float* row) {
  if (!st.keep) return;
  float kv = 0;
  for (int64_t j = 0; j < a.dk; ++j) kv += row[j] * st.g[j * st.g_step] * st.k[j];
  const float delta = (st.v[i] - kv) * st.beta;
  for (int64_t j = 0; j < a.dk; ++j) row[j] = row[j] * st.g[j * st.g_step] + st.k[j] * delta;
}

__global__ void VjpKernel(GatedDeltaVjpArgs a, float* out, float* scratch) {
  const int64_t b = blockIdx.x / a.hv, h = blockIdx.x % a.hv;
  const GradLayout l = GradLayoutOf(a);
  const int64_t size = a.dv * a.dk, c = a.interval, segments = (a.t + c - 1) / c;
  float* checkpoints = scratch + blockIdx.x * a.scratch_per_block;
  float* states = checkpoints + segments * size;
  float* delta_s = states + c * size;  // per value row: delta, its cotangent, dbeta's part
  float* ddelta_s = delta_s + a.dv;
  float* dbeta_s = ddelta_s + a.dv;
  float* dg_s = dbeta_s + a.dv;  // per column: a scalar gate's parts
  float* row_out = out + b * l.row_size;
  float* ds = row_out + l.state_at + h * size;  // the state, then its cotangent
  const float* cotangent = a.cotangent + b * l.forward_row_size;
  const int tid = threadIdx.x, threads = blockDim.x;

  for (int64_t i = tid; i < a.dv; i += threads) {
    float* row = ds + i * a.dk;
    const float* init = a.state + ((b * a.hv + h) * a.dv + i) * a.dk;
    for (int64_t j = 0; j < a.dk; ++j) row[j] = init[j];
    for (int64_t t = 0; t < a.t; ++t) {
      if (t % c == 0) {
        float* saved = checkpoints + t / c * size + i * a.dk;
        for (int64_t j = 0; j < a.dk; ++j) saved[j] = row[j];
      }
      ForwardRow(a, StepAt(a, b, h, t), i, row);
    }
    const float* final_cotangent = cotangent + l.y_size + (h * a.dv + i) * a.dk;
    for (int64_t j = 0; j < a.dk; ++j) row[j] = final_cotangent[j];
  }
  for (int64_t seg = segments - 1; seg >= 0; --seg) {
    const int64_t t0 = seg * c, t1 = min(a.t, t0 + c);
    for (int64_t i = tid; i < a.dv; i += threads) {
      const float* saved = checkpoints + seg * size + i * a.dk;
      for (int64_t j = 0; j < a.dk; ++j) states[i * a.dk + j] = saved[j];
      for (int64_t t = t0 + 1; t < t1; ++t) {
        float* row = states + (t - t0) * size + i * a.dk;
        for (int64_t j = 0; j < a.dk; ++j) row[j] = row[j - size];
        ForwardRow(a, StepAt(a, b, h, t - 1), i, row);
      }
    }
    __syncthreads();
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const Step st = StepAt(a, b, h, t);
      const float* prev = states + (t - t0) * size;
      const int64_t th = t * a.hv + h;
      const float* dy = cotangent + th * a.dv;
      for (int64_t i = tid; i < a.dv; i += threads) {
        float kv = 0, ddelta = 0;
        for (int64_t j = 0; j < a.dk; ++j) {
          kv += prev[i * a.dk + j] * st.g[j * st.g_step] * st.k[j];
          ddelta += (dy[i] * st.q[j] + (st.keep ? ds[i * a.dk + j] : 0.0f)) * st.k[j];
        }
        const float diff = st.v[i] - kv;
        delta_s[i] = diff * st.beta;
        ddelta_s[i] = ddelta;
        dbeta_s[i] = ddelta * diff;
        row_out[l.v_at + th * a.dv + i] = ddelta * st.beta;
      }
      __syncthreads();
      for (int64_t j = tid; j < a.dk; j += threads) {
        const float gj = st.g[j * st.g_step];
        float dq = 0, dk = 0, dg = 0;
        for (int64_t i = 0; i < a.dv; ++i) {
          const float s = prev[i * a.dk + j];
          const float du = dy[i] * st.q[j] + (st.keep ? ds[i * a.dk + j] : 0.0f);
          const float dkv = -ddelta_s[i] * st.beta;
          dq += (s * gj + st.k[j] * delta_s[i]) * dy[i];
          dk += du * delta_s[i] + dkv * s * gj;
          dg += (du + dkv * st.k[j]) * s;
        }
        row_out[th * a.dk + j] = dq;
        row_out[l.k_at + th * a.dk + j] = dk;
        if (a.vector_gate) {
          row_out[l.g_at + th * a.dk + j] = dg;
        } else {
          dg_s[j] = dg;
        }
      }
      __syncthreads();
      for (int64_t i = tid; i < a.dv; i += threads) {
        const float dkv = -ddelta_s[i] * st.beta;
        for (int64_t j = 0; j < a.dk; ++j) {
          const float gj = st.g[j * st.g_step];
          float& dsij = ds[i * a.dk + j];
          const float du = dy[i] * st.q[j] + (st.keep ? dsij : 0.0f);
          dsij = (st.keep ? 0.0f : dsij) + (du + dkv * st.k[j]) * gj;
        }
      }
      if (tid == 0) {
        float dbeta = 0;
        for (int64_t i = 0; i < a.dv; ++i) dbeta += dbeta_s[i];
        row_out[l.beta_at + th] = dbeta;
        if (!a.vector_gate) {
          float dg = 0;
          for (int64_t j = 0; j < a.dk; ++j) dg += dg_s[j];
          row_out[l.g_at + th] = dg;
        }
      }
      __syncthreads();
    }
  }
}

}  // namespace

cudaError_t LaunchGatedDeltaVjp(const GatedDeltaVjpArgs& args, float* out, float* scratch,
                                cudaStream_t stream) {
  const int64_t blocks = args.b * args.hv;
  if (blocks == 0) return cudaSuccess;
  if (blocks >= (int64_t{1} << 31)) return cudaErrorInvalidConfiguration;  // a grid's x limit
  VjpKernel<<<static_cast<unsigned>(blocks), 128, 0, stream>>>(args, out, scratch);
  return cudaGetLastError();
}

}  // namespace ferry::kernels::cuda
