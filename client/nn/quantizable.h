#ifndef FERRY_CLIENT_NN_QUANTIZABLE_H_
#define FERRY_CLIENT_NN_QUANTIZABLE_H_

#include <functional>
#include <optional>
#include <string>

#include "client/nn/module.h"

namespace ferry::nn {

// How a layer's weight was quantized (see ferry::quantize).
struct Quantization {
  std::optional<int> group_size;
  std::optional<int> bits;
  std::string mode;
};

// A layer whose "weight" can be quantized in place (Linear, Embedding), as MLX's
// to_quantized() makes their quantized twins: the weight becomes the packed codes beside
// "scales" (and "biases" in "affine" mode), named as MLX's QuantizedLinear and
// QuantizedEmbedding name them, and no parameter of the layer is trainable any more.
class QuantizableLayer : public Layer {
 public:
  // group_size and bits default to the mode's (64 and 4 for "affine").
  void quantize(std::optional<int> group_size = std::nullopt,
                std::optional<int> bits = std::nullopt, const std::string& mode = "affine");
  // Undoes quantize: the weight dequantized (MLX's dequantize of its codes, scales and
  // biases), "scales" and "biases" removed, and the layer trainable again, as a plain layer
  // (mlx-lm's fuse(dequantize=True)). Throws INVALID_ARGUMENT when it is not quantized.
  void unquantize();
  bool quantized() const { return quantization_.has_value(); }
  // How it was quantized (what a layer adapted in place, such as LoRA's, needs to
  // dequantize it and quantize it again); none when it is not.
  const std::optional<Quantization>& quantization() const { return quantization_; }

 protected:
  // "biases", or nothing in the modes without them.
  std::optional<Array> quantized_biases() const;

 private:
  std::optional<Quantization> quantization_;
};

// Marks an adapter (Linear::set_adapter, Embedding::set_adapter) that computes the adapted
// layer's whole output itself instead of an update the layer adds to its own: DoRA's, which
// rescales the output by a learned magnitude. The layer then returns the adapter's output.
class ReplacingAdapter {
 public:
  virtual ~ReplacingAdapter() = default;
};

// MLX's nn.quantize: quantizes, in place, every layer of `model` (itself included) that can
// be and is not yet, or those `predicate` (the layer's dotted path, the layer) accepts.
// Build a model, quantize it, then load_weights an MLX-quantized checkpoint into it.
using QuantizePredicate = std::function<bool(const std::string& path, Module& layer)>;
void quantize(Module& model, std::optional<int> group_size = std::nullopt,
              std::optional<int> bits = std::nullopt, const std::string& mode = "affine",
              const QuantizePredicate& predicate = nullptr);

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_QUANTIZABLE_H_
