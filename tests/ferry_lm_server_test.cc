// ferry_lm_server as a user runs it: the binary loads a model onto a ferryd and serves
// OpenAI's completions API; its replies are what the same model generates in this process,
// clients at once share one batch, and it stops cleanly on SIGTERM.

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "client/ferry.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/lm/server/http_client_testing.h"
#include "client/lm/tuner/lora.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using Json = nlohmann::json;

using ::ferry::testing::Runfile;

TEST(FerryLmServerTest, ServesAModelOnAFerryd) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const std::string model = Runfile("examples/models/ferry-tiny-llama");
  // Started as ferryd is (--listen=127.0.0.1:0, --port_file), with the daemon as its device.
  auto server = server::FerrydProcess::Start(
      Runfile("client/lm/server/ferry_lm_server"),
      {"--model=" + model, "--device=" + ferryd->address(), "--max_tokens=25"});
  ASSERT_TRUE(server.ok()) << server.status();

  lm::server::testing::HttpConnection connection((*server)->port());
  const Json models = Json::parse(connection.Request("GET", "/v1/models").body);
  EXPECT_EQ(models["data"][0]["id"], "ferry-tiny-llama");
  const lm::server::testing::HttpReply reply = connection.Request(
      "POST", "/v1/completions", Json{{"prompt", "ferry lets a C++ program"}}.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json body = Json::parse(reply.body);
  EXPECT_EQ(body["usage"]["completion_tokens"], 25);  // the server's --max_tokens

  auto [local_model, tokenizer] = lm::load(model, local());
  lm::GenerateOptions options;
  options.max_tokens = 25;
  EXPECT_EQ(body["choices"][0]["text"],
            lm::generate(*local_model, tokenizer, "ferry lets a C++ program", options));
  EXPECT_EQ((*server)->Stop(), 0);
}

// Clients at once share the daemon's batch (two at a time here: the others wait for a
// place); each gets what the model generates for it alone in this process.
TEST(FerryLmServerTest, ClientsAtOnceEachGetTheirReplyFromTheBatch) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const std::string model = Runfile("examples/models/ferry-tiny-llama");
  auto server = server::FerrydProcess::Start(
      Runfile("client/lm/server/ferry_lm_server"),
      {"--model=" + model, "--device=" + ferryd->address(), "--decode_concurrency=2"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<std::pair<std::string, int>> requests = {{"ferry lets a C++ program", 30},
                                                             {"The client records", 12},
                                                             {"many daemons", 20},
                                                             {"ferry lets you", 8}};
  std::vector<std::string> texts(requests.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < requests.size(); ++i) {
    clients.emplace_back([&, i] {
      lm::server::testing::HttpConnection connection((*server)->port());
      const lm::server::testing::HttpReply reply = connection.Request(
          "POST", "/v1/completions",
          Json{{"prompt", requests[i].first}, {"max_tokens", requests[i].second}}.dump());
      texts[i] = reply.status == 200
                     ? Json::parse(reply.body)["choices"][0]["text"].get<std::string>()
                     : reply.body;
    });
  }
  for (std::thread& client : clients) client.join();
  auto [local_model, tokenizer] = lm::load(model, local());
  for (size_t i = 0; i < requests.size(); ++i) {
    lm::GenerateOptions options;
    options.max_tokens = requests[i].second;
    EXPECT_EQ(texts[i], lm::generate(*local_model, tokenizer, requests[i].first, options))
        << requests[i].first;
  }
  EXPECT_EQ((*server)->Stop(), 0);
}

// --draft_model: the draft (here the model itself) proposes on the daemon, and the replies
// are still the model's own.
TEST(FerryLmServerTest, ADraftModelSpeculatesOnTheFerryd) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const std::string model = Runfile("examples/models/ferry-tiny-llama");
  auto server = server::FerrydProcess::Start(Runfile("client/lm/server/ferry_lm_server"),
                                             {"--model=" + model, "--device=" + ferryd->address(),
                                              "--draft_model=" + model, "--num_draft_tokens=4"});
  ASSERT_TRUE(server.ok()) << server.status();
  lm::server::testing::HttpConnection connection((*server)->port());
  const lm::server::testing::HttpReply reply = connection.Request(
      "POST", "/v1/completions", Json{{"prompt", "The client records"}, {"max_tokens", 30}}.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  auto [local_model, tokenizer] = lm::load(model, local());
  lm::GenerateOptions options;
  options.max_tokens = 30;
  EXPECT_EQ(Json::parse(reply.body)["choices"][0]["text"],
            lm::generate(*local_model, tokenizer, "The client records", options));
  EXPECT_EQ((*server)->Stop(), 0);
}

// --adapter_path applies a LoRA adapter (here one of random updates, which changes the
// replies) as examples/generate's does, and --chat_template replaces the model's template:
// the replies are those of the adapted model in this process over that template's prompt.
TEST(FerryLmServerTest, AnAdapterAndAChatTemplateFromTheCommandLine) {
  const std::string model = Runfile("examples/models/ferry-tiny-llama");
  const std::string adapter = std::string(std::getenv("TEST_TMPDIR")) + "/adapter";
  {
    std::unique_ptr<lm::Model> adapted = lm::load_model(model);
    adapted->freeze();  // as the trainer: only the adapters train, and are saved
    lm::tuner::AdapterConfig config;
    config.num_layers = 2;
    config.lora_parameters.rank = 4;
    lm::tuner::linear_to_lora_layers(*adapted, config.num_layers, config.lora_parameters);
    nn::Parameters updates;
    uint64_t seed = 3;
    for (const auto& [name, weight] : adapted->trainable_parameters()) {
      updates.emplace_back(
          name, random::normal(weight.shape(), weight.dtype(), 0.0, 0.05, random::key(seed++)));
    }
    adapted->load_weights(updates, /*strict=*/false);
    lm::tuner::save_adapters(*adapted, adapter, config);
  }
  const std::string chat_template =
      "{% for m in messages %}{{ m.role }} says {{ m.content }}. {% endfor %}assistant:";
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  auto server = server::FerrydProcess::Start(
      Runfile("client/lm/server/ferry_lm_server"),
      {"--model=" + model, "--device=" + ferryd->address(), "--adapter_path=" + adapter,
       "--chat_template=" + chat_template, "--max_tokens=20"});
  ASSERT_TRUE(server.ok()) << server.status();
  lm::server::testing::HttpConnection connection((*server)->port());
  const Json messages = {{{"role", "user"}, {"content", "ferry lets"}}};
  const lm::server::testing::HttpReply reply =
      connection.Request("POST", "/v1/chat/completions", Json{{"messages", messages}}.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;

  // Not a structured binding: the lambda below captures them (C++17).
  std::unique_ptr<lm::Model> local_model;
  std::optional<lm::Tokenizer> tokenizer;
  std::tie(local_model, tokenizer) = lm::load(model, local());
  const std::vector<int32_t> prompt = tokenizer->encode("user says ferry lets. assistant:", false);
  lm::GenerateOptions options;
  options.max_tokens = 20;
  auto generate = [&] {
    std::string text;
    lm::stream_generate(*local_model, *tokenizer, prompt, options,
                        [&](const lm::GenerationResponse& r) {
                          text += r.text;
                          return true;
                        });
    return text;
  };
  const std::string plain = generate();
  lm::tuner::load_adapters(*local_model, adapter);
  const std::string adapted = generate();
  EXPECT_NE(adapted, plain);  // the adapter matters
  EXPECT_EQ(Json::parse(reply.body)["choices"][0]["message"]["content"], adapted);
  EXPECT_EQ((*server)->Stop(), 0);
}

TEST(FerryLmServerTest, AMissingModelIsNamed) {
  auto server = server::FerrydProcess::Start(Runfile("client/lm/server/ferry_lm_server"),
                                             {"--model=/nonexistent/model"});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("exit"), std::string::npos) << server.status();
}

}  // namespace
}  // namespace ferry
