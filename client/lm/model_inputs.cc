#include "client/lm/model_inputs.h"

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "core/shape.h"

namespace ferry::lm {

void CheckModelInputs(const char* model, const Array& tokens, const std::vector<KVCache>* cache,
                      size_t layers) {
  if (tokens.ndim() != 2) {
    detail::ThrowOpError(model, absl::StrCat("tokens must be (batch, length), got shape ",
                                             core::ShapeToString(tokens.shape()), "."));
  }
  if (cache && cache->size() != layers) {
    detail::ThrowOpError(
        model, absl::StrCat("the cache holds ", cache->size(), " layers, the model ", layers, "."));
  }
}

}  // namespace ferry::lm
