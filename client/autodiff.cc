// The reverse pass: from the outputs back to the primals, over the nodes that lie between
// them, in reverse topological order, each node's cotangent handed to its op's rule.

#include "client/autodiff.h"

#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/error.h"
#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"
#include "core/shape.h"

namespace ferry {
namespace {

using detail::ArrayNode;
using detail::CustomVjp;
using NodePtr = std::shared_ptr<ArrayNode>;

[[noreturn]] void Throw(const char* caller, ErrorCode code, const std::string& message) {
  throw Error(code, absl::StrCat("[", caller, "] ", message));
}

bool IsFloating(const ArrayNode& node) {
  return core::IsFloating(node.type.dtype) || core::IsComplex(node.type.dtype);
}

// The nodes reachable from the outputs without passing a leaf that depend on a node of
// `wrt` (those included), inputs before the nodes that use them. An explicit stack keeps long
// chains off the call stack.
struct Tape {
  std::vector<NodePtr> order;
  std::unordered_set<const ArrayNode*> on_path;
};

// The nodes a node's gradient flows to: a custom_vjp output's go to its function's primals.
const std::vector<NodePtr>& GradientInputs(const ArrayNode& node) {
  return node.custom_vjp != nullptr ? node.custom_vjp->primals : node.inputs;
}

Tape Record(const std::vector<Array>& outputs, const std::unordered_set<const ArrayNode*>& wrt,
            const std::unordered_set<const ArrayNode*>& leaves) {
  Tape tape;
  std::unordered_set<const ArrayNode*> visited;
  for (const Array& output : outputs) {
    std::vector<std::pair<NodePtr, size_t>> stack;
    if (visited.insert(output.node().get()).second) stack.push_back({output.node(), 0});
    while (!stack.empty()) {
      const NodePtr node = stack.back().first;
      size_t& next = stack.back().second;
      const bool is_leaf = leaves.count(node.get()) > 0 || node->stops_gradient;
      const std::vector<NodePtr>& inputs = GradientInputs(*node);
      if (!is_leaf && next < inputs.size()) {
        const NodePtr& input = inputs[next++];
        if (visited.insert(input.get()).second) stack.push_back({input, 0});
        continue;
      }
      bool depends = wrt.count(node.get()) > 0;
      for (size_t i = 0; !is_leaf && !depends && i < inputs.size(); ++i) {
        depends = tape.on_path.count(inputs[i].get()) > 0;
      }
      if (depends) {
        tape.on_path.insert(node.get());
        tape.order.push_back(node);
      }
      stack.pop_back();
    }
  }
  return tape;
}

// Checks a rule's answer against the input it is for, and gives it the input's dtype.
Array FitCotangent(const ArrayNode& node, size_t i, const Array& cotangent) {
  const ArrayNode& input = *node.inputs[i];
  if (cotangent.shape() != input.type.shape) {
    Throw("vjp", ErrorCode::kInternal,
          absl::StrCat("the rule for '", node.op, "' gave input ", i, " a cotangent of shape ",
                       core::ShapeToString(cotangent.shape()), " for an input of shape ",
                       core::ShapeToString(input.type.shape)));
  }
  return cotangent.dtype() == input.type.dtype ? cotangent : astype(cotangent, input.type.dtype);
}

// The cotangents a custom_vjp rule gives its function's primals from that of output
// `node.custom_output` (the others' zero: a VJP is linear in the cotangents, so the outputs'
// contributions add up to the rule's answer for all of them at once).
std::vector<std::pair<const ArrayNode*, Array>> CustomCotangents(const ArrayNode& node,
                                                                 const Array& cotangent) {
  const CustomVjp& custom = *node.custom_vjp;
  std::vector<Array> primals, cotangents;
  for (const NodePtr& primal : custom.primals) primals.emplace_back(primal);
  for (size_t i = 0; i < custom.outputs.size(); ++i) {
    cotangents.push_back(i == node.custom_output ? cotangent : zeros_like(custom.outputs[i]));
  }
  const std::vector<Array> result = custom.rule(primals, cotangents, custom.outputs);
  if (result.size() != primals.size()) {
    Throw("custom_vjp", ErrorCode::kInvalidArgument,
          absl::StrCat("the vjp function returned ", result.size(), " cotangents for ",
                       primals.size(), " primals; return one per primal."));
  }
  std::vector<std::pair<const ArrayNode*, Array>> gradients;
  for (size_t i = 0; i < result.size(); ++i) {
    const ArrayNode& primal = *custom.primals[i];
    if (result[i].shape() != primal.type.shape) {
      Throw("custom_vjp", ErrorCode::kInvalidArgument,
            absl::StrCat("the vjp function gave primal ", i, " a cotangent of shape ",
                         core::ShapeToString(result[i].shape()), " for a primal of shape ",
                         core::ShapeToString(primal.type.shape), "."));
    }
    gradients.emplace_back(&primal, result[i].dtype() == primal.type.dtype
                                        ? result[i]
                                        : astype(result[i], primal.type.dtype));
  }
  return gradients;
}

// The cotangents of `wrt` given those of the outputs. Every one of the function's
// `inputs` is a leaf of the differentiation, even when it is itself lazy.
std::vector<Array> Backward(const std::vector<Array>& inputs, const std::vector<Array>& wrt,
                            const std::vector<Array>& outputs,
                            const std::vector<Array>& cotangents) {
  std::unordered_set<const ArrayNode*> primal_nodes;
  for (const Array& input : inputs) primal_nodes.insert(input.node().get());
  std::unordered_set<const ArrayNode*> wrt_nodes;
  for (const Array& primal : wrt) wrt_nodes.insert(primal.node().get());
  const Tape tape = Record(outputs, wrt_nodes, primal_nodes);

  std::unordered_map<const ArrayNode*, Array> cotangent_of;
  auto accumulate = [&](const ArrayNode* node, const Array& cotangent) {
    auto it = cotangent_of.find(node);
    if (it == cotangent_of.end()) {
      cotangent_of.emplace(node, cotangent);
    } else {
      it->second = it->second + cotangent;
    }
  };
  for (size_t i = 0; i < outputs.size(); ++i) {
    const ArrayNode& node = *outputs[i].node();
    if (tape.on_path.count(&node) == 0 || !IsFloating(node)) continue;
    const Array& cotangent = cotangents[i];
    accumulate(&node, cotangent.dtype() == node.type.dtype ? cotangent
                                                           : astype(cotangent, node.type.dtype));
  }

  for (auto it = tape.order.rbegin(); it != tape.order.rend(); ++it) {
    const NodePtr& node = *it;
    if (primal_nodes.count(node.get()) > 0) continue;
    auto found = cotangent_of.find(node.get());
    if (found == cotangent_of.end()) continue;
    const Array cotangent = found->second;
    cotangent_of.erase(found);         // an interior node's cotangent is needed only here
    if (!IsFloating(*node)) continue;  // integer and bool values carry no gradient
    if (node->custom_vjp != nullptr) {
      for (const auto& [primal, gradient] : CustomCotangents(*node, cotangent)) {
        if (tape.on_path.count(primal) > 0 && IsFloating(*primal)) accumulate(primal, gradient);
      }
      continue;
    }

    std::vector<bool> needs(node->inputs.size());
    bool any = false;
    for (size_t i = 0; i < needs.size(); ++i) {
      const ArrayNode& input = *node->inputs[i];
      needs[i] = tape.on_path.count(&input) > 0 && IsFloating(input);
      any = any || needs[i];
    }
    if (!any) continue;
    const detail::VjpRule rule = detail::FindVjp(node->op);
    if (rule == nullptr) {
      Throw("vjp", ErrorCode::kUnimplemented,
            absl::StrCat("no gradient for op '", node->op,
                         "'; its rule belongs in client/vjp/ (see client/vjp/registry.h)"));
    }
    std::vector<Array> inputs;
    inputs.reserve(node->inputs.size());
    for (const NodePtr& input : node->inputs) inputs.emplace_back(input);
    const Array output(node);
    const detail::VjpResult result = rule({inputs, output, cotangent, node->attrs, needs});
    for (size_t i = 0; i < needs.size() && i < result.size(); ++i) {
      if (!needs[i] || !result[i].has_value()) continue;
      accumulate(node->inputs[i].get(), FitCotangent(*node, i, *result[i]));
    }
  }

  std::vector<Array> grads;
  grads.reserve(wrt.size());
  for (const Array& primal : wrt) {
    auto found = cotangent_of.find(primal.node().get());
    grads.push_back(found == cotangent_of.end() ? detail::ZerosLike(primal) : found->second);
  }
  return grads;
}

// The primals as the function sees them: an array passed twice is passed the second time as
// a distinct node (sharing the value, or a reshape of it when lazy), so each position gets
// its own gradient.
std::vector<Array> DistinctPrimals(const std::vector<Array>& primals) {
  std::vector<Array> distinct;
  std::unordered_set<const ArrayNode*> seen;
  for (const Array& primal : primals) {
    if (seen.insert(primal.node().get()).second) {
      distinct.push_back(primal);
    } else if (primal.is_available()) {
      auto copy = std::make_shared<ArrayNode>(primal.node()->type, primal.device());
      copy->buffer = primal.node()->buffer;
      distinct.emplace_back(std::move(copy));
    } else {
      distinct.push_back(reshape(primal, primal.shape()));
    }
  }
  return distinct;
}

void CheckCotangents(const std::vector<Array>& outputs, const std::vector<Array>& cotangents) {
  if (outputs.size() != cotangents.size()) {
    Throw("vjp", ErrorCode::kInvalidArgument,
          absl::StrCat("got ", cotangents.size(), " cotangents for ", outputs.size(),
                       " outputs; pass one per output."));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (cotangents[i].shape() != outputs[i].shape()) {
      Throw("vjp", ErrorCode::kInvalidArgument,
            absl::StrCat("cotangent ", i, " has shape ", core::ShapeToString(cotangents[i].shape()),
                         " but output ", i, " has shape ", core::ShapeToString(outputs[i].shape()),
                         "."));
    }
  }
}

std::vector<Array> Pick(const std::vector<Array>& all, const std::vector<int>& argnums,
                        const char* caller) {
  if (argnums.empty()) Throw(caller, ErrorCode::kInvalidArgument, "argnums is empty.");
  std::vector<Array> picked;
  for (int argnum : argnums) {
    if (argnum < 0 || argnum >= static_cast<int>(all.size())) {
      Throw(caller, ErrorCode::kInvalidArgument,
            absl::StrCat("argnum ", argnum, " is out of range for ", all.size(), " arguments."));
    }
    picked.push_back(all[argnum]);
  }
  return picked;
}

}  // namespace

std::pair<std::vector<Array>, std::vector<Array>> vjp(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<Array>& primals, const std::vector<Array>& cotangents) {
  const std::vector<Array> inputs = DistinctPrimals(primals);
  std::vector<Array> outputs = fun(inputs);
  CheckCotangents(outputs, cotangents);
  std::vector<Array> grads = Backward(inputs, inputs, outputs, cotangents);
  return {std::move(outputs), std::move(grads)};
}

std::pair<Array, Array> vjp(const std::function<Array(const Array&)>& fun, const Array& primal,
                            const Array& cotangent) {
  auto [outputs, grads] =
      vjp([&](const std::vector<Array>& p) { return std::vector<Array>{fun(p[0])}; }, {primal},
          {cotangent});
  return {outputs[0], grads[0]};
}

ValueAndGradFn value_and_grad(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<int>& argnums) {
  return [fun, argnums](const std::vector<Array>& primals) {
    const std::vector<Array> inputs = DistinctPrimals(primals);
    const std::vector<Array> wrt = Pick(inputs, argnums, "value_and_grad");
    std::vector<Array> outputs = fun(inputs);
    if (outputs.empty()) {
      Throw("value_and_grad", ErrorCode::kInvalidArgument, "the function returned no arrays.");
    }
    const Array& loss = outputs[0];
    if (loss.size() != 1) {
      Throw("value_and_grad", ErrorCode::kInvalidArgument,
            absl::StrCat("the function's first output must be a scalar to differentiate; its "
                         "shape is ",
                         core::ShapeToString(loss.shape()), "."));
    }
    std::vector<Array> grads =
        Backward(inputs, wrt, {loss}, {ones(loss.shape(), loss.dtype(), loss.device())});
    return std::make_pair(std::move(outputs), std::move(grads));
  };
}

ValueAndGradFn value_and_grad(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun, int argnum) {
  return value_and_grad(fun, std::vector<int>{argnum});
}

SimpleValueAndGradFn value_and_grad(const std::function<Array(const std::vector<Array>&)>& fun,
                                    const std::vector<int>& argnums) {
  ValueAndGradFn inner = value_and_grad(
      [fun](const std::vector<Array>& p) { return std::vector<Array>{fun(p)}; }, argnums);
  return [inner](const std::vector<Array>& primals) {
    auto [outputs, grads] = inner(primals);
    return std::make_pair(outputs[0], std::move(grads));
  };
}

SimpleValueAndGradFn value_and_grad(const std::function<Array(const std::vector<Array>&)>& fun,
                                    int argnum) {
  return value_and_grad(fun, std::vector<int>{argnum});
}

std::function<std::pair<Array, Array>(const Array&)> value_and_grad(
    const std::function<Array(const Array&)>& fun) {
  SimpleValueAndGradFn inner =
      value_and_grad([fun](const std::vector<Array>& p) { return fun(p[0]); }, 0);
  return [inner](const Array& primal) {
    auto [value, grads] = inner({primal});
    return std::make_pair(value, grads[0]);
  };
}

std::function<std::vector<Array>(const std::vector<Array>&)> grad(
    const std::function<Array(const std::vector<Array>&)>& fun, const std::vector<int>& argnums) {
  SimpleValueAndGradFn inner = value_and_grad(fun, argnums);
  return [inner](const std::vector<Array>& primals) { return inner(primals).second; };
}

std::function<Array(const std::vector<Array>&)> grad(
    const std::function<Array(const std::vector<Array>&)>& fun, int argnum) {
  SimpleValueAndGradFn inner = value_and_grad(fun, argnum);
  return [inner](const std::vector<Array>& primals) { return inner(primals).second[0]; };
}

std::function<Array(const Array&)> grad(const std::function<Array(const Array&)>& fun) {
  auto inner = value_and_grad(fun);
  return [inner](const Array& primal) { return inner(primal).second; };
}

std::pair<std::vector<Array>, std::vector<Array>> jvp(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<Array>& primals, const std::vector<Array>& tangents) {
  if (tangents.size() != primals.size()) {
    Throw("jvp", ErrorCode::kInvalidArgument,
          absl::StrCat("got ", tangents.size(), " tangents for ", primals.size(),
                       " primals; pass one per primal."));
  }
  for (size_t i = 0; i < primals.size(); ++i) {
    if (tangents[i].shape() != primals[i].shape()) {
      Throw("jvp", ErrorCode::kInvalidArgument,
            absl::StrCat("tangent ", i, " has shape ", core::ShapeToString(tangents[i].shape()),
                         " but primal ", i, " has shape ", core::ShapeToString(primals[i].shape()),
                         "."));
    }
  }
  const std::vector<Array> inputs = DistinctPrimals(primals);
  std::vector<Array> outputs = fun(inputs);
  for (const std::vector<Array>* arrays : {&inputs, &std::as_const(outputs)}) {
    for (const Array& a : *arrays) {
      if (core::IsComplex(a.node()->type.dtype)) {
        Throw("jvp", ErrorCode::kUnimplemented,
              "complex primals and outputs are not supported yet; take vjp instead.");
      }
    }
  }
  // J t is the VJP of u -> J^T u, which is linear in u: placeholders of any value (fresh
  // nodes, one per output) stand for u, and a second reverse pass from J^T u back to them
  // with t as the cotangent gives J t.
  std::vector<Array> placeholders;
  for (const Array& output : outputs) {
    placeholders.push_back(zeros(output.shape(), output.dtype(), output.device()));
  }
  const std::vector<Array> transposed = Backward(inputs, inputs, outputs, placeholders);
  std::vector<Array> output_tangents = Backward(placeholders, placeholders, transposed, tangents);
  return {std::move(outputs), std::move(output_tangents)};
}

std::pair<Array, Array> jvp(const std::function<Array(const Array&)>& fun, const Array& primal,
                            const Array& tangent) {
  auto [outputs, tangents] =
      jvp([&](const std::vector<Array>& p) { return std::vector<Array>{fun(p[0])}; }, {primal},
          {tangent});
  return {outputs[0], tangents[0]};
}

std::function<std::vector<Array>(const std::vector<Array>&)> custom_vjp(
    std::function<std::vector<Array>(const std::vector<Array>&)> fun, CustomVjpFn fun_vjp) {
  return [fun = std::move(fun), fun_vjp = std::move(fun_vjp)](const std::vector<Array>& primals) {
    std::vector<Array> outputs = fun(primals);
    auto custom = std::make_shared<CustomVjp>();
    for (const Array& primal : primals) custom->primals.push_back(primal.node());
    custom->outputs = outputs;
    custom->rule = fun_vjp;
    std::vector<Array> marked;
    for (size_t i = 0; i < outputs.size(); ++i) {
      Array same = detail::MakeOp("reshape", {outputs[i]}, {{"shape", outputs[i].shape()}});
      same.node()->custom_vjp = custom;
      same.node()->custom_output = i;
      marked.push_back(std::move(same));
    }
    return marked;
  };
}

std::function<std::vector<Array>(const std::vector<Array>&)> checkpoint(
    std::function<std::vector<Array>(const std::vector<Array>&)> fun) {
  return custom_vjp(fun, [fun](const std::vector<Array>& primals,
                               const std::vector<Array>& cotangents, const std::vector<Array>&) {
    // The recomputation waits for the cotangents, so it runs in the backward pass.
    return vjp(fun, depends(primals, cotangents), cotangents).second;
  });
}

std::vector<Array> depends(const std::vector<Array>& inputs,
                           const std::vector<Array>& dependencies) {
  std::vector<Array> ordered;
  for (const Array& input : inputs) {
    std::vector<Array> operands = {input};
    operands.insert(operands.end(), dependencies.begin(), dependencies.end());
    ordered.push_back(detail::MakeOp("depends", operands, {}));
  }
  return ordered;
}

// A node of its own (a reshape to the same shape), so only this use of `a` stops gradients.
Array stop_gradient(const Array& a) {
  Array same = detail::MakeOp("reshape", {a}, {{"shape", a.shape()}});
  same.node()->stops_gradient = true;
  return same;
}

}  // namespace ferry
