#ifndef FERRY_CLIENT_NN_EMBEDDING_H_
#define FERRY_CLIENT_NN_EMBEDDING_H_

#include <cstdint>

#include "client/nn/module.h"

namespace ferry::nn {

// Rows of weight (num_embeddings, dims) by integer index, drawn normal with standard
// deviation sqrt(1 / dims), as MLX's Embedding.
class Embedding : public Layer {
 public:
  Embedding(int64_t num_embeddings, int64_t dims);
  Array operator()(const Array& indices) override;
  // x @ weight.T: the output layer of a model whose input and output embeddings are tied.
  Array as_linear(const Array& x) const;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_EMBEDDING_H_
