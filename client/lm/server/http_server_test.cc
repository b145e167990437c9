// The HTTP/1.1 server ferry_lm_server answers on: requests and keep-alive over a real
// socket, the limits it refuses with a status naming why, event streams, and a shutdown
// that ends open connections.

#include "client/lm/server/http_server.h"

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/lm/server/http_client_testing.h"
#include "gtest/gtest.h"

namespace ferry::lm::server {
namespace {

using testing::HttpConnection;
using testing::HttpReply;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.address = "127.0.0.1:0";
    options.max_body_bytes = 1000;
    options.max_header_bytes = 2000;
    auto server =
        HttpServer::Start(options, [this](const HttpRequest& request, HttpResponder& responder) {
          ++handled_;
          if (request.path == "/events") {
            responder.StartEvents();
            responder.SendEvent("one");
            responder.SendEvent("two");
            return;
          }
          if (request.path == "/silent") return;  // no answer: the server gives 500
          responder.Send(
              200, "text/plain",
              absl::StrCat(request.method, " ", request.path, " ",
                           request.headers.count("x-test") ? request.headers.at("x-test") : "-",
                           " ", request.body));
        });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::unique_ptr<HttpServer> server_;
  std::atomic<int> handled_{0};
};

TEST_F(HttpServerTest, AnswersRequestsOnOneKeptConnection) {
  HttpConnection connection(server_->port());
  HttpReply reply = connection.Request("POST", "/echo?x=1", "{\"a\": 1}");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "POST /echo - {\"a\": 1}");
  EXPECT_EQ(reply.headers["connection"], "keep-alive");
  EXPECT_EQ(reply.headers["access-control-allow-origin"], "*");
  reply = connection.SendRaw("GET /two HTTP/1.1\r\nX-Test:  spaced \r\n\r\n");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "GET /two spaced ");
  EXPECT_EQ(handled_, 2);
}

TEST_F(HttpServerTest, TwoRequestsSentTogetherAreBothAnswered) {
  HttpConnection connection(server_->port());
  HttpReply first =
      connection.SendRaw("POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(first.body, "POST /a - x");
  EXPECT_EQ(connection.Read().body, "GET /b - ");
  EXPECT_EQ(connection.Request("GET", "/c").body, "GET /c - ");
  EXPECT_EQ(handled_, 3);
}

TEST_F(HttpServerTest, CurlsExpectContinueGetsAContinueFirst) {
  HttpConnection connection(server_->port());
  // As curl sends a larger body: the headers, then the body once "100 Continue" came.
  ASSERT_TRUE(
      connection.Send("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  EXPECT_EQ(connection.ReadHead().status, 100);
  ASSERT_TRUE(connection.Send("abc"));
  EXPECT_EQ(connection.Read().body, "POST /e - abc");
}

TEST_F(HttpServerTest, WhatItRefusesGetsAStatusNamingWhy) {
  EXPECT_EQ(HttpConnection(server_->port()).SendRaw("nonsense\r\n\r\n").status, 400);
  HttpReply reply = HttpConnection(server_->port()).SendRaw("POST /x HTTP/1.1\r\n\r\n");
  EXPECT_EQ(reply.status, 411);
  EXPECT_NE(reply.body.find("Content-Length"), std::string::npos) << reply.body;
  reply =
      HttpConnection(server_->port()).SendRaw("POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
  EXPECT_EQ(reply.status, 413);
  EXPECT_NE(reply.body.find("at most 1000"), std::string::npos) << reply.body;
  reply = HttpConnection(server_->port())
              .SendRaw("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(reply.status, 501);
  reply =
      HttpConnection(server_->port())
          .SendRaw(absl::StrCat("GET / HTTP/1.1\r\nX-Big: ", std::string(3000, 'a'), "\r\n\r\n"));
  EXPECT_EQ(reply.status, 431);
  EXPECT_EQ(HttpConnection(server_->port()).Request("GET", "/silent").status, 500);
  EXPECT_EQ(handled_, 1);  // only /silent reached the handler
}

TEST_F(HttpServerTest, AnEventStreamEndsWithItsConnection) {
  HttpConnection connection(server_->port());
  HttpReply reply = connection.Request("GET", "/events");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "text/event-stream");
  EXPECT_EQ(testing::EventData(reply.body), (std::vector<std::string>{"one", "two"}));
}

TEST_F(HttpServerTest, ShutdownEndsOpenConnections) {
  HttpConnection idle(server_->port());
  ASSERT_EQ(idle.Request("GET", "/").status, 200);  // kept open, waiting for more
  server_->Shutdown();
  EXPECT_EQ(idle.Request("GET", "/").status, 0);
  EXPECT_EQ(HttpConnection(server_->port()).Request("GET", "/").status, 0);
}

TEST(HttpServerStartTest, AnAddressInUseIsNamed) {
  HttpServerOptions options;
  options.address = "127.0.0.1:0";
  auto first = HttpServer::Start(options, [](const HttpRequest&, HttpResponder&) {});
  ASSERT_TRUE(first.ok());
  options.address = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = HttpServer::Start(options, [](const HttpRequest&, HttpResponder&) {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(options.address), std::string::npos) << second.status();
}

}  // namespace
}  // namespace ferry::lm::server
