#ifndef FERRY_CLIENT_OUTPUT_READS_H_
#define FERRY_CLIENT_OUTPUT_READS_H_

// Internal to the client library: which outputs of each graph a session's program reads
// back to the host, so that a graph evaluated again returns inline only those.

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ferry::detail {

// A training step's graph outputs the loss, which the program reads, and the weights and
// optimizer state, which it only passes to the next step. Small results come back inline
// with the step's answer (no round trip to read them), but returning all of them costs the
// link their bytes on every step: 1.2 MB a step for examples/train_transformer's small
// model. So the first eval of a graph returns every small output inline, and each later
// eval only those the program read since the eval of that graph before it (from any eval
// of it: reading the last step's loss while the next runs counts); reading another costs
// one download, and brings that output back inline on the next eval. Thread-safe.
class OutputReads {
 public:
  // One graph's marks, shared with the buffers of its outputs.
  class Marks {
   public:
    explicit Marks(size_t outputs) : read_(outputs) {}
    void MarkRead(size_t output) { read_.at(output).store(true, std::memory_order_relaxed); }
    size_t size() const { return read_.size(); }

   private:
    friend class OutputReads;
    std::vector<std::atomic<bool>> read_;
  };

  // The marks of the graph `graph_id` of `outputs` outputs, for an eval of it about to be
  // sent. `read` gets, for each output, whether the program read it since the last call
  // for this graph; on the graph's first eval, true for those before `first_held` (the
  // targets; after them come arrays eval keeps that nothing says the program will read).
  // The marks start again.
  std::shared_ptr<Marks> ForEval(const std::string& graph_id, size_t outputs, size_t first_held,
                                 std::vector<bool>* read);

 private:
  static constexpr size_t kMaxGraphs = 4096;  // past this the marks start over
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Marks>> graphs_;
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_OUTPUT_READS_H_
