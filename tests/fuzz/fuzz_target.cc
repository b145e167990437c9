#include "tests/fuzz/fuzz_target.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tests/random_graphs.h"

namespace ferry::fuzz {

void Check(bool holds, const std::string& what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", what.c_str());
  std::abort();
}

void CheckClientError(const absl::Status& status, const std::string& stage) {
  Check(testing::IsClientError(status.code()),
        absl::StrCat(stage, " answered ", status.ToString()));
}

size_t WriteMutation(const std::string& mutated, uint8_t* data, size_t size, size_t max_size) {
  if (mutated.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, mutated.data(), mutated.size());
  return mutated.size();
}

}  // namespace ferry::fuzz
