#ifndef FERRY_CLIENT_NN_LINEAR_H_
#define FERRY_CLIENT_NN_LINEAR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "client/nn/quantizable.h"

namespace ferry::nn {

// x @ weight.T + bias, weight (output_dims, input_dims); both drawn uniform in
// +-sqrt(1 / input_dims), as MLX's Linear. Quantized (quantize()), it is MLX's
// QuantizedLinear: quantized_matmul of x with the codes.
class Linear : public QuantizableLayer {
 public:
  Linear(int64_t input_dims, int64_t output_dims, bool bias = true);
  Array operator()(const Array& x) override;

  // Adds adapter(x) to the layer's output, quantized or not: how fine-tuning adapts a Linear
  // that a model holds by reference, where MLX swaps the layer for a wrapper (LoRA,
  // client/lm/tuner/lora.h). Its parameters are named as the layer's own
  // (set_inline_module), and stay trainable when the layer's are not. A ReplacingAdapter's
  // output is the layer's (DoRA). nullptr removes it.
  void set_adapter(std::unique_ptr<Layer> adapter) { set_inline_module(std::move(adapter)); }
  Layer* adapter() const { return dynamic_cast<Layer*>(inline_module()); }
};

// x itself, as MLX's Identity (a placeholder a model may swap for a layer).
class Identity : public Layer {
 public:
  Array operator()(const Array& x) override { return x; }
};

// y_i = x2 . (weight_i x1) + bias_i, weight (output_dims, input2_dims, input1_dims) and bias
// drawn uniform in +-sqrt(1 / input1_dims), as MLX's Bilinear.
class Bilinear : public Module {
 public:
  Bilinear(int64_t input1_dims, int64_t input2_dims, int64_t output_dims, bool bias = true);
  Array operator()(const Array& x1, const Array& x2);
};

// MLX's QuantizedLinear: a Linear drawn as usual, then quantized.
class QuantizedLinear : public Linear {
 public:
  QuantizedLinear(int64_t input_dims, int64_t output_dims, bool bias = true,
                  std::optional<int> group_size = std::nullopt,
                  std::optional<int> bits = std::nullopt, const std::string& mode = "affine");
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_LINEAR_H_
