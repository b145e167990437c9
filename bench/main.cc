// Every ferry benchmark, printed as one table: each figure is a ratio against a baseline
// measured in the same run (a bare gRPC ping, raw TCP over loopback, OpenBLAS, memcpy), so
// the table means the same on any machine.
//
//   ./bazelw run //bench:all             # a few minutes
//   ./bazelw run //bench:all -- --quick  # a smoke test: tiny sizes, seconds

#include <cstdio>
#include <exception>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/report.h"
#include "client/error.h"

ABSL_FLAG(bool, quick, false, "smoke test: tiny sizes and few repeats (timings meaningless)");
ABSL_FLAG(std::string, only, "",
          "run one family: transport, compute, network, collectives or generation");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  ferry::bench::Options options;
  options.quick = absl::GetFlag(FLAGS_quick);
  options.argv0 = argv[0];
  const std::string only = absl::GetFlag(FLAGS_only);
  std::vector<ferry::bench::Row> rows;
  try {
    if (only.empty() || only == "compute") ferry::bench::RunComputeBenchmarks(options, rows);
    if (only.empty() || only == "transport") ferry::bench::RunTransportBenchmarks(options, rows);
    if (only.empty() || only == "network") ferry::bench::RunNetworkBenchmarks(options, rows);
    if (only.empty() || only == "collectives") {
      ferry::bench::RunCollectiveBenchmarks(options, rows);
    }
    if (only.empty() || only == "generation") ferry::bench::RunGenerationBenchmarks(options, rows);
  } catch (const std::exception& e) {
    ferry::bench::PrintTable(rows);
    std::fprintf(stderr, "bench: %s\n", e.what());
    return 1;
  }
  ferry::bench::PrintTable(rows);
  return 0;
}
