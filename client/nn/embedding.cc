#include "client/nn/embedding.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t dims) {
  if (num_embeddings <= 0 || dims <= 0) {
    detail::ThrowOpError("Embedding", absl::StrCat("num_embeddings (", num_embeddings,
                                                   ") and dims (", dims, ") must be positive."));
  }
  register_parameter("weight", random::normal({num_embeddings, dims}, float32, 0.0,
                                              std::sqrt(1.0 / static_cast<double>(dims))));
}

Array Embedding::operator()(const Array& indices) {
  Adapter* extra = adapter();
  if (dynamic_cast<ReplacingAdapter*>(extra) != nullptr) return (*extra)(indices);
  const Array& weight = parameter("weight");
  const std::optional<Quantization>& q = quantization();
  Array y = weight;
  if (!q) {
    y = take(weight, indices, 0);
  } else {
    std::optional<Array> biases = quantized_biases();
    if (biases) biases = take(*biases, indices, 0);
    y = dequantize(take(weight, indices, 0), take(parameter("scales"), indices, 0), biases,
                   q->group_size, q->bits, q->mode);
  }
  if (extra != nullptr) y = y + astype((*extra)(indices), y.dtype());
  return y;
}

Array Embedding::as_linear(const Array& x) const {
  Adapter* extra = adapter();
  if (dynamic_cast<ReplacingAdapter*>(extra) != nullptr) return extra->as_linear(x);
  const Array& weight = parameter("weight");
  Array y = x;
  if (const std::optional<Quantization>& q = quantization()) {
    y = quantized_matmul(x, weight, parameter("scales"), quantized_biases(), /*transpose=*/true,
                         q->group_size, q->bits, q->mode);
  } else {
    y = matmul(x, transpose(weight));
  }
  if (extra != nullptr) y = y + extra->as_linear(x);
  return y;
}

QuantizedEmbedding::QuantizedEmbedding(int64_t num_embeddings, int64_t dims,
                                       std::optional<int> group_size, std::optional<int> bits,
                                       const std::string& mode)
    : Embedding(num_embeddings, dims) {
  quantize(group_size, bits, mode);
}

}  // namespace ferry::nn
