#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using testing::Elements;
using ::testing::ElementsAre;
using testing::RunOp;
using testing::Values;

core::HostTensor Generate(const std::string& op, const core::Attrs& attrs) {
  absl::StatusOr<core::HostTensor> out = RunOp(op, {}, attrs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

core::HostTensor Arange(double start, double stop, double step, DType dtype) {
  return Generate("arange", {{"start", start}, {"stop", stop}, {"step", step}, {"dtype", dtype}});
}

TEST(Full, FillsTheShapeWithOneValue) {
  const core::HostTensor out = Generate(
      "full", {{"value", 2.5}, {"shape", std::vector<int64_t>{2, 2}}, {"dtype", DType::kFloat32}});
  EXPECT_EQ(out.type, (core::TensorType{DType::kFloat32, {2, 2}}));
  EXPECT_THAT(Values(out), ElementsAre(2.5, 2.5, 2.5, 2.5));
}

TEST(Full, ConvertsTheValueToTheDType) {
  EXPECT_THAT(Elements<int32_t>(Generate("full", {{"value", -3.75},
                                                  {"shape", std::vector<int64_t>{2}},
                                                  {"dtype", DType::kInt32}})),
              ElementsAre(-3, -3));
  EXPECT_THAT(
      Elements<uint16_t>(Generate(
          "full", {{"value", 0.1}, {"shape", std::vector<int64_t>{}}, {"dtype", DType::kFloat16}})),
      ElementsAre(0x2e66));
  EXPECT_THAT(Elements<uint8_t>(Generate("full", {{"value", int64_t{7}},
                                                  {"shape", std::vector<int64_t>{3}},
                                                  {"dtype", DType::kBool}})),
              ElementsAre(1, 1, 1));
  EXPECT_TRUE(
      Generate("full",
               {{"value", 1.0}, {"shape", std::vector<int64_t>{0}}, {"dtype", DType::kFloat64}})
          .data.empty());
}

TEST(Arange, CountsUpAndDown) {
  const core::HostTensor up = Arange(0, 5, 1, DType::kInt32);
  EXPECT_EQ(up.type, (core::TensorType{DType::kInt32, {5}}));
  EXPECT_THAT(Values(up), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Values(Arange(3, -3, -2, DType::kInt64)), ElementsAre(3, 1, -1));
  EXPECT_THAT(Values(Arange(0, 1, 0.25, DType::kFloat32)), ElementsAre(0, 0.25, 0.5, 0.75));
  EXPECT_EQ(Arange(5, 0, 1, DType::kFloat32).type.shape, core::Shape{0});
}

TEST(Arange, ComputesEachValueWithoutAccumulatingError) {
  // Summing 0.1 thirty times gives 2.9000000000000012; 0.1 * 29 is 2.9000000000000004.
  const std::vector<double> values = Values(Arange(0, 3, 0.1, DType::kFloat64));
  ASSERT_EQ(values.size(), 30u);
  EXPECT_EQ(values[29], 29 * 0.1);
}

}  // namespace
}  // namespace ferry::kernels::cpu
