// The in-process device is a group of its own (MLX's singleton group): code written for
// many ranks runs on it unchanged, each collective giving what one rank's would.
#include <vector>

#include "client/distributed.h"
#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

TEST(LocalGroupTest, EveryCollectiveOfOneRankIsItsInput) {
  const distributed::Group group = distributed::init({local()});
  EXPECT_EQ(group.size(), 1);
  EXPECT_EQ(group.backend(), "singleton");
  Array x = from_host(std::vector<float>{1, -2, 3, 4, 5, 6}, {3, 2}, local());
  const std::vector<float> values = x.to_vector<float>();
  for (Array result : {distributed::all_sum(x, group), distributed::all_max(x, group),
                       distributed::all_min(x, group), distributed::all_gather(x, group),
                       distributed::sum_scatter(x, group), distributed::all_to_all(x, group)}) {
    EXPECT_EQ(result.shape(), (Shape{3, 2}));
    EXPECT_EQ(result.to_vector<float>(), values);
  }
  EXPECT_EQ(distributed::average_gradients({x, 2.0f * x}, group)[1].to_vector<float>(),
            (2.0f * x).to_vector<float>());
  // A gradient through a collective of one rank is the plain gradient.
  EXPECT_EQ(grad([&](const Array& v) { return sum(distributed::all_sum(v, group) * v); })(x)
                .to_vector<float>(),
            (2.0f * x).to_vector<float>());
}

TEST(LocalGroupTest, OnlyAGroupOfItsOwnAndNoOneToSendTo) {
  const distributed::Group group = distributed::init({local()});
  EXPECT_THROW(distributed::send(ones({2}), 0, group), Error);  // itself: refused as built
  try {
    distributed::init({local(), local()});
    FAIL() << "the local device joined a group of two";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kFailedPrecondition);
    EXPECT_THAT(error.what(), HasSubstr("cannot join a group"));
  }
}

}  // namespace
}  // namespace ferry
