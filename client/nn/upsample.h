#ifndef FERRY_CLIENT_NN_UPSAMPLE_H_
#define FERRY_CLIENT_NN_UPSAMPLE_H_

// Upsampling of channels-last x (N, spatial..., C) by a scale per spatial axis, as MLX's:
// nearest, linear or cubic (Keys' a = -0.75; -0.5 with antialias), corners aligned or not,
// and for linear and cubic, antialiased (the kernel widened by 1 / scale when shrinking).
// Each axis is interpolated in turn: a gather of its taps (indices and weights computed here,
// in float32 as MLX computes them) and a weighted sum, so gradients flow to x.

#include <string>
#include <vector>

#include "client/nn/module.h"

namespace ferry::nn {

Array upsample_nearest(const Array& x, const std::vector<double>& scale_factor);
Array upsample_linear(const Array& x, const std::vector<double>& scale_factor,
                      bool align_corners = false, bool antialias = false);
Array upsample_cubic(const Array& x, const std::vector<double>& scale_factor,
                     bool align_corners = false, bool antialias = false);

class Upsample : public Layer {
 public:
  // One scale per spatial axis, or one for all; mode "nearest", "linear" or "cubic".
  explicit Upsample(std::vector<double> scale_factor, const std::string& mode = "nearest",
                    bool align_corners = false, bool antialias = false);
  explicit Upsample(double scale_factor, const std::string& mode = "nearest",
                    bool align_corners = false, bool antialias = false)
      : Upsample(std::vector<double>{scale_factor}, mode, align_corners, antialias) {}
  Array operator()(const Array& x) override;

 private:
  std::vector<double> scale_factor_;
  std::string mode_;
  bool align_corners_, antialias_;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_UPSAMPLE_H_
