#ifndef FERRY_TESTS_RANDOM_GRAPHS_H_
#define FERRY_TESTS_RANDOM_GRAPHS_H_

// Random graphs of ferry's ops on constants of random dtypes and small shapes, with
// attributes drawn at random (in range, out of range, of the wrong kind, and extremes such
// as 2^62). Most are well-formed, found by trying draws against core::InferOp, so they reach
// the kernels; the rest test validation. Used against a real ferryd and as fuzz seeds.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/graph.h"

namespace ferry::testing {

// Every op a graph may hold but "parameter" (bound parameters are tested elsewhere).
std::vector<std::string> OpsToDraw();

// Every op's name and every attribute name (strings a fuzzer's mutations draw).
const std::vector<std::string>& OpAndAttributeNames();

// Whether `code` is an answer a client's graph may earn (OK, INVALID_ARGUMENT,
// ALREADY_EXISTS, RESOURCE_EXHAUSTED, ...), not a fault of ferry's (INTERNAL, UNKNOWN, ...).
bool IsClientError(absl::StatusCode code);

class RandomGraphs {
 public:
  explicit RandomGraphs(uint32_t seed) : random_(seed) {}

  // A graph of 1 to 3 constants and then 1 to 3 random ops of `ops` on them; `well_formed`
  // says whether every op's type was inferred (else the last one declares a made-up type).
  core::Graph Graph(const std::vector<std::string>& ops, bool* well_formed);

  // The parts graphs are drawn from.
  int Below(int n) { return static_cast<int>(random_() % static_cast<uint32_t>(n)); }
  bool OneIn(int n) { return Below(n) == 0; }
  // Mostly small integers, sometimes the edges where overflow hides.
  int64_t Int();
  double Float();
  std::vector<int64_t> Ints();
  core::DType DType();
  // Small shapes; a third of them with every dim equal (square matrices for linalg).
  core::TensorType Type();
  core::HostTensor Tensor(const core::TensorType& type);
  // A value for attribute `name`: of the kind its name suggests mostly, of another sometimes.
  core::AttrValue Attr(const std::string& name);

 private:
  std::mt19937 random_;
};

}  // namespace ferry::testing

#endif  // FERRY_TESTS_RANDOM_GRAPHS_H_
