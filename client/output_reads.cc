#include "client/output_reads.h"

namespace ferry::detail {

std::shared_ptr<OutputReads::Marks> OutputReads::ForEval(const std::string& graph_id,
                                                         size_t outputs, bool* first) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Marks>& marks = graphs_[graph_id];
  *first = marks == nullptr || marks->size() != outputs;
  if (*first) {
    if (graphs_.size() > kMaxGraphs) {
      graphs_.clear();  // a program of ever new graphs: forgets, so new ones come back whole
      std::shared_ptr<Marks>& fresh = graphs_[graph_id];
      fresh = std::make_shared<Marks>(outputs);
      return fresh;
    }
    marks = std::make_shared<Marks>(outputs);
  }
  return marks;
}

}  // namespace ferry::detail
