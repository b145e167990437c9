#ifndef FERRY_CLIENT_LM_TUNER_LORA_H_
#define FERRY_CLIENT_LM_TUNER_LORA_H_

// LoRA as mlx-lm's tuner builds it (tuner/lora.py, tuner/utils.py): a frozen model whose
// chosen Linear layers each add a trainable low-rank update, scale * (x @ lora_a) @ lora_b.
// Over a quantized base layer it is QLoRA. The adapter's parameters carry mlx-lm's names
// ("model.layers.1.self_attn.q_proj.lora_a"), so adapters.safetensors files go both ways
// between ferry and mlx-lm.
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
#include "client/nn/dropout.h"
#include "client/nn/linear.h"

namespace ferry::lm::tuner {

// mlx-lm's "lora_parameters" (its defaults): rank, scale (not alpha: the update is scaled
// by `scale` itself), dropout of the adapter's input, and the layers adapted in each block
// by their path in it ("self_attn.q_proj"); every Linear of the blocks when none are given.
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

// Adapts `linear` in place (mlx-lm's LoRALinear.from_base), quantized or not, and returns
// its adapter. Throws INVALID_ARGUMENT when it is adapted already.
LoRALinear& to_lora(nn::Linear& linear, const LoRAConfig& config);

// mlx-lm's LoRALinear.fuse: the update merged into the layer's weight and the adapter
// removed. A quantized layer is dequantized, updated and, unless `dequantize`, quantized
// again as it was.
void fuse(nn::Linear& linear, bool dequantize = false);

// mlx-lm's linear_to_lora_layers: the layers of `config.keys` in each of the last
// `num_layers` blocks (model.layers.N; all of them when num_layers exceeds their count)
// adapted. Freeze the model first, as mlx_lm.lora does, and only the adapters train.
// Throws UNIMPLEMENTED for a key naming a layer other than a Linear (mlx-lm's LoRA of
// embeddings and of a mixture's SwitchLinear), INVALID_ARGUMENT for a key no block has.
void linear_to_lora_layers(Model& model, int num_layers, const LoRAConfig& config);

// Every adapted layer of `model` fused (mlx_lm.fuse, --dequantize).
void fuse_lora_layers(Model& model, bool dequantize = false);

// What mlx_lm.lora writes beside the weights (adapter_config.json), its keys those mlx-lm's
// load_adapters reads.
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
// adapters.safetensors loaded. Throws INVALID_ARGUMENT naming a weight that is not an
// adapter parameter of the model or has another shape, UNIMPLEMENTED for a fine_tune_type
// other than "lora" (DoRA, full).
void load_adapters(Model& model, const std::string& dir);

}  // namespace ferry::lm::tuner

#endif  // FERRY_CLIENT_LM_TUNER_LORA_H_
