#include "tests/ferryd_testing.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>

#include "core/stream_socket.h"
#include "gtest/gtest.h"

namespace ferry::testing {

std::unique_ptr<server::FerrydProcess> StartFerryd(std::vector<std::string> flags) {
  std::string path = server::FindFerryd(nullptr);
  EXPECT_FALSE(path.empty()) << "ferryd is not in this test's runfiles";
  auto process = server::FerrydProcess::Start(path, std::move(flags));
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? *std::move(process) : nullptr;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

double ScrapeMetric(int port, const std::string& series) {
  absl::StatusOr<int> fd = core::ConnectTcp("127.0.0.1", std::to_string(port), absl::Seconds(5));
  if (!fd.ok()) return -1;
  const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
  std::string page;
  if (core::SendAll(*fd, request.data(), request.size()).ok()) {
    char chunk[4096];
    for (ssize_t n; (n = read(*fd, chunk, sizeof(chunk))) > 0;) page.append(chunk, n);
  }
  close(*fd);
  const size_t at = page.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(page.substr(at + series.size() + 2));
}

std::unique_ptr<v1::Ferry::Stub> Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return v1::Ferry::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

std::string OpenSession(v1::Ferry::Stub& stub) {
  grpc::ClientContext context;
  v1::OpenSessionRequest request;
  request.set_min_protocol_version(1);
  request.set_max_protocol_version(1);
  request.set_client_name("ferryd test");
  v1::OpenSessionResponse response;
  grpc::Status status = stub.OpenSession(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.session_id().size(), 32u);
  return response.session_id();
}

grpc::Status Upload(v1::Ferry::Stub& stub, const std::string& session, uint64_t buffer_id,
                    const v1::TensorSpec& spec, const std::string& data, size_t chunk_bytes,
                    int64_t total_bytes) {
  grpc::ClientContext context;
  v1::UploadResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadRequest>> writer = stub.Upload(&context, &response);
  v1::UploadRequest message;
  message.set_session_id(session);
  message.set_buffer_id(buffer_id);
  *message.mutable_spec() = spec;
  message.set_total_bytes(total_bytes < 0 ? data.size() : static_cast<uint64_t>(total_bytes));
  size_t offset = 0;
  do {
    size_t n = std::min(chunk_bytes, data.size() - offset);
    message.set_data(data.substr(offset, n));
    if (!writer->Write(message)) break;  // the daemon answered early; Finish says why
    offset += n;
    message.Clear();
  } while (offset < data.size());
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (status.ok()) {
    EXPECT_EQ(response.buffer_id(), buffer_id);
    EXPECT_EQ(response.bytes_received(), data.size());
  }
  return status;
}

grpc::Status Download(v1::Ferry::Stub& stub, const std::string& session, uint64_t buffer_id,
                      std::string* data, v1::TensorSpec* spec) {
  grpc::ClientContext context;
  v1::DownloadRequest request;
  request.set_session_id(session);
  request.set_buffer_id(buffer_id);
  std::unique_ptr<grpc::ClientReader<v1::DownloadResponse>> reader =
      stub.Download(&context, request);
  v1::DownloadResponse message;
  data->clear();
  uint64_t total = 0;
  bool first = true;
  while (reader->Read(&message)) {
    if (first) {
      total = message.total_bytes();
      if (spec != nullptr) *spec = message.spec();
      data->reserve(total);
      first = false;
    }
    EXPECT_EQ(message.offset(), data->size());
    data->append(message.data());
  }
  grpc::Status status = reader->Finish();
  if (status.ok()) {
    EXPECT_EQ(data->size(), total);
  }
  return status;
}

grpc::Status GetInfo(v1::Ferry::Stub& stub, const std::string& session, v1::GetInfoResponse* info) {
  grpc::ClientContext context;
  v1::GetInfoRequest request;
  request.set_session_id(session);
  v1::GetInfoResponse response;
  grpc::Status status = stub.GetInfo(&context, request, &response);
  if (info != nullptr) *info = response;
  return status;
}

v1::TensorSpec Spec(v1::DType dtype, std::initializer_list<int64_t> shape) {
  v1::TensorSpec spec;
  spec.set_dtype(dtype);
  for (int64_t dim : shape) spec.add_shape(dim);
  return spec;
}

v1::Node Parameter(int64_t index, const v1::TensorSpec& out) {
  v1::Node node;
  node.set_op("parameter");
  *node.add_attrs() = IntAttr("index", index);
  *node.add_attrs() = DTypeAttr("dtype", out.dtype());
  *node.add_attrs() = IntsAttr("shape", {out.shape().begin(), out.shape().end()});
  *node.mutable_out() = out;
  return node;
}

v1::Node ConstantF32(const std::vector<float>& values, std::initializer_list<int64_t> shape) {
  v1::Node node;
  node.set_op("constant");
  v1::Attribute* value = node.add_attrs();
  value->set_name("value");
  *value->mutable_tensor() = F32Tensor(values, shape);
  *node.mutable_out() = Spec(v1::FLOAT32, shape);
  return node;
}

v1::Node Op(const std::string& op, std::initializer_list<int32_t> inputs,
            const v1::TensorSpec& out) {
  v1::Node node;
  node.set_op(op);
  for (int32_t input : inputs) node.add_inputs(input);
  *node.mutable_out() = out;
  return node;
}

v1::Attribute IntAttr(const std::string& name, int64_t value) {
  v1::Attribute attr;
  attr.set_name(name);
  attr.set_i(value);
  return attr;
}

v1::Attribute IntsAttr(const std::string& name, const std::vector<int64_t>& values) {
  v1::Attribute attr;
  attr.set_name(name);
  for (int64_t v : values) attr.mutable_ints()->add_values(v);
  return attr;
}

v1::Attribute FloatAttr(const std::string& name, double value) {
  v1::Attribute attr;
  attr.set_name(name);
  attr.set_f(value);
  return attr;
}

v1::Attribute DTypeAttr(const std::string& name, v1::DType dtype) {
  v1::Attribute attr;
  attr.set_name(name);
  attr.set_dtype(dtype);
  return attr;
}

v1::Tensor F32Tensor(const std::vector<float>& values, std::initializer_list<int64_t> shape) {
  v1::Tensor tensor;
  *tensor.mutable_spec() = Spec(v1::FLOAT32, shape);
  tensor.set_data(FloatBytes(values));
  return tensor;
}

std::vector<float> NormalFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0, 1);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

std::string FloatBytes(const std::vector<float>& values) {
  std::string bytes(values.size() * sizeof(float), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::vector<float> BytesToFloats(const std::string& bytes) {
  std::vector<float> values(bytes.size() / sizeof(float));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

server::FerrydProcess* FerrydSuiteTest::daemon_ = nullptr;

void FerrydSuiteTest::StartDaemon(std::vector<std::string> flags) {
  daemon_ = StartFerryd(std::move(flags)).release();
}

void FerrydSuiteTest::TearDownTestSuite() {
  if (daemon_ != nullptr) {
    EXPECT_EQ(daemon_->Stop(), 0);
  }
  delete daemon_;
  daemon_ = nullptr;
}

void FerrydSuiteTest::SetUp() {
  ASSERT_NE(daemon_, nullptr);
  stub_ = Connect(daemon_->address());
  session_ = OpenSession(*stub_);
}

grpc::Status FerrydSuiteTest::CloseSession() {
  grpc::ClientContext context;
  v1::CloseSessionRequest request;
  request.set_session_id(session_);
  v1::CloseSessionResponse response;
  return stub_->CloseSession(&context, request, &response);
}

}  // namespace ferry::testing
