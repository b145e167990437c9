// Every op core declares has a CUDA kernel, or is listed below as a known gap. Needs no GPU.

#include <algorithm>
#include <set>
#include <string>

#include "core/ops.h"
#include "gtest/gtest.h"
#include "kernels/cuda/kernels.h"

namespace ferry::kernels::cuda {
namespace {

// Ops without a kernel: the executor handles them itself, or the CUDA backend does not
// have them yet. Add a line (with why) when an op lands for the CPU first.
const std::set<std::string>& KnownGaps() {
  static const auto* gaps = new std::set<std::string>{
      "constant",   // the executor uploads the value
      "parameter",  // the executor binds the caller's tensor
  };
  return *gaps;
}

TEST(CudaOpCoverageTest, EveryCoreOpHasACudaKernelOrIsAListedGap) {
  const KernelTable& kernels = CudaKernels();
  for (const std::string& op : core::OpNames()) {
    if (core::IsCollective(op)) continue;  // run in the executor, with the session's group
    const bool has_kernel = kernels.contains(op);
    const bool listed = KnownGaps().count(op) > 0;
    EXPECT_TRUE(has_kernel || listed) << "op '" << op << "' has no CUDA kernel: write one "
                                      << "or add it to KnownGaps() with a reason";
    EXPECT_FALSE(has_kernel && listed) << "op '" << op << "' has a CUDA kernel now: drop it "
                                       << "from KnownGaps()";
  }
}

TEST(CudaOpCoverageTest, EveryCudaKernelIsACoreOp) {
  const std::vector<std::string> names = core::OpNames();
  for (const auto& [op, kernel] : CudaKernels()) {
    EXPECT_NE(std::find(names.begin(), names.end(), op), names.end()) << op;
    EXPECT_NE(kernel, nullptr) << op;
  }
}

}  // namespace
}  // namespace ferry::kernels::cuda
