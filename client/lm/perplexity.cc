#include "client/lm/perplexity.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/nn/losses.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {

Perplexity perplexity(Model& model, const Array& data, int batch_size) {
  if (data.ndim() != 2 || data.shape(1) < 2 || batch_size < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[perplexity] data must be (N, L) token rows with L >= 2 and a "
                             "batch of 1 or more, got ",
                             core::ShapeToString(data.shape()), " and batch_size ", batch_size));
  }
  const int64_t n = data.shape(0), length = data.shape(1);
  std::vector<Array> losses;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t stop = std::min(n, start + batch_size);
    const Array inputs = slice(data, {start, 0}, {stop, length - 1});
    const Array targets = slice(data, {start, 1}, {stop, length});
    Array loss = reshape(nn::losses::cross_entropy(astype(model(inputs), float32), targets), {-1});
    eval({loss});  // a batch at a time: its logits need not outlive it
    losses.push_back(loss);
  }
  const Array all = concatenate(losses, 0);
  Array mean_loss = mean(all), deviation = std(all, /*keepdims=*/false, /*ddof=*/1);
  const double ppl = std::exp(mean_loss.item<float>());
  const int64_t tokens = all.size();
  return {ppl, ppl * deviation.item<float>() / std::sqrt(static_cast<double>(tokens)), tokens};
}

Array perplexity_rows(const std::vector<std::vector<int32_t>>& sequences, int sequence_length,
                      int num_samples, uint64_t seed, const Device& device) {
  if (sequence_length < 2) {
    throw Error(
        ErrorCode::kInvalidArgument,
        absl::StrCat("[perplexity] sequence_length must be 2 or more, got ", sequence_length));
  }
  std::vector<size_t> order(sequences.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  const size_t wanted = num_samples > 0 ? static_cast<size_t>(num_samples) * sequence_length
                                        : static_cast<size_t>(-1);
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < order.size() && tokens.size() < wanted; ++i) {
    tokens.insert(tokens.end(), sequences[order[i]].begin(), sequences[order[i]].end());
  }
  int64_t rows = static_cast<int64_t>(tokens.size()) / sequence_length;
  if (num_samples > 0) rows = std::min<int64_t>(rows, num_samples);
  if (rows == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[perplexity] the data holds ", tokens.size(),
                             " tokens, fewer than one row of ", sequence_length));
  }
  tokens.resize(static_cast<size_t>(rows * sequence_length));
  return from_host(tokens, {rows, sequence_length}, device);
}

}  // namespace ferry::lm
