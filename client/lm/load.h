#ifndef FERRY_CLIENT_LM_LOAD_H_
#define FERRY_CLIENT_LM_LOAD_H_

// A model directory as mlx-lm and Hugging Face save one (config.json, model*.safetensors,
// tokenizer.json) onto a device, as mlx_lm.load: a daemon's model is drawn and loaded there,
// and its weights, once uploaded, are not sent again by a later run (the upload cache).

#include <memory>
#include <string>
#include <utility>

#include "client/device.h"
#include "client/lm/model.h"
#include "client/lm/tokenizer.h"

namespace ferry::lm {

// The model of config.json, quantized as its "quantization" says (the layers whose
// ".scales" the checkpoint holds), with the weights of every model*.safetensors loaded
// strictly onto `device` and evaluated there. Throws ferry::Error: NOT_FOUND without config.json or
// weights, UNIMPLEMENTED for a model type ferry::lm lacks, INVALID_ARGUMENT naming the weights that
// are missing, extra or mis-shaped.
std::unique_ptr<Model> load_model(const std::string& model_path,
                                  const Device& device = default_device());

// The tokenizer of a model directory (tokenizer.json), its end-of-reply tokens those of
// tokenizer_config.json's eos_token and of config.json's and generation_config.json's
// eos_token_id, its chat template the directory's (ChatTemplate::load) if it has one.
Tokenizer load_tokenizer(const std::string& model_path);

// Both, as mlx_lm.load(path): `auto [model, tokenizer] = ferry::lm::load(path, gpu);`.
std::pair<std::unique_ptr<Model>, Tokenizer> load(const std::string& model_path,
                                                  const Device& device = default_device());

// The model that `args` describes, with freshly drawn weights on `device` (for tests and
// training from scratch).
std::unique_ptr<Model> make_model(const ModelArgs& args, const Device& device = default_device());

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LOAD_H_
