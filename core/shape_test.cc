#include "core/shape.h"

#include <string>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(ShapeTest, ToString) {
  EXPECT_EQ(ShapeToString({}), "()");
  EXPECT_EQ(ShapeToString({4}), "(4,)");
  EXPECT_EQ(ShapeToString({2, 3}), "(2, 3)");
}

TEST(ShapeTest, NumElements) {
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({2, 3, 4}), 24);
  EXPECT_EQ(NumElements({2, 0, 4}), 0);
}

TEST(ShapeTest, CheckShapeAcceptsOrdinaryShapes) {
  EXPECT_TRUE(CheckShape({}).ok());
  EXPECT_TRUE(CheckShape({2, 3}).ok());
  EXPECT_TRUE(CheckShape({0, 5}).ok());
  EXPECT_TRUE(CheckShape({int64_t{1} << 24, int64_t{1} << 24}).ok());  // exactly 2^48
}

TEST(ShapeTest, CheckShapeRefusesNegativeDims) {
  absl::Status s = CheckShape({2, -1});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s), "shape (2, -1) has a negative dimension");
}

TEST(ShapeTest, CheckShapeRefusesTooManyElements) {
  EXPECT_EQ(Message(CheckShape({int64_t{1} << 24, int64_t{1} << 24, 2})),
            "shape (16777216, 16777216, 2) has more than 2^48 elements");
  // The product would overflow int64 (2^63 and beyond); it is refused, not wrapped.
  const int64_t big = int64_t{1} << 62;
  EXPECT_EQ(Message(CheckShape({2, big})),
            "shape (2, 4611686018427387904) has more than 2^48 elements");
  EXPECT_FALSE(CheckShape({big, big, big}).ok());
  EXPECT_FALSE(CheckShape({int64_t{1} << 32, int64_t{1} << 31}).ok());  // 2^63
}

TEST(ShapeTest, CheckShapeRefusesHugeDimsEvenWhenEmpty) {
  // No elements, but its strides would overflow.
  const int64_t big = int64_t{1} << 62;
  EXPECT_EQ(Message(CheckShape({0, big, big})),
            "shape (0, 4611686018427387904, 4611686018427387904) has nonzero dimensions "
            "whose product exceeds 2^48");
}

TEST(ShapeTest, ContiguousStrides) {
  EXPECT_EQ(ContiguousStrides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(ContiguousStrides({}), std::vector<int64_t>{});
  EXPECT_EQ(ContiguousStrides({2, 0, 3}), (std::vector<int64_t>{3, 3, 1}));
}

TEST(ShapeTest, Broadcast) {
  EXPECT_EQ(*BroadcastShapes({2, 3}, {3}), (Shape{2, 3}));
  EXPECT_EQ(*BroadcastShapes({2, 1}, {1, 3}), (Shape{2, 3}));
  EXPECT_EQ(*BroadcastShapes({}, {2}), (Shape{2}));
  EXPECT_EQ(*BroadcastShapes({}, {}), Shape{});
  EXPECT_EQ(*BroadcastShapes({0}, {1}), (Shape{0}));
  EXPECT_EQ(*BroadcastShapes({5, 1, 4}, {3, 1}), (Shape{5, 3, 4}));
}

TEST(ShapeTest, BroadcastError) {
  absl::StatusOr<Shape> s = BroadcastShapes({2, 3}, {4});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s.status()), "shapes (2, 3) and (4,) cannot be broadcast together");
  EXPECT_FALSE(BroadcastShapes({0}, {2}).ok());
}

TEST(ShapeTest, NormalizeAxis) {
  EXPECT_EQ(*NormalizeAxis(-1, 2), 1);
  EXPECT_EQ(*NormalizeAxis(-2, 2), 0);
  EXPECT_EQ(*NormalizeAxis(1, 2), 1);
  EXPECT_EQ(Message(NormalizeAxis(2, 2).status()), "axis 2 is out of range for an array of rank 2");
  EXPECT_EQ(Message(NormalizeAxis(-3, 2).status()),
            "axis -3 is out of range for an array of rank 2");
  EXPECT_FALSE(NormalizeAxis(0, 0).ok());
}

}  // namespace
}  // namespace ferry::core
