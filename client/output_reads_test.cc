#include "client/output_reads.h"

#include <memory>

#include "gtest/gtest.h"

namespace ferry::detail {
namespace {

TEST(OutputReadsTest, AGraphsFirstEvalIsMarkedFirstAndItsMarksStaySet) {
  OutputReads reads;
  bool first = false;
  std::shared_ptr<OutputReads::Marks> marks = reads.ForEval("step", 3, &first);
  EXPECT_TRUE(first);
  EXPECT_FALSE(marks->WasRead(0));
  marks->MarkRead(2);

  std::shared_ptr<OutputReads::Marks> again = reads.ForEval("step", 3, &first);
  EXPECT_FALSE(first);
  EXPECT_EQ(again, marks);
  EXPECT_FALSE(again->WasRead(0));
  EXPECT_TRUE(again->WasRead(2));
  EXPECT_FALSE(again->WasRead(3));  // out of range: never read

  reads.ForEval("other", 3, &first);
  EXPECT_TRUE(first);  // marks are per graph
}

TEST(OutputReadsTest, ManyGraphsStartOver) {
  OutputReads reads;
  bool first = false;
  reads.ForEval("g0", 1, &first)->MarkRead(0);
  for (int i = 1; i <= 5000; ++i) reads.ForEval("g" + std::to_string(i), 1, &first);
  std::shared_ptr<OutputReads::Marks> marks = reads.ForEval("g0", 1, &first);
  EXPECT_TRUE(first);  // forgotten: it comes back whole again
  EXPECT_FALSE(marks->WasRead(0));
}

}  // namespace
}  // namespace ferry::detail
