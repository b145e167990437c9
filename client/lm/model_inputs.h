#ifndef FERRY_CLIENT_LM_MODEL_INPUTS_H_
#define FERRY_CLIENT_LM_MODEL_INPUTS_H_

// What every model checks of its call (Model::operator()) before building anything.

#include <cstddef>
#include <vector>

#include "client/array.h"
#include "client/lm/kv_cache.h"

namespace ferry::lm {

// Throws INVALID_ARGUMENT, naming `model`, for tokens that are not (batch, length) or a
// cache of another number of layers than `layers`.
void CheckModelInputs(const char* model, const Array& tokens, const std::vector<KVCache>* cache,
                      size_t layers);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MODEL_INPUTS_H_
