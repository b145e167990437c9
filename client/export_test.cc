// export_function and import_function: a saved function computes what the original does,
// bit for bit, with its captured weights inside the file; it differentiates like any op;
// a call with other shapes, a file that is not a saved function, or a graph that would not
// pass a daemon's checks, is refused naming what is wrong.

#include "client/export.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name;
}

std::vector<float> Values(Array a) { return a.to_vector<float>(); }

// A two-layer MLP whose weights the function captures.
struct Mlp {
  Array w1 = random::normal({16, 32}, float32, 0.0, 0.25, random::key(1));
  Array b1 = random::normal({32}, float32, 0.0, 0.25, random::key(2));
  Array w2 = random::normal({32, 4}, float32, 0.0, 0.25, random::key(3));
  std::vector<Array> operator()(const std::vector<Array>& in) const {
    return {matmul(maximum(matmul(in[0], w1) + b1, 0.0f), w2)};
  }
};

TEST(ExportFunction, TheImportedFunctionComputesWhatTheOriginalDoesBitForBit) {
  const Mlp mlp;
  const std::string path = TempPath("mlp.ferryfn");
  export_function(path, mlp, {zeros({8, 16})});
  const ExportedFunction imported = import_function(path);
  for (uint64_t seed : {10, 11}) {
    Array x = random::normal({8, 16}, float32, 0.0, 1.0, random::key(seed));
    EXPECT_EQ(Values(imported({x})[0]), Values(mlp({x})[0])) << seed;
  }
}

TEST(ExportFunction, InputsMayGoUnusedOrStraightOutAndOutputsMayBeMany) {
  const std::string path = TempPath("many.ferryfn");
  export_function(path,
                  [](const std::vector<Array>& in) {
                    return std::vector<Array>{in[1], in[1] * 2.0f, astype(in[2] > 0, int32)};
                  },
                  {zeros({3}), ones({2, 2}), zeros({4}, int64)});
  const ExportedFunction imported = import_function(path);
  std::vector<Array> out =
      imported({zeros({3}), full({2, 2}, 3.0), from_host(std::vector<int64_t>{-1, 0, 5, 7}, {4})});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(Values(out[0]), (std::vector<float>{3, 3, 3, 3}));
  EXPECT_EQ(Values(out[1]), (std::vector<float>{6, 6, 6, 6}));
  EXPECT_EQ(out[2].to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 1, 1}));
}

TEST(ExportFunction, GradientsFlowThroughTheImportedFunction) {
  const Mlp mlp;
  const std::string path = TempPath("grad.ferryfn");
  export_function(path, mlp, {zeros({2, 16})});
  const ExportedFunction imported = import_function(path);
  Array x = random::normal({2, 16}, float32, 0.0, 1.0, random::key(4));
  Array saved = grad([&](const Array& v) { return sum(imported({v})[0]); })(x);
  Array original = grad([&](const Array& v) { return sum(mlp({v})[0]); })(x);
  EXPECT_EQ(Values(saved), Values(original));
}

TEST(ExportFunction, CallsWithOtherShapesOrCountsAreRefusedNamingTheInput) {
  const std::string path = TempPath("shape.ferryfn");
  export_function(path,
                  [](const std::vector<Array>& in) { return std::vector<Array>{in[0] + in[1]}; },
                  {zeros({2, 3}), zeros({3})});
  const ExportedFunction imported = import_function(path);
  try {
    imported({zeros({2, 3}), zeros({4})});
    FAIL() << "a float32(4,) input was taken for float32(3,)";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(error.what(), HasSubstr("input 1 is float32(4,) but"));
  }
  try {
    imported({zeros({2, 3})});
    FAIL() << "one input was taken for two";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("takes 2 arrays, not 1"));
  }
}

TEST(ExportFunction, FilesThatAreNotSavedFunctionsAreRefused) {
  const std::string npy = TempPath("plain.npy");
  save(npy, ones({3}));
  const std::string missing = TempPath("missing.ferryfn");
  for (const auto& [path, code, why] : std::vector<std::tuple<std::string, ErrorCode, std::string>>{
           {npy, ErrorCode::kInvalidArgument, "does not start with FERRYFN1"},
           {missing, ErrorCode::kNotFound, "cannot open"}}) {
    try {
      import_function(path);
      FAIL() << path;
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), code) << error.what();
      EXPECT_THAT(error.what(), HasSubstr(why));
    }
  }
  // A saved function cut short does not load.
  const std::string path = TempPath("cut.ferryfn");
  export_function(path, Mlp(), {zeros({8, 16})});
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (size_t keep : {size_t{12}, bytes.size() / 2}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), keep);
    try {
      import_function(path);
      FAIL() << "a file cut to " << keep << " bytes loaded";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << error.what();
      EXPECT_THAT(error.what(), HasSubstr("is not a saved function"));
    }
  }
}

}  // namespace
}  // namespace ferry
