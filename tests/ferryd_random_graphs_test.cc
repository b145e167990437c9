// Random graphs (tests/random_graphs.h) against a real ferryd. Every answer must be
// OK or a client error (INVALID_ARGUMENT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, ...),
// never INTERNAL, UNKNOWN, a timeout or a lost daemon, and the daemon must serve on.
// A failure prints the graph, to replay by hand.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/codec.h"
#include "core/graph.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"
#include "tests/random_graphs.h"

namespace ferry {
namespace {

TEST(RandomGraphs, EveryAnswerIsAResultOrAClientErrorAndTheDaemonServesOn) {
  auto ferryd = testing::StartFerryd({"--max_memory=1G"});
  ASSERT_NE(ferryd, nullptr);
  auto stub = testing::Connect(ferryd->address());
  const std::string session = testing::OpenSession(*stub);
  const std::vector<std::string> ops = testing::OpsToDraw();
  // FERRY_RANDOM_GRAPHS=count,seed for a longer hunt by hand.
  int graphs = 5000;
  uint32_t seed = 20261204;
  if (const char* hunt = std::getenv("FERRY_RANDOM_GRAPHS")) {
    std::sscanf(hunt, "%d,%u", &graphs, &seed);
  }
  testing::RandomGraphs draw(seed);
  int well_formed_count = 0, ok_count = 0;
  for (int g = 0; g < graphs; ++g) {
    bool well_formed = false;
    const core::Graph graph = draw.Graph(ops, &well_formed);
    well_formed_count += well_formed;
    v1::ExecuteRequest request;
    request.set_session_id(session);
    core::GraphToProto(graph, request.mutable_graph());
    v1::ExecuteResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    const auto start = std::chrono::steady_clock::now();
    const grpc::Status status = stub->Execute(&context, request, &response);
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) {
      std::printf("graph %d took over 2 s (%s):\n%s\n", g, status.error_message().c_str(),
                  request.graph().DebugString().c_str());
    }
    ok_count += status.ok();
    ASSERT_TRUE(testing::IsClientError(static_cast<absl::StatusCode>(status.error_code())))
        << "graph " << g << ": " << status.error_code() << " " << status.error_message() << "\n"
        << request.graph().DebugString();
  }
  // The draws reach the kernels, not only validation.
  EXPECT_GT(well_formed_count, graphs / 2);
  EXPECT_GT(ok_count, graphs / 3);
  std::printf("%d graphs: %d well-formed, %d ran\n", graphs, well_formed_count, ok_count);
  EXPECT_TRUE(testing::GetInfo(*stub, session).ok());
}

}  // namespace
}  // namespace ferry
