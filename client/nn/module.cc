#include "client/nn/module.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/array_node.h"
#include "client/io.h"
#include "client/ops.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace ferry::nn {
namespace {

// An inline child's name is empty: its parameters are named as its parent's.
std::string Join(const std::string& prefix, const std::string& name) {
  if (name.empty()) return prefix;
  return prefix.empty() ? name : absl::StrCat(prefix, ".", name);
}

bool Contains(const std::vector<std::string>& keys, const std::string& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

}  // namespace

void Module::CheckNameFree(const std::string& name) const {
  if (name.empty()) detail::ThrowOpError("Module", "a parameter or child needs a name.");
  const bool taken = std::any_of(parameters_.begin(), parameters_.end(),
                                 [&](const Entry& e) { return e.name == name; }) ||
                     std::any_of(children_.begin(), children_.end(),
                                 [&](const auto& c) { return c.first == name; });
  if (taken) detail::ThrowOpError("Module", absl::StrCat("the name \"", name, "\" is taken."));
}

void Module::register_parameter(const std::string& name, Array value, bool trainable) {
  CheckNameFree(name);
  order_.push_back({false, parameters_.size()});
  parameters_.push_back({name, std::move(value), false, trainable});
}

Module::Entry& Module::FindEntry(const std::string& name) {
  for (Entry& e : parameters_) {
    if (e.name == name) return e;
  }
  detail::ThrowOpError("Module", absl::StrCat("no parameter named \"", name, "\"."));
}

void Module::set_parameter(const std::string& name, Array value) {
  FindEntry(name).value = std::move(value);
}

void Module::remove_parameter(const std::string& name) {
  const size_t i = static_cast<size_t>(&FindEntry(name) - parameters_.data());
  parameters_.erase(parameters_.begin() + static_cast<std::ptrdiff_t>(i));
  order_.erase(std::find_if(order_.begin(), order_.end(),
                            [&](const Slot& s) { return !s.is_child && s.index == i; }));
  for (Slot& s : order_) {
    if (!s.is_child && s.index > i) --s.index;
  }
}

void Module::make_untrainable() {
  for (Entry& e : parameters_) e.trainable = false;
}

void Module::AddChild(const std::string& name, std::unique_ptr<Module> child) {
  CheckNameFree(name);
  child->train(training_);
  order_.push_back({true, children_.size()});
  children_.emplace_back(name, std::move(child));
}

void Module::set_inline_module(std::unique_ptr<Module> module) {
  for (size_t i = 0; i < children_.size(); ++i) {
    if (!children_[i].first.empty()) continue;
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    order_.erase(std::find_if(order_.begin(), order_.end(),
                              [&](const Slot& s) { return s.is_child && s.index == i; }));
    for (Slot& s : order_) {
      if (s.is_child && s.index > i) --s.index;
    }
    break;
  }
  if (module == nullptr) return;
  module->train(training_);
  order_.push_back({true, children_.size()});
  children_.emplace_back("", std::move(module));
}

Module* Module::inline_module() const {
  for (const auto& [name, child] : children_) {
    if (name.empty()) return child.get();
  }
  return nullptr;
}

const Array& Module::parameter(const std::string& name) const {
  return const_cast<Module*>(this)->FindEntry(name).value;
}

bool Module::has_parameter(const std::string& name) const {
  return std::any_of(parameters_.begin(), parameters_.end(),
                     [&](const Entry& e) { return e.name == name; });
}

template <typename F>
void Module::ForEachEntry(const std::string& prefix, F&& visit) {
  for (const Slot& slot : order_) {
    if (slot.is_child) {
      auto& [name, child] = children_[slot.index];
      child->ForEachEntry(Join(prefix, name), visit);
    } else {
      Entry& e = parameters_[slot.index];
      visit(e, Join(prefix, e.name));
    }
  }
}

Parameters Module::Collect(bool trainable_only) const {
  Parameters out;
  // ForEachEntry visits without changing anything; it is not const only to serve update().
  const_cast<Module*>(this)->ForEachEntry("", [&](const Entry& e, const std::string& name) {
    if (!trainable_only || (e.trainable && !e.frozen)) out.emplace_back(name, e.value);
  });
  return out;
}

Parameters Module::parameters() const { return Collect(false); }

Parameters Module::trainable_parameters() const { return Collect(true); }

std::vector<Array> Module::arrays() const {
  std::vector<Array> out;
  for (auto& [name, value] : parameters()) out.push_back(value);
  return out;
}

Module& Module::update(const Parameters& parameters, bool strict) {
  std::unordered_map<std::string, const Array*> by_name;
  for (const auto& [name, value] : parameters) by_name[name] = &value;
  size_t used = 0;
  ForEachEntry("", [&](Entry& e, const std::string& name) {
    if (auto it = by_name.find(name); it != by_name.end()) {
      e.value = *it->second;
      ++used;
    }
  });
  if (strict && used != by_name.size()) {
    std::set<std::string> unknown;
    for (const auto& [name, value] : by_name) unknown.insert(name);
    ForEachEntry("", [&](Entry&, const std::string& name) { unknown.erase(name); });
    detail::ThrowOpError("update", absl::StrCat("the module has no parameter named ",
                                                absl::StrJoin(unknown, ", "), "."));
  }
  return *this;
}

Module& Module::load_weights(const Parameters& weights, bool strict) {
  if (strict) {
    std::map<std::string, const Array*> given;
    for (const auto& [name, value] : weights) given[name] = &value;
    std::vector<std::string> missing;
    std::vector<std::string> wrong_shape;
    for (const auto& [name, value] : parameters()) {
      auto it = given.find(name);
      if (it == given.end()) {
        missing.push_back(name);
        continue;
      }
      if (it->second->shape() != value.shape()) {
        wrong_shape.push_back(absl::StrCat(name, " (expected ", core::ShapeToString(value.shape()),
                                           ", got ", core::ShapeToString(it->second->shape()),
                                           ")"));
      }
      given.erase(it);
    }
    std::vector<std::string> problems;
    if (!given.empty()) {
      std::vector<std::string> extra;
      for (const auto& [name, value] : given) extra.push_back(name);
      problems.push_back(
          absl::StrCat(extra.size(), " not in the model: ", absl::StrJoin(extra, ", ")));
    }
    if (!missing.empty()) {
      problems.push_back(absl::StrCat(missing.size(), " missing: ", absl::StrJoin(missing, ", ")));
    }
    if (!wrong_shape.empty()) {
      problems.push_back(absl::StrCat("shapes that differ: ", absl::StrJoin(wrong_shape, ", ")));
    }
    if (!problems.empty()) {
      detail::ThrowOpError("load_weights", absl::StrCat("the weights do not match the model's "
                                                        "parameters: ",
                                                        absl::StrJoin(problems, "; "), "."));
    }
  }
  return update(weights, /*strict=*/false);
}

Module& Module::load_weights(const std::string& path, bool strict) {
  Parameters params = parameters();
  const Device device = params.empty() ? default_device() : params.front().second.device();
  auto [arrays, metadata] = load_safetensors(path, device);
  return load_weights(Parameters(arrays.begin(), arrays.end()), strict);
}

void Module::save_weights(const std::string& path) const {
  std::unordered_map<std::string, Array> arrays;
  for (const auto& [name, value] : parameters()) arrays.emplace(name, value);
  save_safetensors(path, std::move(arrays));
}

Module& Module::SetFrozen(const std::vector<std::string>& keys, bool recurse, bool frozen) {
  for (Entry& e : parameters_) {
    if (keys.empty() || Contains(keys, e.name)) e.frozen = frozen;
  }
  if (recurse) {
    for (auto& [name, child] : children_) child->SetFrozen(keys, recurse, frozen);
  }
  return *this;
}

Module& Module::freeze(const std::vector<std::string>& keys, bool recurse) {
  return SetFrozen(keys, recurse, true);
}

Module& Module::unfreeze(const std::vector<std::string>& keys, bool recurse) {
  return SetFrozen(keys, recurse, false);
}

Module& Module::train(bool mode) {
  training_ = mode;
  for (auto& [name, child] : children_) child->train(mode);
  return *this;
}

Module& Module::apply(const std::function<Array(const Array&)>& fn,
                      const std::function<bool(const std::string&, const Array&)>& filter) {
  ForEachEntry("", [&](Entry& e, const std::string& name) {
    if (!filter || filter(name, e.value)) e.value = fn(e.value);
  });
  return *this;
}

Module& Module::to(const Device& device) {
  return apply([&](const Array& a) { return a.to(device); });
}

Module& Module::set_dtype(Dtype dtype) {
  return apply([&](const Array& a) { return astype(a, dtype); },
               [](const std::string&, const Array& a) { return core::IsFloating(a.dtype()); });
}

std::vector<std::pair<std::string, Module*>> Module::children() const {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [name, child] : children_) out.emplace_back(name, child.get());
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out = {{"", this}};
  for (auto& [name, child] : children_) {
    for (auto& [path, module] : child->named_modules()) {
      out.emplace_back(path.empty() ? name : Join(name, path), module);
    }
  }
  return out;
}

Module& Module::apply_to_modules(const std::function<void(const std::string&, Module&)>& fn) {
  for (auto& [path, module] : named_modules()) fn(path, *module);
  return *this;
}

}  // namespace ferry::nn
