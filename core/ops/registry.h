#ifndef FERRY_CORE_OPS_REGISTRY_H_
#define FERRY_CORE_OPS_REGISTRY_H_

#include <vector>

#include "core/ops.h"

// Internal to core: each op family adds its declarations to the table that ops.cc builds
// once, on first use.
namespace ferry::core::ops_internal {

using OpTable = std::vector<OpDef>;

void RegisterLeafOps(OpTable& table);     // parameter constant full arange
void RegisterRandomOps(OpTable& table);   // random_uniform random_normal
void RegisterUnaryOps(OpTable& table);    // neg abs exp ... erf
void RegisterBinaryOps(OpTable& table);   // add sub ... logical_or
void RegisterWhereOp(OpTable& table);     // where
void RegisterAstypeOp(OpTable& table);    // astype view
void RegisterReduceOps(OpTable& table);   // sum prod mean max min argmax argmin
void RegisterMatmulOp(OpTable& table);    // matmul gather_mm
void RegisterLayoutOps(OpTable& table);   // reshape transpose broadcast_to slice concatenate
void RegisterSoftmaxOps(OpTable& table);  // softmax logsumexp
// ---- part A ----
void RegisterScanOps(OpTable& table);  // cumsum cumprod cummax cummin logcumsumexp
// Ops part B (indexing, sorting, convolution; random_bits is in RegisterRandomOps).
void RegisterIndexingOps(OpTable& table);    // gather scatter scatter_add ... slice_update
void RegisterSortOps(OpTable& table);        // sort argsort partition argpartition
void RegisterConvolutionOp(OpTable& table);  // convolution
void RegisterQuantizedOps(OpTable& table);   // quantized_matmul gather_qmm
void RegisterLinalgOps(OpTable& table);      // cholesky solve ... eigh lu eig
void RegisterComplexOps(OpTable& table);     // real imag conjugate fft
void RegisterCollectiveOps(OpTable& table);  // all_* sum_scatter send recv
void RegisterGatedDeltaOp(OpTable& table);   // gated_delta gated_delta_vjp

}  // namespace ferry::core::ops_internal

#endif  // FERRY_CORE_OPS_REGISTRY_H_
