#ifndef FERRY_CLIENT_LM_TUNER_LORA_H_
#define FERRY_CLIENT_LM_TUNER_LORA_H_

// LoRA as mlx-lm's tuner builds it (tuner/lora.py, tuner/utils.py): a frozen model whose
// chosen layers each add a trainable low-rank update, scale * (x @ lora_a) @ lora_b. Linear
// layers, a mixture's SwitchLinear (an update per expert) and embeddings are adapted, and
// over a quantized base layer it is QLoRA; DoRA (dora.h) rescales instead. The adapter's
// parameters carry mlx-lm's names ("model.layers.1.self_attn.q_proj.lora_a"), so
// adapters.safetensors files go both ways between ferry and mlx-lm.
//
//   model->freeze();
//   ferry::lm::tuner::linear_to_lora_layers(*model, /*num_layers=*/16, {.rank = 8});
//   ... train model->trainable_parameters() ...
//   ferry::lm::tuner::save_adapters(*model, "adapters", config);

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/lm/model.h"
#include "client/lm/switch_layers.h"
#include "client/nn/dropout.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm::tuner {

// mlx-lm's "lora_parameters" (its defaults): rank, scale (not alpha: the update is scaled
// by `scale` itself), dropout of the adapter's input, and the layers adapted by their path
// in each block ("self_attn.q_proj") or in the model ("model.embed_tokens"); every Linear,
// SwitchLinear and Embedding of the blocks when none are given.
struct LoRAConfig {
  int rank = 8;
  double scale = 20.0;
  double dropout = 0.0;
  std::optional<std::vector<std::string>> keys;
};

// The update mlx-lm's LoRALinear adds to its layer's output: lora_a (input_dims, rank)
// drawn uniform in +-1/sqrt(input_dims), lora_b (rank, output_dims) zeros, so an adapted
// model starts as the model itself.
class LoRALinear : public nn::Layer {
 public:
  LoRALinear(int64_t input_dims, int64_t output_dims, int rank = 8, double scale = 20.0,
             double dropout = 0.0);
  // scale * (dropout(x) @ lora_a) @ lora_b, in x's dtype.
  Array operator()(const Array& x) override;
  double scale() const { return scale_; }
  int rank() const { return static_cast<int>(parameter("lora_a").shape(1)); }
  // scale * lora_b.T @ lora_a.T, (output_dims, input_dims): what fuse adds to the weight.
  Array delta() const;

 private:
  double scale_;
  nn::Dropout& dropout_;
};

// mlx-lm's LoRASwitchLinear: an update per expert, lora_a (num_experts, rank, input_dims)
// drawn uniform in +-1/sqrt(input_dims) and lora_b (num_experts, output_dims, rank) zeros,
// each token's taken from the experts its router picked (gather_mm, with the base layer's
// indices).
class LoRASwitchLinear : public SwitchLinear::Adapter {
 public:
  LoRASwitchLinear(int64_t input_dims, int64_t output_dims, int64_t num_experts, int rank = 8,
                   double scale = 20.0, double dropout = 0.0);
  // scale * (dropout(x) @ lora_a[e].T) @ lora_b[e].T for each picked expert e, in x's dtype.
  Array operator()(const Array& x, const Array& indices) override;
  // scale * lora_b @ lora_a, (num_experts, output_dims, input_dims).
  Array delta() const;

 private:
  double scale_;
  nn::Dropout& dropout_;
};

// mlx-lm's LoRAEmbedding: lora_a (num_embeddings, rank) drawn uniform in
// +-1/sqrt(num_embeddings), lora_b (rank, dims) zeros; a row gains scale * lora_a[i] @
// lora_b, and as_linear (a tied output layer) the same update's transpose.
class LoRAEmbedding : public nn::Embedding::Adapter {
 public:
  LoRAEmbedding(int64_t num_embeddings, int64_t dims, int rank = 8, double scale = 20.0,
                double dropout = 0.0);
  // scale * dropout(lora_a[indices] @ lora_b).
  Array operator()(const Array& indices) override;
  // scale * (dropout(x) @ lora_b.T) @ lora_a.T, in x's dtype.
  Array as_linear(const Array& x) override;
  // scale * lora_a @ lora_b, (num_embeddings, dims).
  Array delta() const;

 private:
  double scale_;
  nn::Dropout& dropout_;
};

// Adapt a layer in place (mlx-lm's from_base), quantized or not, and return its adapter.
// Throw INVALID_ARGUMENT when it is adapted already.
LoRALinear& to_lora(nn::Linear& linear, const LoRAConfig& config);
LoRASwitchLinear& to_lora(SwitchLinear& linear, const LoRAConfig& config);
LoRAEmbedding& to_lora(nn::Embedding& embedding, const LoRAConfig& config);

// mlx-lm's fuse of a LoRA or DoRA adapter: the update merged into the layer's weight and
// the adapter removed. A quantized layer is dequantized, updated and, unless `dequantize`,
// quantized again as it was. Throw INVALID_ARGUMENT when the layer is not adapted.
void fuse(nn::Linear& linear, bool dequantize = false);
void fuse(SwitchLinear& linear, bool dequantize = false);
void fuse(nn::Embedding& embedding, bool dequantize = false);

// mlx-lm's linear_to_lora_layers: the layers of `config.keys` in each of the last
// `num_layers` blocks (model.layers.N; all of them when num_layers exceeds their count or
// is -1 or 0, as mlx-lm's slicing)
// adapted, and those the keys name by their path in the model (a key no layer has is
// passed over, as mlx-lm does). With `use_dora`, DoRA (dora.h) adapts the Linear layers and
// embeddings. Freeze the model first, as mlx_lm.lora does, and only the adapters train.
// Throws INVALID_ARGUMENT for a key naming a layer that is none of those (or a SwitchLinear
// under DoRA, as mlx-lm).
void linear_to_lora_layers(Model& model, int num_layers, const LoRAConfig& config,
                           bool use_dora = false);

// mlx-lm's full fine-tuning: every parameter of the last `num_layers` blocks trainable (of
// every block when num_layers <= 0); a quantized layer's weights stay frozen, as MLX's.
// Freeze the model first, as mlx_lm.lora does.
void unfreeze_layers(Model& model, int num_layers);

// Every adapted layer of `model` fused (mlx_lm.fuse, --dequantize).
void fuse_lora_layers(Model& model, bool dequantize = false);

// What mlx_lm.lora writes beside the weights (adapter_config.json), its keys those mlx-lm's
// load_adapters reads; fine_tune_type "lora", "dora" or "full" (whose lora_parameters are
// written null, as mlx-lm writes them).
struct AdapterConfig {
  int num_layers = 16;
  LoRAConfig lora_parameters;
  std::string fine_tune_type = "lora";
  std::string model;  // the base model's path, for the reader
};

// `dir`/adapters.safetensors (the model's trainable parameters, as mlx-lm's trainer saves
// them) and `dir`/adapter_config.json; `dir` is made when missing.
void save_adapters(const Model& model, const std::string& dir, const AdapterConfig& config);
// adapter_config.json of `dir`. Throws NOT_FOUND without one.
AdapterConfig load_adapter_config(const std::string& dir);
// mlx-lm's load_adapters: the model adapted as `dir`'s adapter_config.json says, then its
// adapters.safetensors loaded (for "full", the trained blocks' weights over the model's).
// Throws INVALID_ARGUMENT naming a weight that is not an adapter parameter of the model
// (lora_a, lora_b, DoRA's m; any parameter for "full") or has another shape, UNIMPLEMENTED
// for a fine_tune_type other than "lora", "dora" and "full".
void load_adapters(Model& model, const std::string& dir);

}  // namespace ferry::lm::tuner

#endif  // FERRY_CLIENT_LM_TUNER_LORA_H_
