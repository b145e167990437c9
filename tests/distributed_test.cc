// Groups of ranks on real ferryd daemons over loopback (client/distributed.h): collectives
// give what they mean on every rank, the bytes going daemon to daemon; a data-parallel
// training step equals one device's step on the whole batch, and so does a pipeline's, its
// stages handing activations and gradients on with send and recv; a rank left out, ranks
// that disagree, a vanished daemon and a session outside the group each get a clear error
// and leave the daemons serving.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

// `count` daemons, a session on each, and a group of them.
class DistributedTest : public ::testing::Test {
 protected:
  void StartRanks(int count, std::vector<std::string> flags = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(30),
                  const ConnectOptions& connect_options = {}) {
    for (int r = 0; r < count; ++r) {
      daemons_.push_back(testing::StartFerryd(flags));
      ASSERT_NE(daemons_.back(), nullptr);
      devices_.push_back(connect(daemons_.back()->address(), connect_options));
    }
    distributed::GroupOptions options;
    options.timeout = timeout;
    group_ = std::make_unique<distributed::Group>(distributed::init(devices_, options));
  }

  std::vector<std::unique_ptr<server::FerrydProcess>> daemons_;
  std::vector<Device> devices_;
  std::unique_ptr<distributed::Group> group_;
};

TEST_F(DistributedTest, EveryCollectiveGivesEveryRankWhatItMeans) {
  StartRanks(3);
  const int size = group_->size();
  EXPECT_EQ(group_->backend(), "ring");  // CPU daemons: through host memory
  std::vector<std::vector<float>> host;
  std::vector<Array> sums, maxes, mins, gathers, scatters, int_sums, swaps;
  for (int r = 0; r < size; ++r) {
    host.push_back(testing::NormalFloats(6 * 4, 10 + r));
    Array x = from_host(host[r], {6, 4}, group_->device(r));
    sums.push_back(distributed::all_sum(x, *group_));
    maxes.push_back(distributed::all_max(x, *group_));
    mins.push_back(distributed::all_min(x, *group_));
    gathers.push_back(distributed::all_gather(x, *group_));
    scatters.push_back(distributed::sum_scatter(x, *group_));
    int_sums.push_back(distributed::all_sum(astype(x * 100.0f, int32), *group_));
    swaps.push_back(distributed::all_to_all(x, *group_));
  }
  std::vector<Array> all;
  for (const auto* results : {&sums, &maxes, &mins, &gathers, &scatters, &int_sums, &swaps}) {
    all.insert(all.end(), results->begin(), results->end());
  }
  eval(all);
  std::vector<float> sum(24, 0), max(24, -1e30f), min(24, 1e30f), gathered;
  std::vector<int32_t> int_sum(24, 0);
  for (int r = 0; r < size; ++r) {
    for (int i = 0; i < 24; ++i) {
      sum[i] += host[r][i];
      max[i] = std::max(max[i], host[r][i]);
      min[i] = std::min(min[i], host[r][i]);
      int_sum[i] += static_cast<int32_t>(host[r][i] * 100.0f);
    }
    gathered.insert(gathered.end(), host[r].begin(), host[r].end());
  }
  for (int r = 0; r < size; ++r) {
    SCOPED_TRACE(::testing::Message() << "rank " << r);
    const std::vector<float> got = sums[r].to_vector<float>();
    for (int i = 0; i < 24; ++i) EXPECT_NEAR(got[i], sum[i], 1e-5);
    EXPECT_EQ(maxes[r].to_vector<float>(), max);
    EXPECT_EQ(mins[r].to_vector<float>(), min);
    EXPECT_EQ(gathers[r].shape(), (Shape{18, 4}));
    EXPECT_EQ(gathers[r].to_vector<float>(), gathered);
    EXPECT_EQ(scatters[r].shape(), (Shape{2, 4}));
    const std::vector<float> part = scatters[r].to_vector<float>();
    for (int i = 0; i < 8; ++i) EXPECT_NEAR(part[i], sum[8 * r + i], 1e-5);
    EXPECT_EQ(int_sums[r].to_vector<int32_t>(), int_sum);
    EXPECT_EQ(int_sums[r].dtype(), int32);
    // all_to_all: rows 2i, 2i+1 of rank r's result are rows 2r, 2r+1 of rank i's x.
    std::vector<float> swapped;
    for (int from = 0; from < size; ++from) {
      swapped.insert(swapped.end(), host[from].begin() + 8 * r, host[from].begin() + 8 * (r + 1));
    }
    EXPECT_EQ(swaps[r].to_vector<float>(), swapped);
  }
}

// Each rank's gradient on its half of the batch, summed over the ranks, is the gradient on
// the whole batch: the step a data-parallel trainer takes, one eval per rank.
TEST_F(DistributedTest, ADataParallelStepIsTheWholeBatchStep) {
  StartRanks(2);
  const std::vector<float> w0 = testing::NormalFloats(4 * 3, 1),
                           xs = testing::NormalFloats(8 * 4, 2),
                           ys = testing::NormalFloats(8 * 3, 3);
  auto loss = [](const std::vector<Array>& p) {
    return sum(square(tanh(matmul(p[1], p[0])) - p[2]));
  };
  std::vector<Array> updated;
  for (int r = 0; r < 2; ++r) {
    const Device& device = group_->device(r);
    Array w = from_host(w0, {4, 3}, device);
    Array x = from_host(std::vector<float>(xs.begin() + 16 * r, xs.begin() + 16 * (r + 1)), {4, 4},
                        device);
    Array y = from_host(std::vector<float>(ys.begin() + 12 * r, ys.begin() + 12 * (r + 1)), {4, 3},
                        device);
    Array g = distributed::all_sum(grad(loss)({w, x, y}), *group_);
    updated.push_back(w - 0.1f * g);
  }
  std::vector<DeviceStats> before;
  for (const Device& device : group_->devices()) before.push_back(device.stats());
  eval(updated);
  Device local_device = default_device();
  Array w = from_host(w0, {4, 3}, local_device);
  Array whole = w - 0.1f * grad(loss)({w, from_host(xs, {8, 4}, local_device),
                                       from_host(ys, {8, 3}, local_device)});
  const std::vector<float> want = whole.to_vector<float>();
  for (int r = 0; r < 2; ++r) {
    const std::vector<float> got = updated[r].to_vector<float>();
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << r << " " << i;
    EXPECT_EQ(group_->device(r).stats().executes - before[r].executes, 1);
  }
}

// Data parallelism with ferry::nn: a model per rank, drawn alike on each rank's daemon, its
// gradients (by name) averaged over the ranks and stepped by the rank's own optimizer, ends
// where one model trained on the whole batch ends.
TEST_F(DistributedTest, NnModelsTrainedDataParallelEndAsTheWholeBatchModel) {
  StartRanks(2);
  const std::vector<float> xs = testing::NormalFloats(8 * 4, 2),
                           ys = testing::NormalFloats(8 * 2, 3);
  auto make_model = [](const Device& device) {
    const Device previous = default_device();
    set_default_device(device);
    random::seed(17);
    nn::Sequential model(nn::Linear(4, 8), nn::Tanh(), nn::LayerNorm(8), nn::Linear(8, 2));
    set_default_device(previous);
    return model;
  };
  auto rows = [](const std::vector<float>& all, int from, int count, int width, const Device& d) {
    return from_host(
        std::vector<float>(all.begin() + from * width, all.begin() + (from + count) * width),
        {count, width}, d);
  };
  std::vector<nn::Sequential> models;
  std::vector<optimizers::Adam> adams;
  for (int r = 0; r < 2; ++r) {
    models.push_back(make_model(group_->device(r)));
    adams.emplace_back(0.05);
  }
  nn::Sequential whole = make_model(local());
  optimizers::Adam whole_adam(0.05);
  for (int step = 0; step < 3; ++step) {
    std::vector<Array> all;
    for (int r = 0; r < 2; ++r) {
      const Device& device = group_->device(r);
      const Array x = rows(xs, 4 * r, 4, 4, device), y = rows(ys, 4 * r, 4, 2, device);
      nn::Sequential& model = models[r];
      auto [loss, grads] = nn::value_and_grad(
          model, [&](const std::vector<Array>&) { return nn::losses::mse_loss(model(x), y); })({});
      adams[r].update(model, distributed::average_gradients(grads, *group_));
      for (const Array& a : model.arrays()) all.push_back(a);
      for (const Array& a : adams[r].state()) all.push_back(a);
    }
    eval(all);  // one Execute per rank
    const Array x = rows(xs, 0, 8, 4, local()), y = rows(ys, 0, 8, 2, local());
    auto [loss, grads] = nn::value_and_grad(
        whole, [&](const std::vector<Array>&) { return nn::losses::mse_loss(whole(x), y); })({});
    whole_adam.update(whole, grads);
  }
  const nn::Parameters want = whole.parameters();
  for (int r = 0; r < 2; ++r) {
    const nn::Parameters got = models[r].parameters();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const std::vector<float> g = Array(got[i].second).to_vector<float>();
      const std::vector<float> w = Array(want[i].second).to_vector<float>();
      for (size_t k = 0; k < w.size(); ++k) {
        EXPECT_NEAR(g[k], w[k], 1e-5) << "rank " << r << " " << got[i].first << " " << k;
      }
    }
  }
}

// Gradients packed into buckets (several per dtype when they pass bucket_bytes), one
// all_sum each, come back as each array's mean over the ranks, in its shape.
TEST_F(DistributedTest, AverageGradientsGivesEachArraysMeanOverRanks) {
  StartRanks(3);
  const std::vector<Shape> shapes = {{3, 4}, {}, {5}, {2, 2}, {7}};
  for (size_t bucket_bytes : {size_t{0}, size_t{40}, size_t{32} << 20}) {
    SCOPED_TRACE(::testing::Message() << "buckets of " << bucket_bytes << " bytes");
    std::vector<std::vector<std::vector<float>>> host(3);
    std::vector<std::vector<Array>> averaged;
    for (int r = 0; r < 3; ++r) {
      std::vector<Array> grads;
      for (size_t i = 0; i < shapes.size(); ++i) {
        int64_t n = 1;
        for (int64_t d : shapes[i]) n *= d;
        host[r].push_back(testing::NormalFloats(n, 100 * r + i));
        Array g = from_host(host[r].back(), shapes[i], group_->device(r));
        grads.push_back(i == 3 ? astype(g, bfloat16) : g);  // a second dtype
      }
      averaged.push_back(distributed::average_gradients(grads, *group_, bucket_bytes));
    }
    std::vector<Array> all;
    for (const auto& rank : averaged) all.insert(all.end(), rank.begin(), rank.end());
    eval(all);
    for (int r = 0; r < 3; ++r) {
      for (size_t i = 0; i < shapes.size(); ++i) {
        EXPECT_EQ(averaged[r][i].shape(), shapes[i]);
        EXPECT_EQ(averaged[r][i].dtype(), i == 3 ? bfloat16 : float32);
        const std::vector<float> got = astype(averaged[r][i], float32).to_vector<float>();
        for (size_t k = 0; k < got.size(); ++k) {
          const float mean = (host[0][i][k] + host[1][i][k] + host[2][i][k]) / 3.0f;
          EXPECT_NEAR(got[k], mean, i == 3 ? 0.05 : 1e-5) << r << " " << i << " " << k;
        }
      }
    }
  }
  EXPECT_THROW(distributed::average_gradients({ones({2}, int32, group_->device(0))}, *group_),
               Error);
}

// grad through a collective is the gradient of the sum of every rank's loss.
TEST_F(DistributedTest, GradientsFlowBackThroughCollectives) {
  StartRanks(2);
  std::vector<Array> through_sum, through_gather, through_all_to_all;
  for (int r = 0; r < 2; ++r) {
    const Device& device = group_->device(r);
    Array x = from_host(std::vector<float>{1, 2, 3, 4}, {2, 2}, device);
    Array c = from_host(std::vector<float>{1.0f + r, 10.0f * (r + 1), 0, -1}, {2, 2}, device);
    through_sum.push_back(
        grad([&](const Array& v) { return sum(distributed::all_sum(v, *group_) * c); })(x));
    through_all_to_all.push_back(
        grad([&](const Array& v) { return sum(distributed::all_to_all(v, *group_) * c); })(x));
    Array weights = from_host(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {4, 2}, device) *
                    static_cast<float>(r + 1);
    through_gather.push_back(grad(
        [&](const Array& v) { return sum(distributed::all_gather(v, *group_) * weights); })(x));
  }
  // all_max: rank 0 holds the maximum of element 0, rank 1 of element 1, both of element 2.
  std::vector<Array> through_max;
  for (int r = 0; r < 2; ++r) {
    const Device& device = group_->device(r);
    Array x =
        from_host(r == 0 ? std::vector<float>{5, 1, 7} : std::vector<float>{2, 4, 7}, {3}, device);
    Array c =
        from_host(std::vector<float>{1.0f + r, 10.0f * (r + 1), 100.0f * (r + 1)}, {3}, device);
    through_max.push_back(
        grad([&](const Array& v) { return sum(distributed::all_max(v, *group_) * c); })(x));
  }
  std::vector<Array> all = through_sum;
  all.insert(all.end(), through_gather.begin(), through_gather.end());
  all.insert(all.end(), through_max.begin(), through_max.end());
  all.insert(all.end(), through_all_to_all.begin(), through_all_to_all.end());
  eval(all);
  // The ranks' cotangents summed (3, 30, 300) go to the rank that holds the maximum, shared
  // between tied ranks.
  EXPECT_EQ(through_max[0].to_vector<float>(), (std::vector<float>{3, 0, 150}));
  EXPECT_EQ(through_max[1].to_vector<float>(), (std::vector<float>{0, 30, 150}));
  // all_to_all: row j of rank r's x became row r of rank j's output, weighted by c_j's row r.
  EXPECT_EQ(through_all_to_all[0].to_vector<float>(), (std::vector<float>{1, 10, 2, 20}));
  EXPECT_EQ(through_all_to_all[1].to_vector<float>(), (std::vector<float>{0, -1, 0, -1}));
  for (int r = 0; r < 2; ++r) {
    // d/dx_r of sum_k sum(all_sum(x) * c_k) = c_0 + c_1 on every rank.
    EXPECT_EQ(through_sum[r].to_vector<float>(), (std::vector<float>{3, 30, 0, -2}));
    // Rank r's x is rows 2r, 2r+1 of every rank's gather: weights summed over ranks (1 + 2).
    std::vector<float> want;
    for (int i = 0; i < 4; ++i) want.push_back(3.0f * (4 * r + i + 1));
    EXPECT_EQ(through_gather[r].to_vector<float>(), want);
  }
}

// Two pipeline stages, one per rank: rank 0 sends its activations on, rank 1 sends back
// their gradient. The whole training step is one eval, one Execute per rank, and its
// gradients are one device's on the whole model.
TEST_F(DistributedTest, APipelineStepSendsActivationsOnAndGradientsBack) {
  StartRanks(2);
  const std::vector<float> w0_host = testing::NormalFloats(4 * 5, 1),
                           w1_host = testing::NormalFloats(5 * 3, 2),
                           x_host = testing::NormalFloats(8 * 4, 3),
                           y_host = testing::NormalFloats(8 * 3, 4);
  const Device& first = group_->device(0);
  const Device& second = group_->device(1);
  Array x = from_host(x_host, {8, 4}, first);
  Array w0 = from_host(w0_host, {4, 5}, first);
  auto stage0 = [&](const Array& w) { return tanh(matmul(x, w)); };
  Array h = stage0(w0);
  Array h_sent = distributed::send(h, 1, *group_);
  // Stage 1: the loss, and its gradient for w1 and for the activations it received.
  Array h_received = distributed::recv({8, 5}, float32, 0, *group_, second);
  Array w1 = from_host(w1_host, {5, 3}, second);
  Array y = from_host(y_host, {8, 3}, second);
  auto stage1_loss = [&](const std::vector<Array>& p) {
    return sum(square(matmul(p[0], p[1]) - y));
  };
  std::vector<Array> stage1_grads = grad(stage1_loss, {0, 1})({h_received, w1});
  Array dh_sent = distributed::send(stage1_grads[0], 0, *group_);
  // Back on stage 0: the activations' gradient through stage 0.
  Array dw0 = vjp(stage0, w0, distributed::recv_like(h, 1, *group_)).second;
  std::vector<DeviceStats> before;
  for (const Device& device : group_->devices()) before.push_back(device.stats());
  eval({h_sent, dh_sent, dw0, stage1_grads[1]});
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(group_->device(r).stats().executes - before[r].executes, 1) << "rank " << r;
  }

  Device local_device = default_device();
  auto whole_loss = [&](const std::vector<Array>& p) {
    return sum(square(matmul(tanh(matmul(from_host(x_host, {8, 4}, local_device), p[0])), p[1]) -
                      from_host(y_host, {8, 3}, local_device)));
  };
  std::vector<Array> want = grad(whole_loss, {0, 1})(
      {from_host(w0_host, {4, 5}, local_device), from_host(w1_host, {5, 3}, local_device)});
  for (const auto& [got, expected] :
       {std::pair<Array, Array>{dw0, want[0]}, std::pair<Array, Array>{stage1_grads[1], want[1]}}) {
    const std::vector<float> g = Array(got).to_vector<float>();
    const std::vector<float> e = Array(expected).to_vector<float>();
    ASSERT_EQ(g.size(), e.size());
    for (size_t i = 0; i < e.size(); ++i) EXPECT_NEAR(g[i], e[i], 1e-4) << i;
  }
  EXPECT_EQ(h_sent.to_vector<float>(), h.to_vector<float>());  // a send gives what it sent
}

// Each of three ranks sends 8 MiB to both neighbours before receiving from either: sends
// do not wait for their receivers, so the swap completes in one eval.
TEST_F(DistributedTest, NeighboursSwapLargeArraysInOneEval) {
  StartRanks(3);
  const int size = 3;
  const int64_t n = 1 << 21;
  std::vector<Array> results;
  for (int r = 0; r < size; ++r) {
    const Device& device = group_->device(r);
    Array mine = arange(0.0, static_cast<double>(n), 1.0, float32, device) + 1e7f * r;
    const int next = (r + 1) % size, previous = (r + size - 1) % size;
    results.push_back(distributed::send(mine, next, *group_));
    results.push_back(distributed::send(-mine, previous, *group_));
    results.push_back(distributed::recv({n}, float32, previous, *group_, device));
    results.push_back(distributed::recv_like(mine, next, *group_));
  }
  eval(results);
  for (int r = 0; r < size; ++r) {
    SCOPED_TRACE(::testing::Message() << "rank " << r);
    const std::vector<float> from_previous = results[4 * r + 2].to_vector<float>();
    const std::vector<float> from_next = results[4 * r + 3].to_vector<float>();
    ASSERT_EQ(from_previous.size(), static_cast<size_t>(n));
    for (int64_t i : {int64_t{0}, int64_t{12345}, n - 1}) {
      EXPECT_EQ(from_previous[i], static_cast<float>(i) + 1e7f * ((r + size - 1) % size));
      EXPECT_EQ(from_next[i], -(static_cast<float>(i) + 1e7f * ((r + 1) % size)));
    }
  }
}

TEST_F(DistributedTest, SendsAndReceivesThatDoNotMatchAreRefused) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  std::vector<Device> devices;
  for (int r = 0; r < 4; ++r) devices.push_back(connect(ferryd->address()));
  distributed::Group four = distributed::init(devices);
  Array x = ones({3}, float32, devices[0]);
  // As the op is built: rank 0's ring neighbours are ranks 3 and 1.
  try {
    distributed::send(x, 2, four);
    FAIL() << "a send to a rank that is no neighbour was built";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(error.what(), HasSubstr("rank 0 of a group of 4 cannot reach rank 2"));
  }
  EXPECT_THROW(distributed::send(x, 0, four), Error);
  EXPECT_THROW(distributed::recv({3}, float32, 2, four, devices[0]), Error);
  // As it runs: a receive of another shape than the send's fails naming both.
  Array sent = distributed::send(x, 1, four);
  Array received = distributed::recv({4}, float32, 0, four, devices[1]);
  eval({sent, received});
  try {
    received.to_vector<float>();
    FAIL() << "a receive of 4 elements took a send of 3";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(error.what(), HasSubstr("rank 0 ran a send of 3 float32 elements to rank 1"));
    EXPECT_THAT(error.what(), HasSubstr("rank 1 a receive of 4 float32 elements from rank 0"));
    EXPECT_THAT(error.what(), HasSubstr("(recv)"));
  }
  EXPECT_EQ((ones({2}, float32, devices[1]) * 3.0f).to_vector<float>(), (std::vector<float>{3, 3}));
}

// An unpipelined execute returns once computed: eval sends every rank's graph without
// waiting for the others', or the first rank would wait in its collective for a graph the
// client had not sent yet.
TEST_F(DistributedTest, RanksConnectedWithoutPipelinesRunCollectivesInOneEval) {
  std::vector<Device> devices;
  ConnectOptions unpipelined;
  unpipelined.pipeline = false;
  for (int r = 0; r < 2; ++r) {
    daemons_.push_back(testing::StartFerryd());
    ASSERT_NE(daemons_.back(), nullptr);
    devices.push_back(connect(daemons_.back()->address(), unpipelined));
  }
  distributed::GroupOptions options;
  options.timeout = std::chrono::seconds(10);
  distributed::Group group = distributed::init(devices, options);
  std::vector<Array> sums;
  for (int r = 0; r < 2; ++r) {
    sums.push_back(distributed::all_sum(full({3}, r + 1.0, float32, devices[r]), group));
  }
  const auto start = std::chrono::steady_clock::now();
  eval(sums);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  for (Array& sum : sums) EXPECT_EQ(sum.to_vector<float>(), (std::vector<float>{3, 3, 3}));
  EXPECT_EQ(devices[0].stats().pipeline_steps, 0);
}

// A session may be a rank of several groups (MLX's group.split): four ranks in one group and
// in two groups of two, as a 2-D (data x tensor) parallel layout has them; collectives of
// the three groups interleave in one eval.
TEST_F(DistributedTest, ASessionMayBeARankOfSeveralGroups) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  std::vector<Device> devices;
  for (int r = 0; r < 4; ++r) devices.push_back(connect(ferryd->address()));
  const distributed::Group world = distributed::init(devices);
  const distributed::Group pairs[2] = {distributed::init({devices[0], devices[1]}),
                                       distributed::init({devices[2], devices[3]})};
  std::vector<Array> results;
  for (int r = 0; r < 4; ++r) {
    Array x = full({2}, std::pow(10.0, r), float32, devices[r]);
    Array pair_sum = distributed::all_sum(x, pairs[r / 2]);
    results.push_back(distributed::all_sum(pair_sum * 2.0f, world) + pair_sum);
  }
  eval(results);
  // The pairs sum to 11 and 1100; the world to 2 * (2 * 11 + 2 * 1100) = 4444.
  for (int r = 0; r < 4; ++r) {
    const float pair = r < 2 ? 11.0f : 1100.0f;
    EXPECT_EQ(results[r].to_vector<float>(), (std::vector<float>{4444 + pair, 4444 + pair}))
        << "rank " << r;
  }
  // GetInfo (ferryctl sessions) lists each session in its two groups.
  auto stub = testing::Connect(ferryd->address());
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub, "", &info).ok());
  ASSERT_EQ(info.session_list_size(), 4);
  for (const v1::SessionSummary& session : info.session_list()) EXPECT_EQ(session.groups(), 2);
}

TEST_F(DistributedTest, TwoRanksMayShareOneDaemon) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  std::vector<Device> devices = {connect(ferryd->address()), connect(ferryd->address())};
  distributed::Group group = distributed::init(devices);
  std::vector<Array> gathered;
  for (int r = 0; r < 2; ++r) {
    gathered.push_back(distributed::all_gather(
        from_host(std::vector<float>{static_cast<float>(r)}, {}, devices[r]), group));
  }
  eval(gathered);
  for (Array& g : gathered) EXPECT_EQ(g.to_vector<float>(), (std::vector<float>{0, 1}));
}

TEST_F(DistributedTest, ARankLeftOutFailsItsPeerAfterTheTimeoutAndTheGroupStaysFailed) {
  StartRanks(2, {}, std::chrono::milliseconds(500));
  Array alone = distributed::all_sum(ones({3}, float32, group_->device(0)), *group_);
  try {
    alone.eval();
    alone.to_vector<float>();
    FAIL() << "a collective without its peer returned";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kDeadlineExceeded) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("rank 0 receiving from rank 1"));
  }
  // The daemon serves on; the group, whose links may hold half a call, stays failed.
  Array later = distributed::all_sum(ones({3}, float32, group_->device(0)), *group_);
  EXPECT_THROW(later.to_vector<float>(), Error);
  EXPECT_EQ((ones({2}, float32, group_->device(0)) * 2.0f).to_vector<float>(),
            (std::vector<float>{2, 2}));
}

TEST_F(DistributedTest, RanksThatDisagreeAreToldWhatEachRan) {
  StartRanks(2);
  std::vector<Array> mismatched = {
      distributed::all_sum(ones({3}, float32, group_->device(0)), *group_),
      distributed::all_sum(ones({4}, float32, group_->device(1)), *group_)};
  eval(mismatched);
  std::vector<std::string> errors;
  for (Array& result : mismatched) {
    try {
      result.to_vector<float>();
    } catch (const Error& error) {
      errors.push_back(error.what());
    }
  }
  ASSERT_EQ(errors.size(), 2u);
  const std::string both = errors[0] + "\n" + errors[1];
  EXPECT_THAT(both, HasSubstr("the ranks ran different collectives"));
  EXPECT_THAT(both, HasSubstr("an all-reduce of 3 float32 elements"));
  EXPECT_THAT(both, HasSubstr("an all-reduce of 4 float32 elements"));
}

// ferry::cancel of a rank waiting in a collective ends its groups (a lost step's calls can
// no longer be known to match its peers'): its next collective fails at once, its peer's
// fails or pairs with the cancelled call, never waiting out the group's 30 s timeout; the
// daemons serve on and a new group works.
TEST_F(DistributedTest, CancellingARankWaitingInACollectiveEndsItsGroups) {
  StartRanks(2);
  Array waiting = distributed::all_sum(ones({3}, float32, group_->device(0)), *group_);
  eval({waiting});  // rank 1 never joins this one
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto start = std::chrono::steady_clock::now();
  cancel(group_->device(0));
  try {
    waiting.to_vector<float>();
    FAIL() << "a cancelled collective returned";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kCancelled) << error.what();
  }
  std::vector<Array> next;
  for (int r = 0; r < 2; ++r) {
    next.push_back(distributed::all_sum(ones({3}, float32, group_->device(r)), *group_));
  }
  eval(next);
  try {
    next[0].to_vector<float>();
    ADD_FAILURE() << "rank 0 ran a collective in a group it left";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kCancelled) << error.what();
    EXPECT_THAT(error.what(),
                HasSubstr("rank 0 left the group: its client's stream broke with steps in flight"));
  }
  try {
    next[1].to_vector<float>();  // paired with the cancelled call, if it came first
  } catch (const Error& error) {
    EXPECT_NE(error.code(), ErrorCode::kDeadlineExceeded) << error.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  const distributed::Group again = distributed::init(devices_);
  std::vector<Array> sums;
  for (int r = 0; r < 2; ++r) {
    sums.push_back(distributed::all_sum(ones({2}, float32, devices_[r]), again));
  }
  eval(sums);
  EXPECT_EQ(sums[1].to_vector<float>(), (std::vector<float>{2, 2}));
}

// The same without a pipeline: the unary execute waiting in the collective is cancelled
// (ferry::cancel from another thread), and the daemon ends the rank's busy groups, so the
// eval fails at once, not at the group's 30 s timeout.
TEST_F(DistributedTest, CancellingAUnaryExecuteWaitingInACollectiveEndsItsGroups) {
  ConnectOptions unary;
  unary.pipeline = false;
  StartRanks(2, {}, std::chrono::seconds(30), unary);
  Array waiting = distributed::all_sum(ones({3}, float32, group_->device(0)), *group_);
  const auto start = std::chrono::steady_clock::now();
  // Cancels every 200 ms until the eval returns (with nothing in flight yet, a cancel does
  // nothing), so a slow start on a loaded machine cannot outrun it.
  std::atomic<bool> returned{false};
  std::thread canceller([&] {
    while (!returned.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      cancel(group_->device(0));
    }
  });
  try {
    eval({waiting});  // rank 1 never joins this one
    waiting.to_vector<float>();
    ADD_FAILURE() << "a cancelled collective returned";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kCancelled) << error.what();
  }
  returned.store(true);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  Array next = distributed::all_sum(ones({3}, float32, group_->device(0)), *group_);
  try {
    next.to_vector<float>();
    ADD_FAILURE() << "rank 0 ran a collective in a group it left";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kCancelled) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("rank 0 left the group: its call was cancelled"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(DistributedTest, AVanishedDaemonFailsItsPeerAtOnce) {
  StartRanks(2);
  daemons_[1]->Signal(SIGKILL);
  ASSERT_NE(daemons_[1]->Wait(20), -1);
  const auto start = std::chrono::steady_clock::now();
  Array orphan = distributed::all_sum(ones({3}, float32, group_->device(0)), *group_);
  EXPECT_THROW(orphan.to_vector<float>(), Error);
  // Well before the group's 30 s timeout: the link's end is seen at once.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ((ones({2}, float32, group_->device(0)) + 1.0f).to_vector<float>(),
            (std::vector<float>{2, 2}));
}

TEST_F(DistributedTest, DevicesThatCannotJoinAreRefusedAsTheGroupIsMade) {
  auto no_bulk = testing::StartFerryd({"--bulk_port=-1"});
  ASSERT_NE(no_bulk, nullptr);
  Device device = connect(no_bulk->address());
  EXPECT_THROW(distributed::init({device}), Error);
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  Device ok = connect(ferryd->address());
  EXPECT_THROW(distributed::init({ok, ok}), Error);  // one session, two ranks
  // The local device is a group of its own only.
  try {
    distributed::init({local(), ok});
    FAIL() << "the local device joined a group with a daemon";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kFailedPrecondition);
    EXPECT_THAT(error.what(), HasSubstr("cannot join a group"));
  }
  // A group of one is its own sum.
  distributed::Group alone = distributed::init({ok});
  EXPECT_EQ(distributed::all_sum(ones({2}, float32, ok), alone).to_vector<float>(),
            (std::vector<float>{1, 1}));
  // An array on a device outside the group is refused as the op is built.
  EXPECT_THROW(distributed::all_sum(ones({2}, float32, local()), alone), Error);
}

// --peer_networks bounds where a client's JoinGroup can have a daemon connect, and where
// links may come from: a daemon limited to 10.0.0.0/8 neither dials a peer on loopback nor
// takes its link, and both ranks are told at once, well before the group's timeout.
TEST_F(DistributedTest, PeerNetworksLimitWhereLinksGoAndComeFrom) {
  auto loopback_only = testing::StartFerryd({"--peer_networks=127.0.0.0/8,::1"});
  auto elsewhere_only = testing::StartFerryd({"--peer_networks=10.0.0.0/8"});
  auto any = testing::StartFerryd();
  ASSERT_NE(loopback_only, nullptr);
  ASSERT_NE(elsewhere_only, nullptr);
  ASSERT_NE(any, nullptr);
  const std::vector<Device> allowed = {connect(loopback_only->address()), connect(any->address())};
  distributed::Group group = distributed::init(allowed);
  Array sum = distributed::all_sum(ones({2}, float32, allowed[0]), group);
  Array other = distributed::all_sum(ones({2}, float32, allowed[1]), group);
  eval({sum, other});
  EXPECT_EQ(sum.to_vector<float>(), (std::vector<float>{2, 2}));

  distributed::GroupOptions options;
  options.timeout = std::chrono::seconds(30);
  const auto start = std::chrono::steady_clock::now();
  try {
    distributed::init({connect(elsewhere_only->address()), connect(any->address())}, options);
    FAIL() << "a daemon limited to 10.0.0.0/8 linked on loopback";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kPermissionDenied) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("is outside --peer_networks (10.0.0.0/8)"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  for (const char* bad : {"--peer_networks=10.0.0.0/40", "--peer_networks=node0"}) {
    EXPECT_FALSE(server::FerrydProcess::Start(server::FindFerryd(nullptr), {bad}).ok()) << bad;
  }
}

// One rank refused for good (its session already in 64 groups) stops the others at once:
// init fails with that refusal well before the group's timeout, not after it.
TEST_F(DistributedTest, ARankRefusedForGoodFailsTheGroupAtOnce) {
  StartRanks(2);
  for (int g = 0; g < 63; ++g) distributed::init({devices_[1]});  // with group_: 64
  distributed::GroupOptions options;
  options.timeout = std::chrono::seconds(30);
  const auto start = std::chrono::steady_clock::now();
  try {
    distributed::init(devices_, options);
    FAIL() << "a session joined a 65th group";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kResourceExhausted) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("at most 64 per session"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // Rank 0's daemon let go of the link it was expecting: a new group of it works.
  Array alone =
      distributed::all_sum(ones({2}, float32, devices_[0]), distributed::init({devices_[0]}));
  EXPECT_EQ(alone.to_vector<float>(), (std::vector<float>{1, 1}));
}

// ferryd's metrics count each kind of call its ranks made, the time they took and the bytes
// they moved over the links.
TEST_F(DistributedTest, MetricsCountCollectivesTheirTimeAndBytes) {
  const int ports[2] = {server::FreeLoopbackPort(), server::FreeLoopbackPort()};
  std::vector<Device> devices;
  for (int port : ports) {
    daemons_.push_back(testing::StartFerryd({absl::StrCat("--metrics_port=", port)}));
    ASSERT_NE(daemons_.back(), nullptr);
    devices.push_back(connect(daemons_.back()->address()));
  }
  const distributed::Group group = distributed::init(devices);
  std::vector<Array> results;
  for (int r = 0; r < 2; ++r) {
    results.push_back(distributed::all_sum(ones({1000}, float32, devices[r]), group));
  }
  results.push_back(distributed::send(ones({500}, float32, devices[0]), 1, group));
  results.push_back(distributed::recv({500}, float32, 0, group, devices[1]));
  eval(results);
  for (Array& result : results) result.eval();
  for (const Device& device : devices) synchronize(device);
  EXPECT_EQ(testing::ScrapeMetric(ports[0], "ferry_collective_calls_total{kind=\"all_reduce\"}"),
            1);
  EXPECT_EQ(testing::ScrapeMetric(ports[0], "ferry_collective_calls_total{kind=\"send\"}"), 1);
  EXPECT_EQ(testing::ScrapeMetric(ports[0], "ferry_collective_calls_total{kind=\"recv\"}"), 0);
  EXPECT_EQ(testing::ScrapeMetric(ports[1], "ferry_collective_calls_total{kind=\"recv\"}"), 1);
  EXPECT_GT(testing::ScrapeMetric(ports[1], "ferry_collective_seconds_total{kind=\"recv\"}"), 0);
  // Rank 1 received rank 0's half of the array twice (reduce-scatter, all-gather), the
  // send's 2000 bytes, and two 32-byte headers (the all-reduce's and the send's).
  EXPECT_EQ(testing::ScrapeMetric(ports[1], "ferry_collective_bytes_total{direction=\"received\"}"),
            2000 + 2000 + 2000 + 2 * 32);
  EXPECT_EQ(testing::ScrapeMetric(ports[0], "ferry_collective_groups_failed_total"), 0);
}

// A session that joined no group cannot reach another session's: its graph naming a group
// handle fails on its own daemon with NOT_FOUND.
TEST_F(DistributedTest, ASessionOutsideTheGroupCannotUseIt) {
  StartRanks(2);
  auto stub = testing::Connect(daemons_[0]->address());
  const std::string session = testing::OpenSession(*stub);
  v1::ExecuteRequest request;
  request.set_session_id(session);
  v1::Graph* graph = request.mutable_graph();
  *graph->add_nodes() = testing::ConstantF32({1, 2}, {2});
  v1::Node* node = graph->add_nodes();
  *node = testing::Op("all_sum", {0}, testing::Spec(v1::FLOAT32, {2}));
  *node->add_attrs() = testing::IntAttr("group", 1);
  *node->add_attrs() = testing::IntAttr("size", 2);
  graph->add_outputs(1);
  v1::ExecuteResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub->Execute(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("has no group 1"));
  EXPECT_THAT(status.error_message(), HasSubstr("node 1 (all_sum)"));
}

}  // namespace
}  // namespace ferry
