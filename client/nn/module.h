#ifndef FERRY_CLIENT_NN_MODULE_H_
#define FERRY_CLIENT_NN_MODULE_H_

// Neural-network modules after MLX's mlx.nn (and libtorch's torch::nn): a module holds
// named parameters and named child modules, so a model's weights are one list of dotted
// names ("mlp.layers.0.weight") that an optimizer updates, a gradient comes back as, and a
// .safetensors file holds. The names are MLX's, so weights MLX's save_weights wrote load
// here unchanged, and the other way round.
//
//   struct Mlp : ferry::nn::Module {
//     ferry::nn::Linear& fc1 = register_module("fc1", ferry::nn::Linear(784, 256));
//     ferry::nn::Linear& fc2 = register_module("fc2", ferry::nn::Linear(256, 10));
//     ferry::Array operator()(const ferry::Array& x) { return fc2(ferry::relu(fc1(x))); }
//   };
//
// Parameters are made on ferry::default_device() (set it to a daemon's first, and its
// weights are drawn there, never uploaded) or moved with to(). Modules own their children
// and move, but do not copy.

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/device.h"
#include "client/dtype.h"

namespace ferry::nn {

// Arrays by dotted name, in a module's order: registration order, a child's after the
// parameters registered before it (MLX's tree_flatten of parameters()).
using Parameters = std::vector<std::pair<std::string, Array>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter, children's included.
  Parameters parameters() const;
  // Those not frozen (nor untrainable): what nn::value_and_grad differentiates and
  // optimizers update.
  Parameters trainable_parameters() const;
  // The arrays of parameters(), for ferry::eval after a step.
  std::vector<Array> arrays() const;

  // Replaces the parameters named (any subset). With strict, a name the module lacks
  // throws INVALID_ARGUMENT; a new value may have another shape or dtype (MLX's update).
  Module& update(const Parameters& parameters, bool strict = true);

  // As update, but with strict the weights must be exactly the module's parameters, each
  // of its shape: the missing and the extra ones are named (INVALID_ARGUMENT).
  Module& load_weights(const Parameters& weights, bool strict = true);
  // From a .safetensors file, onto the device of the module's first parameter.
  Module& load_weights(const std::string& path, bool strict = true);
  // parameters() as a .safetensors file (evaluated first).
  void save_weights(const std::string& path) const;

  // Excludes parameters from trainable_parameters(): those named in `keys` (local names,
  // such as "bias"), or all when empty; in every child too when `recurse`.
  Module& freeze(const std::vector<std::string>& keys = {}, bool recurse = true);
  Module& unfreeze(const std::vector<std::string>& keys = {}, bool recurse = true);

  // Training mode (the default) or evaluation mode, for this module and its children:
  // Dropout drops only in training.
  Module& train(bool mode = true);
  Module& eval() { return train(false); }
  bool training() const { return training_; }

  // Replaces each parameter p that `filter` (its dotted name, p) accepts, or every one, by
  // fn(p), as MLX's apply: re-initializing (nn::init), casting.
  Module& apply(const std::function<Array(const Array&)>& fn,
                const std::function<bool(const std::string&, const Array&)>& filter = nullptr);
  // Every parameter on `device` (Array::to: lazy, daemon to daemon where it can).
  Module& to(const Device& device);
  // Every floating parameter cast to `dtype` (MLX's set_dtype).
  Module& set_dtype(Dtype dtype);

  // The direct children, by name, in registration order.
  std::vector<std::pair<std::string, Module*>> children() const;
  // This module ("") and every module under it, by dotted path, parents before children
  // (MLX's named_modules, in registration order).
  std::vector<std::pair<std::string, Module*>> named_modules();
  // Calls fn(path, module) for each of named_modules(), as MLX's apply_to_modules: to
  // unfreeze only the attention blocks of a frozen model, say.
  Module& apply_to_modules(const std::function<void(const std::string&, Module&)>& fn);

 protected:
  // Adds a parameter; throws INVALID_ARGUMENT if the name is taken. One not `trainable`
  // (running statistics, quantized weights) is saved and loaded with the others but never
  // differentiated, whatever unfreeze says (as MLX's BatchNorm and quantized layers keep
  // theirs frozen).
  void register_parameter(const std::string& name, Array value, bool trainable = true);
  // Replaces this module's own parameter `name` (a layer's state, such as running means).
  void set_parameter(const std::string& name, Array value);
  // Removes this module's own parameter `name` (a dequantized layer's scales); throws
  // INVALID_ARGUMENT when it has none.
  void remove_parameter(const std::string& name);
  // Makes this module's own parameters never trainable.
  void make_untrainable();
  // Takes `module` as the child `name` and returns it, where it stays for the module's life.
  template <typename M>
  M& register_module(const std::string& name, M module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module takes a module");
    auto owned = std::make_unique<M>(std::move(module));
    M& child = *owned;
    AddChild(name, std::move(owned));
    return child;
  }
  // Takes `module` as a child whose parameters are named as this module's own ("lora_a",
  // not "adapter.lora_a"), replacing any taken before: what a layer adapted in place keeps
  // its adapter in, so the names are those of MLX's wrapper (mlx-lm's LoRALinear holds
  // lora_a beside the layer it wraps). nullptr removes it.
  void set_inline_module(std::unique_ptr<Module> module);
  Module* inline_module() const;
  // This module's own parameter `name`; throws INVALID_ARGUMENT when it has none.
  const Array& parameter(const std::string& name) const;
  bool has_parameter(const std::string& name) const;

 private:
  struct Entry {
    std::string name;
    Array value;
    bool frozen;
    bool trainable;
  };
  // What is registered, in order: a parameter or a child.
  struct Slot {
    bool is_child;
    size_t index;
  };
  Entry& FindEntry(const std::string& name);
  void AddChild(const std::string& name, std::unique_ptr<Module> child);
  void CheckNameFree(const std::string& name) const;
  // parameters(), or only the trainable ones.
  Parameters Collect(bool trainable_only) const;
  // Calls visit(entry, dotted name) for every parameter.
  template <typename F>
  void ForEachEntry(const std::string& prefix, F&& visit);
  Module& SetFrozen(const std::vector<std::string>& keys, bool recurse, bool frozen);

  std::vector<Entry> parameters_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
  std::vector<Slot> order_;
  bool training_ = true;
};

// A module of one array in and one out, such as Linear: what Sequential chains.
class Layer : public Module {
 public:
  virtual Array operator()(const Array& x) = 0;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_MODULE_H_
