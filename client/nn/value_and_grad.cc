#include "client/nn/value_and_grad.h"

#include <numeric>
#include <string>

#include "client/autodiff.h"

namespace ferry::nn {

std::function<std::pair<std::vector<Array>, Parameters>(const std::vector<Array>& inputs)>
value_and_grad(Module& model, ModuleLossAndAuxFn fn) {
  return [&model, fn = std::move(fn)](const std::vector<Array>& inputs) {
    const Parameters trainable = model.trainable_parameters();
    std::vector<Array> primals;
    std::vector<std::string> names;
    for (const auto& [name, value] : trainable) {
      names.push_back(name);
      primals.push_back(value);
    }
    std::vector<int> argnums(primals.size());
    std::iota(argnums.begin(), argnums.end(), 0);
    auto traced = [&](const std::vector<Array>& params) {
      Parameters named;
      for (size_t i = 0; i < params.size(); ++i) named.emplace_back(names[i], params[i]);
      model.update(named);
      return fn(inputs);
    };
    auto result = primals.empty()
                      ? std::make_pair(fn(inputs), std::vector<Array>{})
                      : ferry::value_and_grad(
                            std::function<std::vector<Array>(const std::vector<Array>&)>(traced),
                            argnums)(primals);
    model.update(trainable);  // the model's own arrays, whatever the trace left in it
    Parameters grads;
    for (size_t i = 0; i < names.size(); ++i) grads.emplace_back(names[i], result.second[i]);
    return std::make_pair(std::move(result.first), std::move(grads));
  };
}

std::function<std::pair<Array, Parameters>(const std::vector<Array>& inputs)> value_and_grad(
    Module& model, ModuleLossFn fn) {
  auto with_aux = value_and_grad(
      model, ModuleLossAndAuxFn([fn = std::move(fn)](const std::vector<Array>& inputs) {
        return std::vector<Array>{fn(inputs)};
      }));
  return [with_aux](const std::vector<Array>& inputs) {
    auto [values, grads] = with_aux(inputs);
    return std::make_pair(values[0], std::move(grads));
  };
}

ModuleFn checkpoint(Module& module, ModuleFn fn) {
  return [&module, fn = std::move(fn)](const std::vector<Array>& inputs) {
    std::vector<std::string> names;
    std::vector<Array> arguments;
    for (const auto& [name, value] : module.trainable_parameters()) {
      names.push_back(name);
      arguments.push_back(value);
    }
    arguments.insert(arguments.end(), inputs.begin(), inputs.end());
    // Run now and again in the backward pass: each time with the parameters given, and the
    // module's own put back after.
    auto run = [&module, names, fn](const std::vector<Array>& all) {
      const Parameters own = module.trainable_parameters();
      Parameters given;
      for (size_t i = 0; i < names.size(); ++i) given.emplace_back(names[i], all[i]);
      module.update(given);
      std::vector<Array> outputs = fn(
          std::vector<Array>(all.begin() + static_cast<std::ptrdiff_t>(names.size()), all.end()));
      module.update(own);
      return outputs;
    };
    return ferry::checkpoint(run)(arguments);
  };
}

}  // namespace ferry::nn
