#ifndef FERRY_KERNELS_CONV_GEOMETRY_H_
#define FERRY_KERNELS_CONV_GEOMETRY_H_

// A convolution's geometry, channels last as MLX (core/ops.h): x (batch, spatial..., c_in),
// w (c_out, spatial..., c_in / groups), y (batch, spatial..., c_out). Spatial dims are padded
// to three with extent 1, stride 1, padding 0 and dilation 1, so every kernel loops over
// three. Plain C++: nvcc reads it too (kernels/cuda/launch.h).
//
// Backends run a convolution lowered to matrix products ("im2col"): a lowered matrix has a
// row per output position (batch x output extents) and, per group, a column per kernel tap
// and input channel of the group, laid out [group][k0][k1][k2][channel]; group g of y is
// then lowered[:, group g] @ w_g^T, w_g being the group's c_out / groups rows of w.

#include <cstddef>
#include <cstdint>

#include "core/host_device.h"

namespace ferry::kernels {

inline constexpr int kConvSpatialDims = 3;

struct ConvGeometry {
  int64_t stride[kConvSpatialDims], lo[kConvSpatialDims], dil[kConvSpatialDims];
  int64_t in_dim[kConvSpatialDims], k_dim[kConvSpatialDims], out_dim[kConvSpatialDims];
  int64_t batch, c_in, c_out, groups;
};

// An output position: the batch index and the output coordinates.
struct ConvPosition {
  int64_t n, o[kConvSpatialDims];
};

// The output position of row `row` of the lowered matrix (rows run batch-major, as y's).
FERRY_HOST_DEVICE inline ConvPosition PositionOfRow(const ConvGeometry& g, int64_t row) {
  ConvPosition p;
  for (int d = kConvSpatialDims - 1; d >= 0; --d) {
    p.o[d] = row % g.out_dim[d];
    row /= g.out_dim[d];
  }
  p.n = row;
  return p;
}

// Where x holds channel 0 of tap (k0, k1, k2) of output position p, or -1 when the tap lies
// in the padding.
FERRY_HOST_DEVICE inline int64_t TapOffset(const ConvGeometry& g, const ConvPosition& p, int64_t k0,
                                           int64_t k1, int64_t k2) {
  const int64_t k[kConvSpatialDims] = {k0, k1, k2};
  int64_t offset = p.n;
  for (int d = 0; d < kConvSpatialDims; ++d) {
    const int64_t i = p.o[d] * g.stride[d] - g.lo[d] + k[d] * g.dil[d];
    if (i < 0 || i >= g.in_dim[d]) return -1;
    offset = offset * g.in_dim[d] + i;
  }
  return offset * g.c_in;
}

// Rows of the lowered matrix: batch x output positions.
int64_t LoweredRows(const ConvGeometry& g);

// Columns of one group of the lowered matrix: kernel taps x input channels of the group.
int64_t LoweredDepth(const ConvGeometry& g);

// Whether x itself is the lowered matrix: a 1x1 kernel at stride 1 without padding.
bool LoweringIsIdentity(const ConvGeometry& g);

// How many rows of the lowered matrix one pass builds: as many as fit in `budget_bytes` of
// `element_bytes` elements, at least one, at most every row. The CPU keeps a pass in its
// caches; the GPU's passes are large, for products that fill the device.
int64_t LoweredRowsPerPass(const ConvGeometry& g, size_t element_bytes, size_t budget_bytes);

// Tests cap every budget to run several passes; 0 removes the cap.
void SetLoweringBudgetForTesting(size_t bytes);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_CONV_GEOMETRY_H_
