#include "client/vmap_batching.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>

#include "client/array_node.h"
#include "client/ops.h"

namespace ferry::detail {
namespace {

using NodePtr = std::shared_ptr<ArrayNode>;
using Ints = std::vector<int64_t>;

// A traced node's value for the batch: the batched array (batch on axis 0), or the node
// itself when it does not depend on the sources.
struct Value {
  Array array;
  bool batched;
};

bool Elementwise(const std::string& op) {
  static const auto* const ops = new std::unordered_set<std::string>{
      // unary
      "abs", "bitwise_invert", "ceil", "conjugate", "cos", "erf", "exp", "expm1", "floor", "gelu",
      "imag", "isinf", "isnan", "log", "log10", "log1p", "log2", "logical_not", "neg", "real",
      "relu", "round", "rsqrt", "sigmoid", "sign", "sin", "sqrt", "square", "tanh",
      // binary, ternary, conversion
      "add", "arctan2", "bitwise_and", "bitwise_or", "bitwise_xor", "div", "equal", "floor_divide",
      "greater", "greater_equal", "left_shift", "less", "less_equal", "logaddexp", "logical_and",
      "logical_or", "maximum", "minimum", "mul", "not_equal", "pow", "remainder", "right_shift",
      "sub", "where", "astype"};
  return ops->count(op) > 0;
}

// Ops whose attributes name axes of their one input: "axes" (a list) or "axis".
bool AxesOp(const std::string& op) {
  static const auto* const ops = new std::unordered_set<std::string>{
      "sum",          "prod",    "mean",    "max",    "min",    "all",         "any",
      "logsumexp",    "softmax", "argmax",  "argmin", "sort",   "argsort",     "partition",
      "argpartition", "cumsum",  "cumprod", "cummax", "cummin", "logcumsumexp"};
  return ops->count(op) > 0;
}

Ints Prepend(int64_t first, const Ints& rest) {
  Ints out = {first};
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

// A batched value whose example has rank `rank`, given singleton axes after the batch up to
// example rank `to` (so it broadcasts against others the way the examples did).
Array Lift(const Array& batched, size_t rank, size_t to) {
  if (rank >= to) return batched;
  Shape shape = {batched.shape()[0]};
  shape.insert(shape.end(), to - rank, 1);
  shape.insert(shape.end(), batched.shape().begin() + 1, batched.shape().end());
  return reshape(batched, shape);
}

// The node rebuilt for the batch, or nullopt without a rule. `inputs` are its inputs'
// values, at least one batched.
std::optional<Array> Rule(const ArrayNode& node, const std::vector<Value>& inputs, int64_t n) {
  const std::string& op = node.op;
  const size_t rank = node.type.shape.size();
  auto attr_ints = [&](const char* name) -> std::optional<Ints> {
    auto it = node.attrs.values().find(name);
    if (it == node.attrs.values().end()) return std::nullopt;
    const Ints* ints = std::get_if<Ints>(&it->second);
    return ints == nullptr ? std::nullopt : std::optional<Ints>(*ints);
  };
  auto example_rank = [&](size_t i) { return node.inputs[i]->type.shape.size(); };
  if (op == kCopyOp) return inputs[0].array.to(node.device);  // the batch moves whole
  if (Elementwise(op) || op == "matmul") {
    size_t to = rank;
    if (op == "matmul") {
      if (example_rank(0) < 2 || example_rank(1) < 2) return std::nullopt;  // vector operands
      to = std::max(example_rank(0), example_rank(1));
    }
    std::vector<Array> operands;
    for (size_t i = 0; i < inputs.size(); ++i) {
      operands.push_back(inputs[i].batched ? Lift(inputs[i].array, example_rank(i), to)
                                           : inputs[i].array);
    }
    return MakeOp(op, operands, node.attrs);
  }
  if (op == "gather" && !inputs[0].batched) {  // batched indices into an unbatched array
    size_t to = 0;
    for (size_t i = 1; i < inputs.size(); ++i) to = std::max(to, example_rank(i));
    std::vector<Array> operands = {inputs[0].array};
    for (size_t i = 1; i < inputs.size(); ++i) {
      operands.push_back(inputs[i].batched ? Lift(inputs[i].array, example_rank(i), to)
                                           : inputs[i].array);
    }
    return MakeOp(op, operands, node.attrs);
  }
  if (op == "quantized_matmul") {  // x's batch becomes more rows; a batched matrix unrolls
    for (size_t i = 1; i < inputs.size(); ++i) {
      if (inputs[i].batched) return std::nullopt;
    }
    return MakeOp(op, {inputs[0].array, inputs[1].array, inputs[2].array, inputs[3].array},
                  node.attrs);
  }
  if ((op == "gather_mm" || op == "gather_qmm") && inputs[0].batched) {
    // The batch joins the rows of each of a's (x's) matrices, which keeps the indices as
    // they are: (n, A..., M, K) -> (A..., n * M, K), and the result's rows split back.
    for (size_t i = 1; i < inputs.size(); ++i) {
      if (inputs[i].batched) return std::nullopt;
    }
    const Array& a = inputs[0].array;
    const int r = a.ndim();
    const int64_t m = a.shape()[r - 2];
    Shape rows(a.shape().begin() + 1, a.shape().end() - 2);
    rows.insert(rows.end(), {n * m, a.shape().back()});
    std::vector<Array> operands = {reshape(moveaxis(a, 0, r - 3), rows)};
    for (size_t i = 1; i < inputs.size(); ++i) operands.push_back(inputs[i].array);
    const Array out = MakeOp(op, operands, node.attrs);
    Shape split(out.shape().begin(), out.shape().end() - 2);
    split.insert(split.end(), {n, m, out.shape().back()});
    return moveaxis(reshape(out, split), -3, 0);
  }
  if (op == "depends") {
    std::vector<Array> operands;
    for (const Value& v : inputs) operands.push_back(v.array);
    return MakeOp(op, operands, node.attrs);
  }
  const Array& x = inputs[0].array;
  core::Attrs attrs = node.attrs;
  if (AxesOp(op)) {
    if (std::optional<Ints> axes = attr_ints("axes")) {
      for (int64_t& axis : *axes) {
        if (axis < 0) return std::nullopt;
        ++axis;
      }
      attrs.Set("axes", *axes);
    } else {
      auto it = node.attrs.values().find("axis");
      const int64_t* axis =
          it == node.attrs.values().end() ? nullptr : std::get_if<int64_t>(&it->second);
      if (axis == nullptr || *axis < 0) return std::nullopt;
      attrs.Set("axis", *axis + 1);
    }
    return MakeOp(op, {x}, attrs);
  }
  // An attribute listing one entry per axis, with the batch axis's entry put first.
  auto prepend = [&](const char* name, int64_t first) {
    const std::optional<Ints> old = attr_ints(name);
    if (old.has_value()) attrs.Set(name, Prepend(first, *old));
    return old.has_value();
  };
  if (op == "reshape" || op == "broadcast_to") {
    if (!prepend("shape", n)) return std::nullopt;
    return MakeOp(op, {op == "reshape" ? x : Lift(x, example_rank(0), rank)}, attrs);
  }
  if (op == "transpose") {
    const std::optional<Ints> old_perm = attr_ints("perm");
    if (!old_perm.has_value()) return std::nullopt;
    Ints perm = {0};
    for (int64_t p : *old_perm) perm.push_back(p + 1);
    attrs.Set("perm", perm);
    return MakeOp(op, {x}, attrs);
  }
  if (op == "slice") {
    if (!prepend("start", 0) || !prepend("stop", n) || !prepend("strides", 1)) return std::nullopt;
    return MakeOp(op, {x}, attrs);
  }
  if (op == "concatenate") {
    auto it = node.attrs.values().find("axis");
    const int64_t* axis =
        it == node.attrs.values().end() ? nullptr : std::get_if<int64_t>(&it->second);
    if (axis == nullptr || *axis < 0) return std::nullopt;
    attrs.Set("axis", *axis + 1);
    std::vector<Array> operands;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Shape& shape = node.inputs[i]->type.shape;
      Shape batch_shape = {n};
      batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
      operands.push_back(inputs[i].batched ? inputs[i].array
                                           : broadcast_to(inputs[i].array, batch_shape));
    }
    return MakeOp(op, operands, attrs);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<Array>> BatchTrace(
    const std::vector<Array>& outputs, const std::unordered_map<const ArrayNode*, Array>& batched,
    int64_t n) {
  std::unordered_map<const ArrayNode*, Value> values;
  // Post-order without recursion (a long chain would overflow the call stack).
  for (const Array& output : outputs) {
    std::vector<std::pair<NodePtr, size_t>> stack = {{output.node(), 0}};
    while (!stack.empty()) {
      const NodePtr node = stack.back().first;
      size_t& next = stack.back().second;
      if (values.count(node.get()) > 0) {
        stack.pop_back();
        continue;
      }
      auto source = batched.find(node.get());
      if (source != batched.end()) {
        values.emplace(node.get(), Value{source->second, true});
        stack.pop_back();
        continue;
      }
      if (next < node->inputs.size()) {
        const NodePtr& input = node->inputs[next++];
        if (values.count(input.get()) == 0) stack.push_back({input, 0});
        continue;
      }
      std::vector<Value> inputs;
      bool any = false;
      for (const NodePtr& input : node->inputs) {
        inputs.push_back(values.at(input.get()));
        any = any || inputs.back().batched;
      }
      if (!any) {
        values.emplace(node.get(), Value{Array(node), false});
      } else {
        // Autodiff's marks (stop_gradient, custom_vjp) would be lost in a rebuilt node.
        if (node->stops_gradient || node->custom_vjp != nullptr) return std::nullopt;
        std::optional<Array> rebuilt = Rule(*node, inputs, n);
        Shape want = {n};
        want.insert(want.end(), node->type.shape.begin(), node->type.shape.end());
        if (!rebuilt.has_value() || rebuilt->shape() != want ||
            rebuilt->dtype() != node->type.dtype) {
          return std::nullopt;
        }
        values.emplace(node.get(), Value{*rebuilt, true});
      }
      stack.pop_back();
    }
  }
  std::vector<Array> result;
  for (const Array& output : outputs) {
    const Value& value = values.at(output.node().get());
    if (value.batched) {
      result.push_back(value.array);
    } else {
      Shape shape = {n};
      shape.insert(shape.end(), output.shape().begin(), output.shape().end());
      result.push_back(broadcast_to(reshape(output, Prepend(1, output.shape())), shape));
    }
  }
  return result;
}

}  // namespace ferry::detail
