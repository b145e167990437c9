// Array::to: an array's value on another device, made when an eval needs it.

#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "client/array.h"
#include "client/array_node.h"

namespace ferry {

Array Array::to(const Device& device) const {
  if (node_->device == device) return *this;
  auto node = std::make_shared<detail::ArrayNode>(node_->type, device);
  node->op = detail::kCopyOp;
  node->inputs.push_back(node_);
  node->needs_copy = true;
  return Array(std::move(node));
}

namespace detail {

void MaterializeCopies(const std::vector<ArrayNode*>& targets) {
  // The copies not made yet, found without looking past them (their sources are another
  // device's graph) or into nodes that need none.
  std::vector<ArrayNode*> copies;
  std::vector<ArrayNode*> visited;
  // Evaluating one copy's source can materialize a node whose graph holds other visited
  // nodes, which frees them: these references keep them (the targets, the caller keeps).
  std::vector<std::shared_ptr<ArrayNode>> held;
  absl::flat_hash_set<ArrayNode*> seen;
  std::vector<ArrayNode*> stack;
  for (ArrayNode* target : targets) {
    if (target->needs_copy && !target->materialized() && seen.insert(target).second) {
      stack.push_back(target);
    }
  }
  while (!stack.empty()) {
    ArrayNode* node = stack.back();
    stack.pop_back();
    visited.push_back(node);
    if (node->op == kCopyOp) {
      copies.push_back(node);
      continue;
    }
    for (const std::shared_ptr<ArrayNode>& input : node->inputs) {
      if (input->needs_copy && !input->materialized() && seen.insert(input.get()).second) {
        stack.push_back(input.get());
        held.push_back(input);
      }
    }
  }
  if (copies.empty()) return;
  std::vector<Array> sources;
  std::vector<Array> lazy;  // evaluated first; a value (a host array) is copied as it is
  sources.reserve(copies.size());
  for (ArrayNode* copy : copies) {
    sources.emplace_back(copy->inputs[0]);
    if (!sources.back().is_available()) lazy.push_back(sources.back());
  }
  if (!lazy.empty()) eval(lazy);
  for (size_t i = 0; i < copies.size(); ++i) {
    // One source's graph may hold another of these copies (a gradient going back through
    // the layers), which evaluating it has made already.
    if (copies[i]->materialized()) continue;
    const ArrayNode& source = *sources[i].node();
    copies[i]->Materialize(copies[i]->device.impl().CopyFrom(source.device.impl(), source.buffer));
  }
  for (ArrayNode* node : visited) node->needs_copy = false;  // every copy under it is made
}

}  // namespace detail
}  // namespace ferry
