#include "client/nn/quantizable.h"

#include <vector>

#include "client/array_node.h"
#include "client/ops.h"

namespace ferry::nn {

void QuantizableLayer::quantize(std::optional<int> group_size, std::optional<int> bits,
                                const std::string& mode) {
  if (quantized()) detail::ThrowOpError("quantize", "the layer is quantized already.");
  std::vector<Array> packed = ferry::quantize(parameter("weight"), group_size, bits, mode);
  set_parameter("weight", packed[0]);
  register_parameter("scales", packed[1], /*trainable=*/false);
  if (packed.size() > 2) register_parameter("biases", packed[2], /*trainable=*/false);
  make_untrainable();
  quantization_ = Quantization{group_size, bits, mode};
}

void QuantizableLayer::unquantize() {
  if (!quantized()) detail::ThrowOpError("unquantize", "the layer is not quantized.");
  const Quantization& q = *quantization_;
  Array weight = ferry::dequantize(parameter("weight"), parameter("scales"), quantized_biases(),
                                   q.group_size, q.bits, q.mode);
  std::optional<Array> bias;
  if (has_parameter("bias")) bias = parameter("bias");
  // Registered again, in their order, so they train as a fresh layer's would.
  for (const char* name : {"weight", "bias", "scales", "biases"}) {
    if (has_parameter(name)) remove_parameter(name);
  }
  register_parameter("weight", std::move(weight));
  if (bias) register_parameter("bias", *bias);
  quantization_.reset();
}

std::optional<Array> QuantizableLayer::quantized_biases() const {
  if (!has_parameter("biases")) return std::nullopt;
  return parameter("biases");
}

namespace {

void QuantizeUnder(const std::string& path, Module& module, std::optional<int> group_size,
                   std::optional<int> bits, const std::string& mode,
                   const QuantizePredicate& predicate) {
  auto* layer = dynamic_cast<QuantizableLayer*>(&module);
  if (layer != nullptr && !layer->quantized() && (!predicate || predicate(path, module))) {
    layer->quantize(group_size, bits, mode);
  }
  for (auto& [name, child] : module.children()) {
    QuantizeUnder(path.empty() ? name : path + "." + name, *child, group_size, bits, mode,
                  predicate);
  }
}

}  // namespace

void quantize(Module& model, std::optional<int> group_size, std::optional<int> bits,
              const std::string& mode, const QuantizePredicate& predicate) {
  QuantizeUnder("", model, group_size, bits, mode, predicate);
}

}  // namespace ferry::nn
