#ifndef FERRY_CLIENT_NN_EMBEDDING_H_
#define FERRY_CLIENT_NN_EMBEDDING_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "client/nn/quantizable.h"

namespace ferry::nn {

// Rows of weight (num_embeddings, dims) by integer index, drawn normal with standard
// deviation sqrt(1 / dims), as MLX's Embedding. Quantized (quantize()), it is MLX's
// QuantizedEmbedding: the rows' codes dequantized.
class Embedding : public QuantizableLayer {
 public:
  Embedding(int64_t num_embeddings, int64_t dims);
  Array operator()(const Array& indices) override;
  // x @ weight.T: the output layer of a model whose input and output embeddings are tied.
  Array as_linear(const Array& x) const;

  // What fine-tuning adds to an embedding in place (LoRA, client/lm/tuner/lora.h), as
  // Linear's adapter: adapter(indices) added to the rows, in their dtype, and
  // adapter.as_linear(x) to as_linear's output; a ReplacingAdapter's outputs are the
  // layer's (DoRA). Its parameters are named as the layer's own. nullptr removes it.
  class Adapter : public Layer {
   public:
    virtual Array as_linear(const Array& x) = 0;
  };
  void set_adapter(std::unique_ptr<Adapter> adapter) { set_inline_module(std::move(adapter)); }
  Adapter* adapter() const { return dynamic_cast<Adapter*>(inline_module()); }
};

// MLX's QuantizedEmbedding: an Embedding drawn as usual, then quantized.
class QuantizedEmbedding : public Embedding {
 public:
  QuantizedEmbedding(int64_t num_embeddings, int64_t dims,
                     std::optional<int> group_size = std::nullopt,
                     std::optional<int> bits = std::nullopt, const std::string& mode = "affine");
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_EMBEDDING_H_
