// ferryd's transport security and tokens, through the client library: TLS with the daemon's
// certificate checked against a CA, optional client certificates (mTLS), and bearer tokens
// on TLS and plaintext ports. Certificates are made with openssl for each run
// (tests/make_test_certs.sh); each case states what is accepted and what is refused.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/latency_relay.h"
#include "client/ferry.h"
#include "core/stream_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "server/ferryd_process.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret-token-for-tests";

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/ferry/", path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class TlsAuth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = new std::string(absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/ferry-tls-certs"));
    const std::string command = absl::StrCat(Runfile("tests/make_test_certs.sh"), " ", *dir_);
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ofstream(Path("tokens")) << "# one token a line\n\n  other-token  \n" << kToken << "\n";
  }
  static void TearDownTestSuite() {
    std::system(absl::StrCat("rm -rf ", *dir_).c_str());
    delete dir_;
  }

  static std::string Path(const std::string& name) { return absl::StrCat(*dir_, "/", name); }
  static std::string Pem(const std::string& name) { return ReadFile(Path(name)); }

  std::unique_ptr<server::FerrydProcess> Start(std::vector<std::string> flags) {
    auto process = server::FerrydProcess::Start(server::FindFerryd(nullptr), std::move(flags));
    EXPECT_TRUE(process.ok()) << process.status();
    return process.ok() ? *std::move(process) : nullptr;
  }

  std::vector<std::string> TlsFlags() {
    return {"--tls_cert=" + Path("server.pem"), "--tls_key=" + Path("server.key")};
  }
  // TLS, and links to other daemons (groups, copies) checked against the CA file `ca`.
  std::vector<std::string> PeerFlags(const std::string& ca) {
    std::vector<std::string> flags = TlsFlags();
    flags.push_back("--peer_ca=" + Path(ca));
    return flags;
  }

  ConnectOptions Options(const std::string& ca, const std::string& token = "") {
    ConnectOptions options;
    options.timeout = std::chrono::milliseconds(2000);  // each refusal waits this long
    if (!ca.empty()) options.root_certs = Pem(ca);
    options.token = token;
    return options;
  }

  // Connects and evaluates x + 1 on the daemon; the error's code when anything is refused.
  static std::optional<ErrorCode> Refusal(const std::string& address, const ConnectOptions& options,
                                          std::string* message) {
    try {
      Device device = connect(address, options);
      Array y = from_host(std::vector<float>{1, 2, 3}, {3}, device) + 1.0f;
      EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{2, 3, 4}));
      return std::nullopt;
    } catch (const Error& error) {
      *message = error.what();
      return error.code();
    }
  }

  static std::string* dir_;
};

std::string* TlsAuth::dir_ = nullptr;

TEST_F(TlsAuth, TlsWithTokenAcceptsTheRightTokenOnly) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--auth_tokens_file=" + Path("tokens"));
  auto daemon = Start(flags);
  ASSERT_NE(daemon, nullptr);
  std::string message;
  EXPECT_EQ(Refusal(daemon->address(), Options("ca.pem", kToken), &message), std::nullopt)
      << message;
  EXPECT_EQ(Refusal(daemon->address(), Options("ca.pem", "other-token"), &message), std::nullopt)
      << message;

  EXPECT_EQ(Refusal(daemon->address(), Options("ca.pem", "wrong"), &message),
            ErrorCode::kUnauthenticated);
  EXPECT_THAT(message, HasSubstr("the bearer token is not accepted"));
  EXPECT_EQ(Refusal(daemon->address(), Options("ca.pem"), &message), ErrorCode::kUnauthenticated);
  EXPECT_THAT(message, HasSubstr("requires a bearer token"));
  EXPECT_EQ(daemon->Stop(), 0);
}

// The bulk channel's bytes are not encrypted: a TLS daemon does not offer it, and every
// byte of a large transfer goes over the TLS channel.
// Large transfers take the bulk channel beside TLS too, in TLS with the same certificates.
TEST_F(TlsAuth, TheBulkChannelBesideTlsIsTls) {
  auto daemon = Start(TlsFlags());
  ASSERT_NE(daemon, nullptr);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Pem("ca.pem");
  auto stub = v1::Ferry::NewStub(grpc::CreateChannel(daemon->address(), grpc::SslCredentials(ssl)));
  grpc::ClientContext context;
  v1::OpenSessionRequest request;
  request.set_min_protocol_version(1);
  request.set_max_protocol_version(1);
  v1::OpenSessionResponse opened;
  ASSERT_TRUE(stub->OpenSession(&context, request, &opened).ok());
  EXPECT_THAT(opened.features(), ::testing::Contains("bulk_tcp"));
  ASSERT_TRUE(opened.has_bulk_channel());

  // A plaintext hello on the TLS port gets no answer: the connection just ends.
  {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(opened.bulk_channel().port()));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
    v1::BulkHello hello;
    hello.set_session_id(opened.session_id());
    hello.set_ticket(opened.bulk_channel().ticket());
    core::SendAll(fd, core::kBulkMagic, sizeof(core::kBulkMagic)).IgnoreError();
    core::SendMessage(fd, hello).IgnoreError();
    v1::BulkResponse answer;
    EXPECT_FALSE(core::ReceiveMessage(fd, &answer).ok());
    close(fd);
  }

  {
    Device device = connect(daemon->address(), Options("ca.pem"));
    EXPECT_TRUE(device.info().bulk_channel);
    std::vector<uint8_t> data(3 << 20);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + i / 4096);
    Array a = from_host(data, {static_cast<int64_t>(data.size())}, device);
    EXPECT_EQ((a + uint8_t{1}).to_vector<uint8_t>()[12345], static_cast<uint8_t>(data[12345] + 1));
    EXPECT_EQ(a.to_vector<uint8_t>(), data);
    EXPECT_GE(device.stats().bulk_channel_transfers, 2) << "the upload and a download";
  }
  EXPECT_EQ(daemon->Stop(), 0);
}

// A large upload whose TLS bulk connection is cut part way (a network change) goes on
// where it stopped, on a new TLS connection.
TEST_F(TlsAuth, AnUploadCutPartWayInTlsGoesOnWhereItStopped) {
  const int bulk_port = server::FreeLoopbackPort();
  std::vector<std::string> flags = TlsFlags();
  flags.push_back(absl::StrCat("--bulk_port=", bulk_port));
  auto daemon = Start(flags);
  ASSERT_NE(daemon, nullptr);
  auto bulk_relay = bench::LatencyRelay::Start(bulk_port, std::chrono::microseconds(0));
  ASSERT_TRUE(bulk_relay.ok()) << bulk_relay.status();
  ConnectOptions options = Options("ca.pem");
  options.bulk_address = (*bulk_relay)->address();
  {
    Device device = connect(daemon->address(), options);
    ASSERT_TRUE(device.info().bulk_channel);
    std::vector<uint8_t> data(size_t{48} << 20);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + i / 4096);
    (*bulk_relay)->CutAfter(int64_t{20} << 20);
    Array a = from_host(data, {static_cast<int64_t>(data.size())}, device);
    EXPECT_EQ(a.to_vector<uint8_t>(), data);
    EXPECT_EQ(device.stats().resumed_transfers, 1);
  }
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST_F(TlsAuth, AServerCertificateFromAnotherCaIsRefused) {
  auto daemon = Start(TlsFlags());
  ASSERT_NE(daemon, nullptr);
  std::string message;
  EXPECT_EQ(Refusal(daemon->address(), Options("other_ca.pem"), &message), ErrorCode::kUnavailable);
  // A plaintext client cannot talk to a TLS port either.
  EXPECT_EQ(Refusal(daemon->address(), Options(""), &message), ErrorCode::kUnavailable);
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST_F(TlsAuth, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--tls_client_ca=" + Path("ca.pem"));
  auto daemon = Start(flags);
  ASSERT_NE(daemon, nullptr);
  std::string message;
  ConnectOptions options = Options("ca.pem");
  options.client_cert = Pem("client.pem");
  options.client_key = Pem("client.key");
  EXPECT_EQ(Refusal(daemon->address(), options, &message), std::nullopt) << message;
  {
    // The bulk channel asks for the client certificate too.
    Device device = connect(daemon->address(), options);
    EXPECT_TRUE(device.info().bulk_channel);
    std::vector<float> data(1 << 20, 2.5f);
    EXPECT_EQ(from_host(data, {1 << 20}, device).to_vector<float>(), data);
    EXPECT_GE(device.stats().bulk_channel_transfers, 2);
  }

  EXPECT_EQ(Refusal(daemon->address(), Options("ca.pem"), &message), ErrorCode::kUnavailable)
      << "no client certificate";
  options.client_cert = Pem("other_client.pem");
  options.client_key = Pem("other_client.key");
  EXPECT_EQ(Refusal(daemon->address(), options, &message), ErrorCode::kUnavailable)
      << "a client certificate from another CA";
  EXPECT_EQ(daemon->Stop(), 0);
}

// The same credentials from the environment (device_from_environment, ferryctl's names).
TEST_F(TlsAuth, FerryDeviceTakesTheTlsFilesAndTokenTheEnvironmentNames) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--tls_client_ca=" + Path("ca.pem"));
  flags.push_back("--auth_tokens_file=" + Path("tokens"));
  auto daemon = Start(flags);
  ASSERT_NE(daemon, nullptr);
  setenv("FERRY_DEVICE", daemon->address().c_str(), 1);
  setenv("FERRY_TLS_CA", Path("ca.pem").c_str(), 1);
  setenv("FERRY_TLS_CERT", Path("client.pem").c_str(), 1);
  setenv("FERRY_TLS_KEY", Path("client.key").c_str(), 1);
  setenv("FERRY_TOKEN", kToken, 1);
  {
    Device device = device_from_environment();
    EXPECT_EQ((from_host(std::vector<float>{1, 2, 3}, {3}, device) + 1.0f).to_vector<float>(),
              (std::vector<float>{2, 3, 4}));
  }
  unsetenv("FERRY_TLS_CERT");  // the daemon requires a client certificate
  try {
    device_from_environment();
    ADD_FAILURE() << "connected without a client certificate";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kUnavailable) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("FERRY_DEVICE=" + daemon->address()));
  }
  for (const char* name : {"FERRY_DEVICE", "FERRY_TLS_CA", "FERRY_TLS_KEY", "FERRY_TOKEN"}) {
    unsetenv(name);
  }
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST_F(TlsAuth, TokensOnAPlaintextPortAndHealthStaysOpenForProbes) {
  auto daemon = Start({"--auth_tokens_file=" + Path("tokens")});
  ASSERT_NE(daemon, nullptr);
  std::string message;
  EXPECT_EQ(Refusal(daemon->address(), Options("", kToken), &message), std::nullopt) << message;
  EXPECT_EQ(Refusal(daemon->address(), Options("", "wrong"), &message),
            ErrorCode::kUnauthenticated);

  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(daemon->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("ready");
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  health.reset();
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST_F(TlsAuth, IncompleteTlsFlagsOrAnEmptyTokenFileStopTheDaemon) {
  std::ofstream(Path("empty_tokens")) << "# nothing here\n";
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"--tls_cert=" + Path("server.pem")},
           {"--tls_client_ca=" + Path("ca.pem")},
           {"--auth_tokens_file=" + Path("empty_tokens")},
           {"--tls_cert=" + Path("missing.pem"), "--tls_key=" + Path("server.key")}}) {
    auto process = server::FerrydProcess::Start(server::FindFerryd(nullptr), flags);
    EXPECT_FALSE(process.ok()) << flags[0] << " should stop ferryd";
  }
}

// Daemons serving TLS join groups when --peer_ca names the CA of their peers' certificates:
// the ring's links speak TLS, each daemon checking the next one's certificate, and carry
// collectives and sends both ways. Without it,
// or with a CA that did not sign the peer, the group is refused.
TEST_F(TlsAuth, GroupsLinkInTlsOnlyToPeersTheirPeerCaSigned) {
  auto first = Start(PeerFlags("ca.pem"));
  auto second = Start(PeerFlags("ca.pem"));
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  const std::vector<Device> devices = {connect(first->address(), Options("ca.pem")),
                                       connect(second->address(), Options("ca.pem"))};
  const distributed::Group group = distributed::init(devices);
  std::vector<Array> sums;
  for (int r = 0; r < 2; ++r) {
    sums.push_back(distributed::all_sum(full({3}, r + 1.0, float32, devices[r]), group));
  }
  eval(sums);
  for (Array& sum : sums) EXPECT_EQ(sum.to_vector<float>(), (std::vector<float>{3, 3, 3}));
  // Three ranks swap arrays with both neighbours: each TLS link carries sends both ways.
  const std::vector<Device> three = {devices[0], devices[1],
                                     connect(first->address(), Options("ca.pem"))};
  const distributed::Group ring = distributed::init(three);
  std::vector<Array> swapped;
  for (int r = 0; r < 3; ++r) {
    Array mine = full({1000}, r + 1.0, float32, three[r]);
    swapped.push_back(distributed::send(mine, (r + 1) % 3, ring));
    swapped.push_back(distributed::send(mine * 10.0f, (r + 2) % 3, ring));
    swapped.push_back(distributed::recv_like(mine, (r + 2) % 3, ring));
    swapped.push_back(distributed::recv_like(mine, (r + 1) % 3, ring));
  }
  eval(swapped);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(swapped[4 * r + 2].to_vector<float>()[999], ((r + 2) % 3) + 1.0f) << r;
    EXPECT_EQ(swapped[4 * r + 3].to_vector<float>()[0], 10.0f * (((r + 1) % 3) + 1)) << r;
  }

  auto no_peer_ca = Start(TlsFlags());
  ASSERT_NE(no_peer_ca, nullptr);
  try {
    distributed::init({connect(no_peer_ca->address(), Options("ca.pem"))});
    FAIL() << "a TLS daemon without --peer_ca joined a group";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kFailedPrecondition) << error.what();
  }

  auto third = Start(PeerFlags("other_ca.pem"));
  ASSERT_NE(third, nullptr);
  distributed::GroupOptions options;
  options.timeout = std::chrono::milliseconds(3000);
  try {
    distributed::init({connect(third->address(), Options("ca.pem")),
                       connect(first->address(), Options("ca.pem"))},
                      options);
    FAIL() << "a daemon linked to a peer whose certificate its --peer_ca did not sign";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("could not link to rank 1"));
  }
}

// Copies between daemons speak TLS on the source's bulk channel: the fetching daemon checks
// the source's certificate against its --peer_ca, and a copy whose daemons cannot trust each
// other fails naming why; a daemon without --peer_ca takes copies through the client.
TEST_F(TlsAuth, CopiesGoDaemonToDaemonInTlsOnlyBetweenPeersTheirPeerCaSigned) {
  auto first = Start(PeerFlags("ca.pem"));
  auto second = Start(PeerFlags("ca.pem"));
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  Device a = connect(first->address(), Options("ca.pem"));
  Device b = connect(second->address(), Options("ca.pem"));
  Array copied = (arange(3000.0, float32, a) * 2.0f).to(b);
  EXPECT_EQ(copied.to_vector<float>()[2999], 5998.0f);
  EXPECT_EQ(b.stats().peer_copies, 1);

  auto no_peer_ca = Start(TlsFlags());
  ASSERT_NE(no_peer_ca, nullptr);
  Device c = connect(no_peer_ca->address(), Options("ca.pem"));
  EXPECT_EQ((arange(5.0, float32, a) + 1.0f).to(c).to_vector<float>(),
            (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_EQ(c.stats().peer_copies, 0);  // through the client

  auto third = Start(PeerFlags("other_ca.pem"));
  ASSERT_NE(third, nullptr);
  Device d = connect(third->address(), Options("ca.pem"));
  try {
    (arange(5.0, float32, a) + 1.0f).to(d).to_vector<float>();
    FAIL() << "a daemon fetched from a peer whose certificate its --peer_ca did not sign";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kPermissionDenied) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("[copy]"));
  }
}

}  // namespace
}  // namespace ferry
