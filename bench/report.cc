#include "bench/report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ferry::bench {

double MedianSeconds(int repeats, const std::function<void()>& f) {
  return MedianOfMeasured(repeats, [&] {
    const Clock::time_point start = Clock::now();
    f();
    return SecondsSince(start);
  });
}

double MedianOfMeasured(int repeats, const std::function<double()>& f) {
  f();
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeats); ++i) times.push_back(f());
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double BestSeconds(int repeats, const std::function<void()>& f) {
  f();
  double best = 1e30;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    const Clock::time_point start = Clock::now();
    f();
    best = std::min(best, SecondsSince(start));
  }
  return best;
}

double MedianThreadCpuSeconds(int repeats, const std::function<void()>& f) {
  auto now = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  };
  f();
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    const double start = now();
    f();
    times.push_back(now() - start);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::string FormatSeconds(double seconds) {
  if (seconds < 1e-3) return absl::StrFormat("%.1f us", seconds * 1e6);
  if (seconds < 1) return absl::StrFormat("%.2f ms", seconds * 1e3);
  return absl::StrFormat("%.2f s", seconds);
}

std::string FormatRate(double bytes_per_second) {
  return absl::StrFormat("%.2f GB/s", bytes_per_second / 1e9);
}

Row MakeRow(std::string benchmark, std::string measured, std::string baseline, double ratio,
            bool at_most, double limit) {
  Row row{std::move(benchmark), std::move(measured), std::move(baseline), ratio, "", true};
  row.target = absl::StrCat(at_most ? "<= " : ">= ", limit);
  row.met = at_most ? ratio <= limit : ratio >= limit;
  return row;
}

Row MakeReportRow(std::string benchmark, std::string measured, std::string baseline, double ratio) {
  return Row{std::move(benchmark), std::move(measured), std::move(baseline), ratio, "", true};
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf("| benchmark | measured | baseline | ratio | target | met? |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | :---: |\n");
  for (const Row& row : rows) {
    std::printf("| %s | %s | %s | %.3g | %s | %s |\n", row.benchmark.c_str(), row.measured.c_str(),
                row.baseline.c_str(), row.ratio,
                row.target.empty() ? "(report)" : row.target.c_str(),
                row.target.empty() ? "-" : (row.met ? "yes" : "**no**"));
  }
  std::fflush(stdout);
}

}  // namespace ferry::bench
