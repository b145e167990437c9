// MLX's transforms on a real ferryd over loopback: per-example gradients (vmap of grad), a
// Jacobian-vector product and a checkpointed layer's gradients each evaluate in one Execute
// and give the local device's numbers; a function exported on the local device runs on the
// daemon with its captured weights.

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

// The three transforms on `device`, evaluated together; returns every result flattened.
std::vector<std::vector<float>> RunTransforms(const Device& device) {
  Array w = from_host(testing::NormalFloats(12, 1), {4, 3}, device);
  Array xs = from_host(testing::NormalFloats(20, 2), {5, 4}, device);
  Array ys = from_host(testing::NormalFloats(15, 3), {5, 3}, device);
  auto loss = [](const std::vector<Array>& p) {  // p: w, one x, its y
    return sum(square(tanh(matmul(p[1], p[0])) - p[2]));
  };
  // One gradient of w per example.
  Array per_example = vmap(
      [&](const std::vector<Array>& e) {
        return std::vector<Array>{grad(loss)({w, e[0], e[1]})};
      },
      {0, 0})({xs, ys})[0];
  // The directional derivative of the batch loss along t.
  Array t = from_host(testing::NormalFloats(12, 4), {4, 3}, device);
  auto [value, derivative] =
      jvp([&](const Array& v) { return sum(square(tanh(matmul(xs, v)) - ys)); }, w, t);
  // The batch loss's gradient through a checkpointed layer.
  auto layer = checkpoint(
      [](const std::vector<Array>& p) { return std::vector<Array>{tanh(matmul(p[1], p[0]))}; });
  Array checkpointed = grad([&](const std::vector<Array>& p) {
    return sum(square(layer({p[0], xs})[0] - ys));
  })({w});
  eval({per_example, value, derivative, checkpointed});
  return {per_example.to_vector<float>(), value.to_vector<float>(), derivative.to_vector<float>(),
          checkpointed.to_vector<float>()};
}

TEST(ClientTransformsRemoteTest, OneExecuteAndTheLocalNumbers) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  Device remote = connect(ferryd->address());
  const DeviceStats before = remote.stats();
  const std::vector<std::vector<float>> got = RunTransforms(remote);
  const DeviceStats after = remote.stats();
  EXPECT_EQ(after.executes - before.executes, 1);
  const std::vector<std::vector<float>> want = RunTransforms(default_device());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << "result " << i;
    for (size_t j = 0; j < want[i].size(); ++j) {
      EXPECT_NEAR(got[i][j], want[i][j], 1e-5 * (1 + std::abs(want[i][j])))
          << "result " << i << ", element " << j;
    }
  }
  // Both are of the batch loss: the derivative along t is the gradient (through the
  // checkpoint) dotted with t.
  const std::vector<float> t = testing::NormalFloats(12, 4);
  double dot = 0;
  for (size_t j = 0; j < t.size(); ++j) dot += got[3][j] * t[j];
  EXPECT_NEAR(got[2][0], dot, 1e-4 * (1 + std::abs(dot)));
}

TEST(ClientTransformsRemoteTest, AFunctionExportedLocallyRunsOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  Device remote = connect(ferryd->address());
  Array w = from_host(testing::NormalFloats(12, 1), {4, 3});  // local, captured
  auto layer = [&w](const std::vector<Array>& in) {
    return std::vector<Array>{tanh(matmul(in[0], w))};
  };
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/layer.ferryfn";
  export_function(path, layer, {zeros({5, 4})});
  const std::vector<float> x = testing::NormalFloats(20, 2);
  const std::vector<float> got =
      import_function(path)({from_host(x, {5, 4}, remote)})[0].to_vector<float>();
  const std::vector<float> want = layer({from_host(x, {5, 4})})[0].to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t j = 0; j < want.size(); ++j) EXPECT_NEAR(got[j], want[j], 1e-6) << j;

  // One graph runs on one device: outputs on two are refused.
  try {
    export_function(path,
                    [&](const std::vector<Array>& in) {
                      return std::vector<Array>{in[0] * 2.0f, ones({2}, float32, remote)};
                    },
                    {zeros({5, 4})});
    FAIL() << "outputs on two devices were exported";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("one graph runs on one device"), std::string::npos)
        << error.what();
  }
}

// A model's weights saved in the file: uploaded once per device (through the upload cache)
// and reused by every call, not shipped in each graph; a model larger than the daemon's
// message limit (64 MiB) runs at all.
TEST(ClientTransformsRemoteTest, AnImportedModelsWeightsGoOncePerDevice) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const int64_t n = int64_t{24} << 20;  // 96 MiB of float32
  const std::vector<float> w = testing::NormalFloats(n, 9);
  Array weight = from_host(w, {n});
  const float total = sum(weight).item<float>();
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/big.ferryfn";
  export_function(
      path, [&](const std::vector<Array>& in) { return std::vector<Array>{in[0] * sum(weight)}; },
      {zeros({4})});
  const ExportedFunction model = import_function(path);
  Device remote = connect(ferryd->address());
  const std::vector<float> x = {1, 2, 3, 4};
  for (int call = 0; call < 3; ++call) {
    const DeviceStats before = remote.stats();
    const std::vector<float> got = model({from_host(x, {4}, remote)})[0].to_vector<float>();
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], x[i] * total, 1e-2 * std::abs(total)) << i;
    const DeviceStats after = remote.stats();
    EXPECT_EQ(after.upload_bytes - before.upload_bytes, call == 0 ? n * 4 : 0) << call;
    EXPECT_LT(after.bytes_sent - before.bytes_sent, call == 0 ? n * 4 + (1 << 20) : 1 << 20);
  }
  // Another process (here: another import and session) gets the weights from the daemon's
  // upload cache.
  testing::WaitUntil([&] {
    Device probe = connect(ferryd->address());
    import_function(path)({from_host(x, {4}, probe)})[0].eval();
    return probe.stats().cached_uploads == 1;
  });
  Device again = connect(ferryd->address());
  import_function(path)({from_host(x, {4}, again)})[0].eval();
  EXPECT_EQ(again.stats().cached_uploads, 1);
}

}  // namespace
}  // namespace ferry
