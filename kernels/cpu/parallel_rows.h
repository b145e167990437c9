#ifndef FERRY_KERNELS_CPU_PARALLEL_ROWS_H_
#define FERRY_KERNELS_CPU_PARALLEL_ROWS_H_

// Splits a kernel's independent rows (or matrices) among the CPU's cores, for the loops
// OpenBLAS does not run for us (it threads its own): the calling thread takes the first part.

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace ferry::kernels::cpu {

// Calls fn(begin, end) on parts of [0, rows) of at least `min_rows` each (one part, on this
// thread, when rows < 2 * min_rows), at most one per hardware thread.
template <typename Fn>
void ForRowsInParallel(int64_t rows, int64_t min_rows, Fn&& fn) {
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  const int64_t parts = std::clamp<int64_t>(rows / std::max<int64_t>(min_rows, 1), 1, cores);
  if (parts == 1) return fn(int64_t{0}, rows);
  std::vector<std::thread> helpers;
  for (int64_t p = 1; p < parts; ++p) {
    helpers.emplace_back([&fn, rows, parts, p] { fn(rows * p / parts, rows * (p + 1) / parts); });
  }
  fn(int64_t{0}, rows / parts);
  for (std::thread& helper : helpers) helper.join();
}

// As ForRowsInParallel for fn(begin, end) -> absl::Status that stops at a row that fails:
// the failure of the first part that failed, which is the failure a loop over all the rows
// in order would stop at.
template <typename Fn>
absl::Status ForRowsInParallelUntilFailure(int64_t rows, int64_t min_rows, Fn&& fn) {
  std::mutex mu;
  int64_t failed_at = rows;
  absl::Status failure;
  ForRowsInParallel(rows, min_rows, [&](int64_t begin, int64_t end) {
    absl::Status status = fn(begin, end);
    if (status.ok()) return;
    std::lock_guard<std::mutex> lock(mu);
    if (begin < failed_at) {
      failed_at = begin;
      failure = std::move(status);
    }
  });
  return failure;
}

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_PARALLEL_ROWS_H_
