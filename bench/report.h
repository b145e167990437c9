#ifndef FERRY_BENCH_REPORT_H_
#define FERRY_BENCH_REPORT_H_

// What every benchmark shares: a clock, medians, the run's options, and the one table
// they all add rows to.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace ferry::bench {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs `f` `repeats` times (after one untimed warm-up) and returns the median seconds.
double MedianSeconds(int repeats, const std::function<void()>& f);

// Like MedianSeconds, for work that needs untimed set-up each time: `f` times its own
// measured part and returns those seconds.
double MedianOfMeasured(int repeats, const std::function<double()>& f);

// The fastest of `repeats` runs (after a warm-up): for compute on a machine other processes
// load, where slower runs measure the interference rather than the code.
double BestSeconds(int repeats, const std::function<void()>& f);

// Like MedianSeconds, but CPU seconds of the calling thread: for single-threaded work on a
// machine that other processes load, where wall time mostly measures waiting for a core.
double MedianThreadCpuSeconds(int repeats, const std::function<void()>& f);

// "12.3 us", "4.56 ms", "1.23 s".
std::string FormatSeconds(double seconds);
// "1.23 GB/s" for bytes per second.
std::string FormatRate(double bytes_per_second);

// One row of the table: a figure, the baseline it is compared with (measured in the same
// run), their ratio, and the target for that ratio.
struct Row {
  std::string benchmark;
  std::string measured;
  std::string baseline;
  double ratio = 0;
  std::string target;  // "<= 1.3", ">= 100", or "" when only reported
  bool met = true;
};

// Compares `ratio` with a target: at most `limit` when `at_most`, else at least.
Row MakeRow(std::string benchmark, std::string measured, std::string baseline, double ratio,
            bool at_most, double limit);
Row MakeReportRow(std::string benchmark, std::string measured, std::string baseline, double ratio);

struct Options {
  bool quick = false;           // a smoke test: tiny sizes, few repeats
  const char* argv0 = nullptr;  // to find ferryd in the runfiles
};

// Each benchmark family appends its rows (transport_bench.cc, compute_bench.cc,
// network_bench.cc, collectives_bench.cc, generation_bench.cc).
void RunTransportBenchmarks(const Options& options, std::vector<Row>& rows);
void RunComputeBenchmarks(const Options& options, std::vector<Row>& rows);
void RunNetworkBenchmarks(const Options& options, std::vector<Row>& rows);
void RunCollectiveBenchmarks(const Options& options, std::vector<Row>& rows);
void RunGenerationBenchmarks(const Options& options, std::vector<Row>& rows);

// Prints the rows as a Markdown table.
void PrintTable(const std::vector<Row>& rows);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_REPORT_H_
