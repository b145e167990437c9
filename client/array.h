#ifndef FERRY_CLIENT_ARRAY_H_
#define FERRY_CLIENT_ARRAY_H_

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "client/device.h"
#include "client/dtype.h"

namespace ferry {

namespace detail {
struct ArrayNode;
}  // namespace detail

// An n-dimensional array on a device: a lazy operation on other arrays until evaluated,
// then a value resident on its device. A shared handle: copies refer to the same array.
// Its dtype and shape are known as soon as it is built; nothing runs until eval().
// Arrays are not thread-safe (build and evaluate a graph from one thread at a time);
// devices are.
class Array {
 public:
  // Internal: arrays are made by the ops in client/ops.h.
  explicit Array(std::shared_ptr<detail::ArrayNode> node);

  const Shape& shape() const;
  int64_t shape(int axis) const;  // negative axes count from the end
  Dtype dtype() const;
  int ndim() const;
  int64_t size() const;    // number of elements
  int64_t nbytes() const;  // size() * bytes per element
  Device device() const;

  // This array on `device` (libtorch's Tensor::to), lazy like any op; itself when `device` is
  // its own. Between two daemons the bytes go daemon to daemon, never through this process,
  // where both daemons can (feature "peer_copy", pipelined sessions); otherwise they pass
  // through here. Gradients flow back through it to the source's device.
  Array to(const Device& device) const;

  // Whether the value is computed (or was given), so reading it costs no eval.
  bool is_available() const;

  // Computes the array (one round trip on a remote device) and keeps it on its device.
  void eval();

  // Evaluates if needed and copies the elements out, row-major. T must be the array's
  // dtype (see dtype_of); for bool, a std::vector<bool>.
  template <typename T>
  std::vector<T> to_vector();

  // Evaluates if needed and copies the array's bytes, row-major, into caller-owned memory
  // (a reused or pinned buffer, a NumPy array's data); `nbytes` must equal nbytes().
  void copy_to(void* dst, size_t nbytes);

  // The single element of a one-element array; throws unless size() == 1.
  template <typename T>
  T item();

  // Internal: the node behind the handle.
  const std::shared_ptr<detail::ArrayNode>& node() const { return node_; }

 private:
  // Evaluates and copies all bytes to `dst`, after checking that `dtype` is the array's.
  void read_bytes(void* dst, Dtype dtype, const char* caller);
  void require_one_element() const;

  std::shared_ptr<detail::ArrayNode> node_;
};

// Evaluates several arrays together: one graph per device involved. On a daemon this
// returns once the graph is sent: later evals may use the results at once, and a read
// (to_vector, item) waits for them, so a chain of dependent evals ending in one read costs
// one round trip. A failure on the daemon is thrown by the read of an array it affects, or
// else by the next read or synchronize().
void eval(const std::vector<Array>& arrays);

// Starts evaluating `arrays` (as eval) and returns a future that is ready once their values
// are computed; get() throws the failure of the step that computed one of them, or of an
// earlier step not reported yet. On the local device the work is done before it returns.
std::future<void> async_eval(const std::vector<Array>& arrays);

// Waits until everything sent to `device` has run; throws the earliest failure on it not
// reported yet (by a read or an earlier synchronize).
void synchronize(const Device& device);

// The device's memory (see MemoryInfo) once the evals sent to it so far have run: a round
// trip or two to a daemon. reset_peak_memory starts peak_bytes again from active_bytes.
MemoryInfo memory_info(const Device& device = default_device());
void reset_peak_memory(const Device& device = default_device());

// Stops what `device` is computing for this process, from any thread (a stop button, a
// thread watching for Ctrl-C): the evals in flight fail with CANCELLED, wherever their
// arrays are used, and no more of their work runs (a daemon stops between kernels);
// arrays computed before are kept, and later evals go on as usual.
void cancel(const Device& device);

template <typename T>
std::vector<T> Array::to_vector() {
  if constexpr (std::is_same_v<T, bool>) {
    std::vector<uint8_t> bytes(static_cast<size_t>(size()));
    read_bytes(bytes.data(), bool_, "to_vector");
    return std::vector<bool>(bytes.begin(), bytes.end());
  } else {
    std::vector<T> values(static_cast<size_t>(size()));
    read_bytes(values.data(), dtype_of<T>(), "to_vector");
    return values;
  }
}

template <typename T>
T Array::item() {
  require_one_element();
  return to_vector<T>()[0];
}

}  // namespace ferry

#endif  // FERRY_CLIENT_ARRAY_H_
