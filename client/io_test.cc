// Arrays to and from .npy and .safetensors files: files NumPy and MLX wrote load with their
// values, and every dtype survives a save and a load.

#include "client/io.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

std::string TestData(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) + "client/testdata/" + name;
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name;
}

ErrorCode CodeOf(const std::function<void()>& f, std::string* message) {
  try {
    f();
  } catch (const Error& e) {
    *message = e.what();
    return e.code();
  }
  return ErrorCode::kOk;
}

TEST(IoTest, LoadsWhatNumPyWrote) {
  Array a = load(TestData("numpy_written.npy"));
  EXPECT_EQ(a.dtype(), int16);
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_THAT(a.to_vector<int16_t>(), ElementsAre(1, -2, 3, -25536, -32768, 0));
}

TEST(IoTest, LoadsWhatMlxWroteWithItsMetadata) {
  auto [arrays, metadata] = load_safetensors(TestData("mlx_written.safetensors"));
  EXPECT_THAT(metadata, UnorderedElementsAre(Pair("format", "mlx"), Pair("step", "42")));
  ASSERT_EQ(arrays.size(), 5u);
  Array weight = arrays.at("layer.weight");
  EXPECT_EQ(weight.dtype(), bfloat16);
  EXPECT_THAT(astype(weight, float32).to_vector<float>(),
              ElementsAre(1.5, -2.25, 3.0, 0.5, 0.00099945068359375, -7.0));
  EXPECT_THAT(arrays.at("layer.bias").to_vector<float>(), ElementsAre(0.1f, -0.2f, 0.3f));
  EXPECT_THAT(arrays.at("codes").to_vector<int8_t>(), ElementsAre(-128, -1, 0, 127));
  EXPECT_THAT(arrays.at("ids").to_vector<uint16_t>(), ElementsAre(0, 65535, 7, 300));
  EXPECT_THAT(arrays.at("mask").to_vector<bool>(), ElementsAre(true, false, true));
}

TEST(IoTest, EveryDtypeRoundTrips) {
  std::unordered_map<std::string, Array> arrays;
  for (Dtype dtype : core::kAllDTypes) {
    Array a = astype(reshape(arange(-3, 3, 1, float32), {2, 3}), dtype);
    arrays.emplace(core::DTypeName(dtype), a);
    if (dtype == bfloat16) continue;  // no .npy dtype: below
    const std::string path = TempPath(std::string("round_trip_") + core::DTypeName(dtype));
    save(path, a);  // ".npy" appended
    Array back = load(path + ".npy");
    EXPECT_EQ(back.dtype(), dtype);
    EXPECT_EQ(back.shape(), a.shape());
    EXPECT_TRUE(array_equal(back, a).item<bool>()) << core::DTypeName(dtype);
  }
  const std::string path = TempPath("every_dtype.safetensors");
  save_safetensors(path, arrays, {{"written_by", "ferry"}});
  auto [back, metadata] = load_safetensors(path);
  EXPECT_THAT(metadata, ElementsAre(Pair("written_by", "ferry")));
  ASSERT_EQ(back.size(), arrays.size());
  for (auto& [name, a] : arrays) {
    EXPECT_EQ(back.at(name).dtype(), a.dtype()) << name;
    EXPECT_TRUE(array_equal(back.at(name), a).item<bool>()) << name;
  }
  // Scalars and empty arrays keep their shapes.
  save(TempPath("scalar.npy"), full({}, 2.5));
  EXPECT_EQ(load(TempPath("scalar.npy")).shape(), Shape{});
  save(TempPath("empty.npy"), zeros({0, 4}, int64));
  EXPECT_EQ(load(TempPath("empty.npy")).shape(), (Shape{0, 4}));
}

TEST(IoTest, FailuresAreNamed) {
  std::string message;
  EXPECT_EQ(CodeOf([] { load(TempPath("missing.npy")); }, &message), ErrorCode::kNotFound);
  EXPECT_THAT(message, HasSubstr("cannot open"));
  EXPECT_EQ(CodeOf([] { save(TempPath("bf16"), ones({2}, bfloat16)); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("NumPy has no bfloat16 dtype"));
  EXPECT_EQ(CodeOf([] { load(TestData("mlx_written.safetensors")); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("load_safetensors"));
  EXPECT_EQ(CodeOf([] { load_safetensors(TestData("numpy_written.npy")); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(
                [] {
                  save_safetensors(TempPath("bad"), {{"__metadata__", ones({1})}});
                },
                &message),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferry
