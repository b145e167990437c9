#ifndef FERRY_TESTS_FUZZ_FUZZ_TARGET_H_
#define FERRY_TESTS_FUZZ_FUZZ_TARGET_H_

// What a fuzz target defines and may use. The entry point is libFuzzer's, so the same target
// runs under libFuzzer (coverage-guided, by hand: tests/fuzz/README.md) and under
// replay_main.cc (its seeds and a fixed number of mutations of them, in CI).

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

// Runs one input. Returns 0; a broken property stops the process (Check), as a crash does.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// Optional: mutates the input in `data` (`size` bytes, room for `max_size`) in place, drawing
// from `seed`; returns its new size. A target whose inputs are structured defines it.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed);

// libFuzzer's own byte-level mutation, for a custom mutator to fall back on (replay_main.cc
// has one of its own).
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace ferry::fuzz {

// Inputs to start from, well-formed enough that mutations of them reach past the parsers.
// Defined by each target.
std::vector<std::string> Seeds();

// Stops the process, printing `what`, unless `holds`.
void Check(bool holds, const std::string& what);

// Check(testing::IsClientError(status.code())): a client's error, not a fault of ferry's;
// names `stage` and the status.
void CheckClientError(const absl::Status& status, const std::string& stage);

// Writes `mutated` over the input (`data`, room for `max_size`) and returns its size; when
// it does not fit, mutates the input's bytes instead (LLVMFuzzerMutate).
size_t WriteMutation(const std::string& mutated, uint8_t* data, size_t size, size_t max_size);

// An input as records: each `header_bytes` bytes of its own (flags, say), a 4-byte
// little-endian length, then that many bytes. SplitRecords reads at most `max_records` and
// drops a record cut short; JoinRecords writes them back.
struct Record {
  std::string header, bytes;
};
std::vector<Record> SplitRecords(const uint8_t* data, size_t size, size_t header_bytes,
                                 size_t max_records);
std::string JoinRecords(const std::vector<Record>& records);

// Repeats one of `items` (a stream's messages) at a random place, drops one, or swaps two.
template <typename T>
void RepeatDropOrSwap(std::vector<T>& items, std::mt19937_64& random) {
  if (items.empty()) return;
  const size_t at = random() % items.size();
  switch (random() % 3) {
    case 0:
      items.insert(items.begin() + static_cast<std::ptrdiff_t>(random() % (items.size() + 1)),
                   items[at]);
      break;
    case 1:
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(at));
      break;
    default:
      std::swap(items[at], items[random() % items.size()]);
      break;
  }
}

// The custom mutation of the targets whose inputs are records: one time in eight (or with no
// records) the input's bytes as libFuzzer edits them; else a record drawn at random, which
// two times in eight is repeated, dropped or moved (RepeatDropOrSwap), and otherwise changed
// by edit(records, its index): false where it cannot be, and the bytes are edited instead.
// Writes the result over the input (WriteMutation) and returns its size.
template <typename Edit>
size_t MutateRecords(std::vector<Record> records, std::mt19937_64& random, uint8_t* data,
                     size_t size, size_t max_size, Edit&& edit) {
  if (random() % 8 == 0 || records.empty()) return LLVMFuzzerMutate(data, size, max_size);
  const size_t at = random() % records.size();
  if (random() % 8 < 2) {
    RepeatDropOrSwap(records, random);
  } else if (!edit(records, at)) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  return WriteMutation(JoinRecords(records), data, size, max_size);
}

}  // namespace ferry::fuzz

#endif  // FERRY_TESTS_FUZZ_FUZZ_TARGET_H_
