#include "client/nn/normalization.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/ops.h"

namespace ferry::nn {
namespace {

void CheckDims(const char* layer, int64_t dims) {
  if (dims <= 0) detail::ThrowOpError(layer, absl::StrCat("dims (", dims, ") must be positive."));
}

}  // namespace

LayerNorm::LayerNorm(int64_t dims, float eps, bool affine, bool bias) : eps_(eps) {
  CheckDims("LayerNorm", dims);
  if (!affine) return;
  register_parameter("weight", ones({dims}));
  if (bias) register_parameter("bias", zeros({dims}));
}

Array LayerNorm::operator()(const Array& x) {
  std::optional<Array> weight;
  std::optional<Array> bias;
  if (has_parameter("weight")) weight = parameter("weight");
  if (has_parameter("bias")) bias = parameter("bias");
  return fast::layer_norm(x, weight, bias, eps_);
}

RMSNorm::RMSNorm(int64_t dims, float eps) : eps_(eps) {
  CheckDims("RMSNorm", dims);
  register_parameter("weight", ones({dims}));
}

Array RMSNorm::operator()(const Array& x) { return fast::rms_norm(x, parameter("weight"), eps_); }

}  // namespace ferry::nn
