#include "server/execute.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace ferry::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Floats(std::vector<float> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

std::vector<float> ToFloats(const std::string& bytes) {
  std::vector<float> values(bytes.size() / 4);
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

void SetSpec(v1::TensorSpec* spec, std::vector<int64_t> shape) {
  spec->set_dtype(v1::FLOAT32);
  for (int64_t dim : shape) spec->add_shape(dim);
}

// x + [10, 20, 30] for a float32 (2, 3) parameter x.
v1::Graph AddGraph() {
  v1::Graph graph;
  v1::Node* x = graph.add_nodes();
  x->set_op("parameter");
  v1::Attribute* index = x->add_attrs();
  index->set_name("index");
  index->set_i(0);
  v1::Attribute* dtype = x->add_attrs();
  dtype->set_name("dtype");
  dtype->set_dtype(v1::FLOAT32);
  v1::Attribute* shape = x->add_attrs();
  shape->set_name("shape");
  shape->mutable_ints()->add_values(2);
  shape->mutable_ints()->add_values(3);
  SetSpec(x->mutable_out(), {2, 3});
  v1::Node* c = graph.add_nodes();
  c->set_op("constant");
  v1::Attribute* value = c->add_attrs();
  value->set_name("value");
  SetSpec(value->mutable_tensor()->mutable_spec(), {3});
  value->mutable_tensor()->set_data(Floats({10, 20, 30}));
  SetSpec(c->mutable_out(), {3});
  v1::Node* add = graph.add_nodes();
  add->set_op("add");
  add->add_inputs(0);
  add->add_inputs(1);
  SetSpec(add->mutable_out(), {2, 3});
  graph.add_outputs(2);
  return graph;
}

class ExecuteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.max_inline_bytes = 16;
    absl::StatusOr<kernels::Tensor> x = backend_->Allocate({core::DType::kFloat32, {2, 3}});
    ASSERT_TRUE(x.ok());
    std::string bytes = Floats({1, 2, 3, 4, 5, 6});
    std::memcpy(x->raw(), bytes.data(), bytes.size());
    ASSERT_TRUE(session_->Put({{1, *x}}).ok());
  }

  v1::ExecuteRequest Request() {
    v1::ExecuteRequest request;
    *request.mutable_graph() = AddGraph();
    request.add_bindings()->set_buffer_id(1);
    return request;
  }

  absl::StatusOr<v1::ExecuteResponse> Run(const v1::ExecuteRequest& request) {
    return Execute(*session_, executor_, graphs_, options_, request);
  }

  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend(1 << 20);
  kernels::Executor executor_{*backend_};
  GraphCache graphs_{16};
  ServerOptions options_;
  SessionManager sessions_{absl::Seconds(60)};
  SessionRef session_ = *sessions_.Open("test");
};

TEST_F(ExecuteTest, KeepsAndInlinesAsAsked) {
  v1::ExecuteRequest request = Request();
  request.add_outputs()->set_buffer_id(2);
  request.mutable_outputs(0)->set_inline_up_to_bytes(1 << 20);
  absl::StatusOr<v1::ExecuteResponse> response = Run(request);
  ASSERT_TRUE(response.ok()) << response.status();
  const v1::OutputResult& out = response->outputs(0);
  EXPECT_EQ(out.buffer_id(), 2u);
  // 24 bytes: over the daemon's 16-byte inline limit, whatever the client asked.
  EXPECT_FALSE(out.has_data());
  EXPECT_THAT(out.spec().shape(), ElementsAre(2, 3));
  absl::StatusOr<kernels::Tensor> kept = session_->Get(2);
  ASSERT_TRUE(kept.ok());
  EXPECT_THAT(ToFloats(std::string(static_cast<char*>(kept->raw()), 24)),
              ElementsAre(11, 22, 33, 14, 25, 36));
}

TEST_F(ExecuteTest, MissingOutputRequestsComeBackInlineWhenSmall) {
  options_.max_inline_bytes = 1024;
  absl::StatusOr<v1::ExecuteResponse> response = Run(Request());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->outputs(0).has_data());
  EXPECT_EQ(response->outputs(0).buffer_id(), 0u);
  EXPECT_THAT(ToFloats(response->outputs(0).data()), ElementsAre(11, 22, 33, 14, 25, 36));
  EXPECT_EQ(session_->num_buffers(), 1);
}

TEST_F(ExecuteTest, GraphIdNamesACachedGraph) {
  absl::StatusOr<v1::ExecuteResponse> first = Run(Request());
  ASSERT_TRUE(first.ok());
  v1::ExecuteRequest by_id;
  by_id.set_graph_id(first->graph_id());
  by_id.add_bindings()->set_buffer_id(1);
  EXPECT_TRUE(Run(by_id).ok());

  by_id.set_graph_id(std::string(16, '\xab'));
  absl::StatusOr<v1::ExecuteResponse> unknown = Run(by_id);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(),
            "unknown graph_id abababababababababababababababab: send the graph");
  EXPECT_EQ(MissingGraphId(unknown.status()), std::string(16, '\xab'));

  // A graph and a graph_id that disagree.
  v1::ExecuteRequest both = Request();
  both.set_graph_id(std::string(16, '\xab'));
  EXPECT_EQ(Run(both).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ExecuteTest, OutputHandlesAreCheckedBeforeRunning) {
  v1::ExecuteRequest request = Request();
  request.add_outputs()->set_buffer_id(1);  // the parameter's own handle
  absl::StatusOr<v1::ExecuteResponse> response = Run(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(response.status().message(), HasSubstr("output 0: "));
  EXPECT_EQ(executor_.backend().budget().in_use(), 24);  // nothing ran or was kept
}

TEST_F(ExecuteTest, ReleasesComeFirst) {
  v1::ExecuteRequest request = Request();
  request.add_release_buffer_ids(1);
  absl::StatusOr<v1::ExecuteResponse> response = Run(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(response.status().message(), HasSubstr("parameter 0: session "));
  EXPECT_EQ(session_->num_buffers(), 0);
}

TEST_F(ExecuteTest, ADonatedBufferLeavesTheSessionAndIsWrittenOver) {
  const void* x_memory = session_->Get(1)->raw();
  v1::ExecuteRequest request = Request();
  request.mutable_bindings(0)->set_donate(true);
  request.add_outputs()->set_buffer_id(2);
  absl::StatusOr<v1::ExecuteResponse> response = Run(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(session_->Get(1).ok());  // released once bound
  absl::StatusOr<kernels::Tensor> out = session_->Get(2);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->raw(), x_memory);  // the add wrote over x: nothing else held it
  EXPECT_THAT(ToFloats(std::string(static_cast<char*>(out->raw()), 24)),
              ElementsAre(11, 22, 33, 14, 25, 36));
  EXPECT_EQ(executor_.backend().budget().in_use(), 24);
}

TEST_F(ExecuteTest, ABufferNotDonatedIsNeverWrittenOver) {
  const void* x_memory = session_->Get(1)->raw();
  v1::ExecuteRequest request = Request();
  request.add_outputs()->set_buffer_id(2);
  ASSERT_TRUE(Run(request).ok());
  absl::StatusOr<kernels::Tensor> x = session_->Get(1);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->raw(), x_memory);
  EXPECT_NE(session_->Get(2)->raw(), x_memory);
  EXPECT_THAT(ToFloats(std::string(static_cast<char*>(x->raw()), 24)),
              ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST_F(ExecuteTest, BindingsMustMatchTheParameters) {
  v1::ExecuteRequest request = Request();
  v1::Tensor* inline_x = request.mutable_bindings(0)->mutable_tensor();
  SetSpec(inline_x->mutable_spec(), {3});
  inline_x->set_data(Floats({1, 2, 3}));
  absl::StatusOr<v1::ExecuteResponse> response = Run(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(),
            "parameter 0: bound to float32(3,) but the graph declares float32(2, 3)");

  request.clear_bindings();
  EXPECT_EQ(Run(request).status().message(),
            "the graph has 1 parameter(s) but 0 binding(s) were sent");
}

TEST_F(ExecuteTest, GraphsPastTheNodeLimitAreRefused) {
  options_.max_graph_nodes = 2;
  absl::StatusOr<v1::ExecuteResponse> response = Run(Request());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(), "the graph has 3 nodes; this ferryd takes at most 2");
}

}  // namespace
}  // namespace ferry::server
