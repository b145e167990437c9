// Collectives between daemons (client/distributed.h) against the floor under them: an
// all_sum across two ferryd on loopback against one raw TCP transfer of the same bytes (a
// two-rank ring sends and receives each rank's whole array once, both ways at once), a send
// from one daemon to the other, an all_to_all and a copy of an array from one daemon to the
// other (Array::to: daemon to daemon, and through the client) against the same transfer, and
// a small all_sum's round trip against a bare gRPC ping.

#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/report.h"
#include "bench/transport.h"
#include "client/ferry.h"

namespace ferry::bench {
namespace {

// Seconds for every rank's `collective` of its `x` to finish.
double CollectiveSeconds(const std::vector<Array>& xs, const distributed::Group& group,
                         Array (*collective)(const Array&, const distributed::Group&)) {
  const Clock::time_point start = Clock::now();
  std::vector<Array> sums;
  for (const Array& x : xs) sums.push_back(collective(x, group));
  eval(sums);
  for (const Device& device : group.devices()) synchronize(device);
  return SecondsSince(start);
}

// Seconds for every rank's gradients to be averaged over the ranks, `bucket_bytes` at a
// time (0: one all_sum per array).
double AverageSeconds(const std::vector<std::vector<Array>>& grads, const distributed::Group& group,
                      size_t bucket_bytes) {
  const Clock::time_point start = Clock::now();
  std::vector<Array> averaged;
  for (const std::vector<Array>& rank : grads) {
    for (Array& g : distributed::average_gradients(rank, group, bucket_bytes)) {
      averaged.push_back(g);
    }
  }
  eval(averaged);
  for (const Device& device : group.devices()) synchronize(device);
  return SecondsSince(start);
}

// Seconds for rank 0's `x` to reach rank 1.
double SendSeconds(const Array& x, const distributed::Group& group) {
  const Clock::time_point start = Clock::now();
  eval({distributed::send(x, 1, group),
        distributed::recv(x.shape(), x.dtype(), 0, group, group.device(1))});
  for (const Device& device : group.devices()) synchronize(device);
  return SecondsSince(start);
}

// Seconds for `x` to be copied to `device` and resident there.
double CopySeconds(const Array& x, const Device& device) {
  const Clock::time_point start = Clock::now();
  Array copy = x.to(device);
  copy.eval();
  synchronize(device);
  return SecondsSince(start);
}

// `x`, computed and resident on its device.
Array Resident(Array x) {
  x.eval();
  synchronize(x.device());
  return x;
}

}  // namespace

void RunCollectiveBenchmarks(const Options& options, std::vector<Row>& rows) {
  auto first = StartBenchFerryd(options);
  auto second = StartBenchFerryd(options);
  const std::vector<Device> devices = {connect(first->address()), connect(second->address())};
  const distributed::Group group = distributed::init(devices);

  std::vector<Array> small;
  for (const Device& device : devices) small.push_back(Resident(ones({4}, float32, device)));
  const int repeats = options.quick ? 3 : 50;
  const double small_s =
      MedianSeconds(repeats, [&] { CollectiveSeconds(small, group, distributed::all_sum); });
  const double ping_s = PingSeconds(first->address(), repeats);
  rows.push_back(MakeReportRow("all_sum of 4 floats, 2 daemons (vs bare gRPC ping)",
                               FormatSeconds(small_s), FormatSeconds(ping_s), small_s / ping_s));

  // A small model's gradients: 100 arrays of 1000 floats on each rank.
  std::vector<std::vector<Array>> grads(devices.size());
  for (size_t r = 0; r < devices.size(); ++r) {
    for (int i = 0; i < 100; ++i) grads[r].push_back(Resident(ones({1000}, float32, devices[r])));
  }
  const double each_s = MedianSeconds(repeats, [&] { AverageSeconds(grads, group, 0); });
  const double bucketed_s =
      MedianSeconds(repeats, [&] { AverageSeconds(grads, group, size_t{32} << 20); });
  rows.push_back(
      MakeReportRow("average_gradients of 100 x 1000 floats, 2 daemons (vs one all_sum per array)",
                    FormatSeconds(bucketed_s), FormatSeconds(each_s), each_s / bucketed_s));

  // A session without a pipeline cannot take a copy from another daemon: its copies pass
  // through the client (a download, then an upload).
  ConnectOptions unpipelined;
  unpipelined.pipeline = false;
  const Device through_client = connect(second->address(), unpipelined);

  TcpLoopback tcp;
  std::vector<int64_t> sizes = {int64_t{1} << 20, int64_t{64} << 20};
  if (options.quick) sizes = {int64_t{1} << 20};
  for (int64_t size : sizes) {
    const int times = options.quick ? 2 : (size > (int64_t{8} << 20) ? 5 : 20);
    std::vector<Array> xs;
    for (size_t r = 0; r < devices.size(); ++r) {
      xs.push_back(Resident(random::normal({size / 4}, float32, devices[r])));
    }
    std::vector<char> data(static_cast<size_t>(size), 7), sink(static_cast<size_t>(size));
    const double raw_s = MedianOfMeasured(times, [&] { return tcp.Seconds(data, sink); });
    const double sum_s =
        MedianOfMeasured(times, [&] { return CollectiveSeconds(xs, group, distributed::all_sum); });
    rows.push_back(MakeReportRow(
        absl::StrCat("all_sum ", size >> 20, " MiB float32, 2 daemons (vs raw TCP transfer)"),
        FormatRate(size / sum_s), FormatRate(size / raw_s), raw_s / sum_s));
    const double swap_s = MedianOfMeasured(
        times, [&] { return CollectiveSeconds(xs, group, distributed::all_to_all); });
    rows.push_back(MakeReportRow(
        absl::StrCat("all_to_all ", size >> 20, " MiB float32, 2 daemons (vs raw TCP transfer)"),
        FormatRate(size / swap_s), FormatRate(size / raw_s), raw_s / swap_s));
    const double send_s = MedianOfMeasured(times, [&] { return SendSeconds(xs[0], group); });
    rows.push_back(MakeReportRow(
        absl::StrCat("send ", size >> 20, " MiB float32, daemon to daemon (vs raw TCP transfer)"),
        FormatRate(size / send_s), FormatRate(size / raw_s), raw_s / send_s));
    const double copy_s = MedianOfMeasured(times, [&] { return CopySeconds(xs[0], devices[1]); });
    rows.push_back(
        MakeReportRow(absl::StrCat("Array::to of ", size >> 20,
                                   " MiB float32, daemon to daemon (vs raw TCP transfer)"),
                      FormatRate(size / copy_s), FormatRate(size / raw_s), raw_s / copy_s));
    const double relay_s =
        MedianOfMeasured(times, [&] { return CopySeconds(xs[0], through_client); });
    rows.push_back(
        MakeReportRow(absl::StrCat("Array::to of ", size >> 20,
                                   " MiB float32, through the client (vs raw TCP transfer)"),
                      FormatRate(size / relay_s), FormatRate(size / raw_s), raw_s / relay_s));
  }
}

}  // namespace ferry::bench
