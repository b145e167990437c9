// TLS on a socket pair with the test certificates (tests/make_test_certs.sh): what each side
// accepts and refuses, and bytes both ways.

#include "core/tls_stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::core {
namespace {

using ::testing::HasSubstr;

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const char* srcdir = std::getenv("TEST_SRCDIR");
    dir_ = new std::string(absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/ferry-tls-stream"));
    const std::string command =
        absl::StrCat(srcdir != nullptr ? srcdir : ".", "/ferry/tests/make_test_certs.sh ", *dir_);
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static std::string Pem(const std::string& name) {
    std::ifstream in(absl::StrCat(*dir_, "/", name));
    std::stringstream contents;
    contents << in.rdbuf();
    return contents.str();
  }

  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    close(fds_[0]);
    close(fds_[1]);
  }

  std::shared_ptr<TlsContext> Server(const std::string& client_ca = "") {
    auto server = TlsContext::ForServer(Pem("server.pem"), Pem("server.key"), client_ca);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *server : nullptr;
  }
  std::shared_ptr<TlsContext> Client(const std::string& roots, const std::string& cert = "",
                                     const std::string& key = "") {
    auto client = TlsContext::ForClient(roots, cert, key);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *client : nullptr;
  }

  // Both handshakes at once; the server's result in `accepted`, the client's returned.
  absl::StatusOr<std::unique_ptr<ByteStream>> Handshake(
      const TlsContext& server, const TlsContext& client, const std::string& host,
      absl::StatusOr<std::unique_ptr<ByteStream>>* accepted) {
    auto accepting = std::async(std::launch::async, [&] { return server.Accept(fds_[0]); });
    absl::StatusOr<std::unique_ptr<ByteStream>> connected = client.Connect(fds_[1], host);
    if (!connected.ok()) shutdown(fds_[1], SHUT_RDWR);  // the server's handshake ends too
    *accepted = accepting.get();
    return connected;
  }

  static std::string* dir_;
  int fds_[2] = {-1, -1};
};

std::string* TlsStreamTest::dir_ = nullptr;

TEST_F(TlsStreamTest, BytesCrossBothWaysIntact) {
  absl::StatusOr<std::unique_ptr<ByteStream>> server;
  absl::StatusOr<std::unique_ptr<ByteStream>> client =
      Handshake(*Server(), *Client(Pem("ca.pem")), "127.0.0.1", &server);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(server.ok()) << server.status();
  std::string sent(5 << 20, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 131 + i / 7);
  auto sending =
      std::async(std::launch::async, [&] { return (*client)->Send(sent.data(), sent.size()); });
  std::string received(sent.size(), '\0');
  ASSERT_TRUE((*server)->Receive(received.data(), received.size()).ok());
  ASSERT_TRUE(sending.get().ok());
  EXPECT_TRUE(received == sent);
  ASSERT_TRUE((*server)->Send("pong", 4).ok());
  char pong[2];
  ASSERT_TRUE((*client)->Receive(pong, 2).ok());
  EXPECT_TRUE((*client)->Buffered()) << "the record's other 2 bytes are decrypted already";
  ASSERT_TRUE((*client)->Receive(pong, 2).ok());
  EXPECT_FALSE((*client)->Buffered());
  server->reset();  // closes TLS: the client sees the end
  absl::Status ended = (*client)->Receive(pong, 1);
  EXPECT_EQ(ended.code(), absl::StatusCode::kUnavailable) << ended;
  EXPECT_THAT(std::string(ended.message()), HasSubstr("closed"));
  // Writing to a peer that is gone fails; it does not raise SIGPIPE (which, not ignored
  // here, would end this test program).
  close(fds_[0]);
  fds_[0] = -1;
  absl::Status failed = (*client)->Send(sent.data(), sent.size());
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
}

TEST_F(TlsStreamTest, TheClientRefusesAServerItsRootsDoNotVouchFor) {
  absl::StatusOr<std::unique_ptr<ByteStream>> server;
  absl::StatusOr<std::unique_ptr<ByteStream>> client =
      Handshake(*Server(), *Client(Pem("other_ca.pem")), "127.0.0.1", &server);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnauthenticated) << client.status();
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("certificate"));
}

TEST_F(TlsStreamTest, TheClientRefusesACertificateForAnotherHost) {
  for (const char* host : {"10.1.2.3", "ferry.example.com"}) {
    SCOPED_TRACE(host);
    TearDown();
    SetUp();
    absl::StatusOr<std::unique_ptr<ByteStream>> server;
    absl::StatusOr<std::unique_ptr<ByteStream>> client =
        Handshake(*Server(), *Client(Pem("ca.pem")), host, &server);
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.status().code(), absl::StatusCode::kUnauthenticated) << client.status();
  }
  TearDown();
  SetUp();
  absl::StatusOr<std::unique_ptr<ByteStream>> server;
  EXPECT_TRUE(Handshake(*Server(), *Client(Pem("ca.pem")), "localhost", &server).ok())
      << "the certificate's DNS name";
}

TEST_F(TlsStreamTest, AServerAskingForClientCertificatesAcceptsOnlyItsCas) {
  {
    absl::StatusOr<std::unique_ptr<ByteStream>> server;
    auto client = Handshake(*Server(Pem("ca.pem")),
                            *Client(Pem("ca.pem"), Pem("client.pem"), Pem("client.key")),
                            "127.0.0.1", &server);
    EXPECT_TRUE(client.ok()) << client.status();
    EXPECT_TRUE(server.ok()) << server.status();
  }
  for (const char* name : {"", "other_client"}) {
    SCOPED_TRACE(name);
    TearDown();
    SetUp();
    absl::StatusOr<std::unique_ptr<ByteStream>> server;
    const std::string cert = *name ? Pem(absl::StrCat(name, ".pem")) : "";
    const std::string key = *name ? Pem(absl::StrCat(name, ".key")) : "";
    auto client =
        Handshake(*Server(Pem("ca.pem")), *Client(Pem("ca.pem"), cert, key), "127.0.0.1", &server);
    ASSERT_FALSE(server.ok());
    EXPECT_EQ(server.status().code(), absl::StatusCode::kUnauthenticated) << server.status();
  }
}

TEST_F(TlsStreamTest, UnusablePemIsInvalidArgument) {
  EXPECT_EQ(TlsContext::ForServer("not pem", Pem("server.key"), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TlsContext::ForServer(Pem("server.pem"), Pem("client.key"), "").status().code(),
            absl::StatusCode::kInvalidArgument)
      << "a key that is not the certificate's";
  EXPECT_EQ(TlsContext::ForClient("not pem", "", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(TlsContext::ForClient("", "", "").ok()) << "the system's roots";
}

}  // namespace
}  // namespace ferry::core
