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

Array Embedding::operator()(const Array& indices) { return take(parameter("weight"), indices, 0); }

Array Embedding::as_linear(const Array& x) const {
  return matmul(x, transpose(parameter("weight")));
}

}  // namespace ferry::nn
