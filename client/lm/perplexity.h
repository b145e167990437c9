#ifndef FERRY_CLIENT_LM_PERPLEXITY_H_
#define FERRY_CLIENT_LM_PERPLEXITY_H_

// mlx_lm.perplexity: how well a model predicts text, e^(the mean cross-entropy of each next
// token), with its standard error; what a quantization (convert.h) costs a model, measured.

#include <cstdint>
#include <vector>

#include "client/array.h"
#include "client/lm/model.h"

namespace ferry::lm {

struct Perplexity {
  double perplexity;
  double standard_error;  // of the perplexity, by the delta method
  int64_t tokens;         // predicted
};

// mlx_lm.perplexity's eval_ppl: the rows of `data` (N, L) int32, batch_size at a time, each
// token after the first predicted from those before it; the standard error from the
// per-token losses' (ddof 1) as mlx-lm's. Throws INVALID_ARGUMENT for data that is not
// (N, L) with L >= 2.
Perplexity perplexity(Model& model, const Array& data, int batch_size = 8);

// mlx_lm.perplexity's load_data: the token sequences, concatenated in a shuffled order (by
// `seed`, with the C++ library's generator: not NumPy's order), cut into rows of
// sequence_length, num_samples of them (-1: all there are). (N, sequence_length) int32.
Array perplexity_rows(const std::vector<std::vector<int32_t>>& sequences, int sequence_length,
                      int num_samples, uint64_t seed, const Device& device = default_device());

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_PERPLEXITY_H_
