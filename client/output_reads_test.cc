#include "client/output_reads.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ferry::detail {
namespace {

using Reads = std::vector<bool>;

TEST(OutputReadsTest, AGraphsFirstEvalWantsEveryOutput) {
  OutputReads reads;
  Reads read;
  reads.ForEval("step", 3, 3, &read);
  EXPECT_EQ(read, Reads({true, true, true}));
  reads.ForEval("other", 2, 2, &read);
  EXPECT_EQ(read, Reads({true, true}));  // marks are per graph
}

// What eval keeps beside its targets (arrays the program holds) is wanted once read.
TEST(OutputReadsTest, HeldOutputsAreWantedOnlyOnceRead) {
  OutputReads reads;
  Reads read;
  std::shared_ptr<OutputReads::Marks> first = reads.ForEval("step", 4, 2, &read);
  EXPECT_EQ(read, Reads({true, true, false, false}));
  first->MarkRead(3);
  reads.ForEval("step", 4, 2, &read);
  EXPECT_EQ(read, Reads({false, false, false, true}));
}

TEST(OutputReadsTest, LaterEvalsWantWhatWasReadSinceTheLastOne) {
  OutputReads reads;
  Reads read;
  std::shared_ptr<OutputReads::Marks> first = reads.ForEval("step", 3, 3, &read);
  first->MarkRead(2);
  std::shared_ptr<OutputReads::Marks> second = reads.ForEval("step", 3, 3, &read);
  EXPECT_EQ(second, first);
  EXPECT_EQ(read, Reads({false, false, true}));
  reads.ForEval("step", 3, 3, &read);
  EXPECT_EQ(read, Reads({false, false, false}));  // not read again: not wanted again
  first->MarkRead(0);                             // an older eval's output read late still counts
  reads.ForEval("step", 3, 3, &read);
  EXPECT_EQ(read, Reads({true, false, false}));
}

TEST(OutputReadsTest, ManyGraphsStartOver) {
  OutputReads reads;
  Reads read;
  reads.ForEval("g0", 1, 1, &read);
  for (int i = 1; i <= 5000; ++i) reads.ForEval("g" + std::to_string(i), 1, 1, &read);
  reads.ForEval("g0", 1, 1, &read);
  EXPECT_EQ(read, Reads({true}));  // forgotten: it comes back whole again
}

}  // namespace
}  // namespace ferry::detail
