#include "client/output_reads.h"

#include <algorithm>

namespace ferry::detail {

std::shared_ptr<OutputReads::Marks> OutputReads::ForEval(const std::string& graph_id,
                                                         size_t outputs, size_t first_held,
                                                         std::vector<bool>* read) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = graphs_.find(graph_id);
  if (it == graphs_.end() || it->second->size() != outputs) {
    // A program of ever new graphs: forgets them all, so they come back whole again.
    if (graphs_.size() >= kMaxGraphs) graphs_.clear();
    read->assign(outputs, false);
    std::fill(read->begin(), read->begin() + std::min(first_held, outputs), true);
    std::shared_ptr<Marks>& marks = graphs_[graph_id];
    marks = std::make_shared<Marks>(outputs);
    return marks;
  }
  read->resize(outputs);
  for (size_t i = 0; i < outputs; ++i) {
    (*read)[i] = it->second->read_[i].exchange(false, std::memory_order_relaxed);
  }
  return it->second;
}

}  // namespace ferry::detail
