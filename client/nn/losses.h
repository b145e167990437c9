#ifndef FERRY_CLIENT_NN_LOSSES_H_
#define FERRY_CLIENT_NN_LOSSES_H_

// Loss functions after MLX's mlx.nn.losses: the same formulas, argument order and default
// reductions (most "none", so a loss per element or row; l1, mse, smooth_l1, binary cross
// entropy and Gaussian NLL "mean"). Shapes that do not match throw INVALID_ARGUMENT
// ("[mse_loss] ...").

#include <optional>

#include "client/array.h"

namespace ferry::nn::losses {

enum class Reduction { kNone, kMean, kSum };

// logsumexp(logits) - the target's logit along `axis`. Targets are class indices (logits'
// shape without `axis`) or probabilities (logits' shape). With label smoothing s, the
// target's logit counts 1 - s and the mean logit s. `weights` (the loss's shape) scale
// each loss before the reduction.
Array cross_entropy(const Array& logits, const Array& targets,
                    const std::optional<Array>& weights = std::nullopt, int axis = -1,
                    double label_smoothing = 0.0, Reduction reduction = Reduction::kNone);
Array cross_entropy(const Array& logits, const Array& targets, Reduction reduction);

// Of logits (log(1 + e^x) - x t) or, without with_logits, of probabilities (logs clipped at
// -100); targets in {0, 1}, inputs' shape.
Array binary_cross_entropy(const Array& inputs, const Array& targets,
                           const std::optional<Array>& weights = std::nullopt,
                           bool with_logits = true, Reduction reduction = Reduction::kMean);

Array l1_loss(const Array& predictions, const Array& targets,
              Reduction reduction = Reduction::kMean);
Array mse_loss(const Array& predictions, const Array& targets,
               Reduction reduction = Reduction::kMean);
// -inputs[target] along `axis`, inputs being log probabilities.
Array nll_loss(const Array& inputs, const Array& targets, int axis = -1,
               Reduction reduction = Reduction::kNone);
// 0.5 (log(max(vars, eps)) + (targets - inputs)^2 / max(vars, eps)), + 0.5 log(2 pi) if full.
Array gaussian_nll_loss(const Array& inputs, const Array& targets, const Array& vars,
                        bool full = false, double eps = 1e-6,
                        Reduction reduction = Reduction::kMean);
// sum(exp(targets) (targets - inputs)) along `axis`; both log probabilities.
Array kl_div_loss(const Array& inputs, const Array& targets, int axis = -1,
                  Reduction reduction = Reduction::kNone);
// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta.
Array smooth_l1_loss(const Array& predictions, const Array& targets, double beta = 1.0,
                     Reduction reduction = Reduction::kMean);
// max(|a - p|_p - |a - n|_p + margin, 0) along `axis` (each p-norm of the sum plus eps).
Array triplet_loss(const Array& anchors, const Array& positives, const Array& negatives,
                   int axis = -1, int p = 2, double margin = 1.0, double eps = 1e-6,
                   Reduction reduction = Reduction::kNone);
// max(1 - inputs targets, 0), targets -1 or 1.
Array hinge_loss(const Array& inputs, const Array& targets, Reduction reduction = Reduction::kNone);
// 0.5 q^2 + delta (|d| - q), q = min(|d|, delta).
Array huber_loss(const Array& inputs, const Array& targets, double delta = 1.0,
                 Reduction reduction = Reduction::kNone);
// log(cosh(d)), computed as logaddexp(d, -d) - log 2.
Array log_cosh_loss(const Array& inputs, const Array& targets,
                    Reduction reduction = Reduction::kNone);
// x1 . x2 / max(|x1| |x2|, eps) along `axis`.
Array cosine_similarity_loss(const Array& x1, const Array& x2, int axis = 1, double eps = 1e-8,
                             Reduction reduction = Reduction::kNone);
// max(0, -targets (inputs1 - inputs2) + margin).
Array margin_ranking_loss(const Array& inputs1, const Array& inputs2, const Array& targets,
                          double margin = 0.0, Reduction reduction = Reduction::kNone);

}  // namespace ferry::nn::losses

#endif  // FERRY_CLIENT_NN_LOSSES_H_
