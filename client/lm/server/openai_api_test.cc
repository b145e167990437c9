// OpenAI's completions API over HTTP on ferry-tiny-llama: each reply is the text lm::generate
// gives for the same prompt and options, whole or streamed as server-sent events; stop
// strings cut it; the next turn of a conversation reuses the KV cache; chat requests go
// through the model's chat template; bad requests get 400 naming the field.

#include "client/lm/server/openai_api.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/lm/server/http_client_testing.h"
#include "client/lm/server/http_server.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::server {
namespace {

using Json = nlohmann::json;
using testing::EventData;
using testing::HttpConnection;
using testing::HttpReply;

using ::ferry::testing::Runfile;

constexpr char kPrompt[] = "ferry lets a C++ program";

class OpenAiApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Serve(Runfile("examples/models/ferry-tiny-llama")); }

  void Serve(const std::string& model_path, ServiceOptions options = {}) {
    server_.reset();
    service_.reset();
    auto [model, tokenizer] = load(model_path);
    model_ = std::move(model);
    tokenizer_ = std::make_unique<Tokenizer>(tokenizer);
    options.model_id = "ferry-tiny-llama";
    service_ = std::make_unique<OpenAiService>(*model_, tokenizer, options);
    HttpServerOptions listen;
    listen.address = "127.0.0.1:0";
    auto server = HttpServer::Start(
        listen, [this](const HttpRequest& r, HttpResponder& out) { service_->Handle(r, out); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  HttpReply Post(const std::string& path, const Json& body) {
    return HttpConnection(server_->port()).Request("POST", path, body.dump());
  }

  // What lm::generate gives, greedy, for `prompt` ids.
  std::string Generate(const std::vector<int32_t>& prompt, int max_tokens) {
    GenerateOptions options;
    options.max_tokens = max_tokens;
    std::string text;
    stream_generate(*model_, *tokenizer_, prompt, options, [&](const GenerationResponse& r) {
      text += r.text;
      return true;
    });
    return text;
  }

  // Posts each of `requests` to /v1/completions from a thread of its own, all at once: the
  // text of each reply (its body when it failed).
  std::vector<std::string> CompleteAtOnce(const std::vector<Json>& requests) {
    std::vector<std::string> texts(requests.size());
    std::vector<std::thread> clients;
    for (size_t i = 0; i < requests.size(); ++i) {
      clients.emplace_back([&, i] {
        const HttpReply reply = Post("/v1/completions", requests[i]);
        texts[i] = reply.status == 200
                       ? Json::parse(reply.body)["choices"][0]["text"].get<std::string>()
                       : reply.body;
      });
    }
    for (std::thread& t : clients) t.join();
    return texts;
  }

  // A conversation's second turn sends the first's prompt, its reply and " and": the first
  // prompt and the reply but its last token (never fed to the model) come from the cache,
  // and the reply is the one a fresh cache gives.
  void ExpectTheNextTurnReusesTheCache() {
    std::vector<int32_t> prompt = tokenizer_->encode(kPrompt);
    HttpReply first = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 10}});
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(Json::parse(first.body)["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    const std::vector<int32_t> reply =
        tokenizer_->encode(Json::parse(first.body)["choices"][0]["text"], false);
    prompt.insert(prompt.end(), reply.begin(), reply.end());
    const std::vector<int32_t> more = tokenizer_->encode(" and", false);
    prompt.insert(prompt.end(), more.begin(), more.end());
    HttpReply second = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 15}});
    ASSERT_EQ(second.status, 200) << second.body;
    const Json body = Json::parse(second.body);
    EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 12 + 10 - 1);
    EXPECT_EQ(body["choices"][0]["text"], Generate(prompt, 15));
  }

  // A turn a stop string ended keeps its cache too: the next turn (the prompt, the reply as
  // sent, cut before the stop string, and " and") prefills only what the cache lacks, the
  // first prompt and the tokens given but the last sharing its beginning, and its reply is
  // the one a fresh cache gives.
  void ExpectAStopStringKeepsTheCache() {
    std::vector<int32_t> prompt = tokenizer_->encode(kPrompt);
    const std::string whole = Generate(prompt, 40);
    HttpReply first = Post("/v1/completions",
                           {{"prompt", prompt}, {"max_tokens", 40}, {"stop", whole.substr(20, 4)}});
    ASSERT_EQ(first.status, 200) << first.body;
    const Json body = Json::parse(first.body);
    ASSERT_EQ(body["choices"][0]["finish_reason"], "stop");
    const int given = body["usage"]["completion_tokens"];
    ASSERT_LT(given, 40);
    std::vector<int32_t> held = prompt;
    TokenGenerator generator(*model_, prompt, GenerateOptions{});
    for (int i = 0; i + 1 < given; ++i) held.push_back(generator.next()->token);

    const std::vector<int32_t> reply =
        tokenizer_->encode(body["choices"][0]["text"].get<std::string>(), false);
    prompt.insert(prompt.end(), reply.begin(), reply.end());
    const std::vector<int32_t> more = tokenizer_->encode(" and", false);
    prompt.insert(prompt.end(), more.begin(), more.end());
    size_t shared = 0;
    while (shared < held.size() && shared + 1 < prompt.size() && held[shared] == prompt[shared]) {
      ++shared;
    }
    ASSERT_GT(shared, 12u);  // more than the first prompt
    HttpReply second = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 15}});
    ASSERT_EQ(second.status, 200) << second.body;
    const Json next = Json::parse(second.body);
    EXPECT_EQ(next["usage"]["prompt_tokens_details"]["cached_tokens"], shared);
    EXPECT_EQ(next["choices"][0]["text"], Generate(prompt, 15));
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Model> draft_;  // outlives the service
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(OpenAiApiTest, ACompletionIsWhatGenerateGives) {
  HttpReply reply = Post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 30}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers["content-type"], "application/json");
  const Json body = Json::parse(reply.body);
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], "ferry-tiny-llama");
  EXPECT_EQ(body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(body["choices"][0]["text"], Generate(tokenizer_->encode(kPrompt), 30));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 12);  // BOS and 11
  EXPECT_EQ(body["usage"]["completion_tokens"], 30);
  EXPECT_EQ(body["usage"]["total_tokens"], 42);
}

TEST_F(OpenAiApiTest, AStreamedCompletionSendsTheSameTextAsEvents) {
  HttpReply reply = Post("/v1/completions", {{"prompt", kPrompt},
                                             {"max_tokens", 30},
                                             {"stream", true},
                                             {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers["content-type"], "text/event-stream");
  const std::vector<std::string> events = EventData(reply.body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 3 < events.size(); ++i) {
    const Json chunk = Json::parse(events[i]);
    EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
    text += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, Generate(tokenizer_->encode(kPrompt), 30));
  EXPECT_EQ(Json::parse(events[events.size() - 3])["choices"][0]["finish_reason"], "length");
  const Json usage = Json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 30);
}

TEST_F(OpenAiApiTest, AStopStringCutsTheReply) {
  const std::string whole = Generate(tokenizer_->encode(kPrompt), 40);
  const std::string stop = whole.substr(20, 4);
  const std::string expected = whole.substr(0, whole.find(stop));
  for (bool stream : {false, true}) {
    HttpReply reply = Post("/v1/completions", {{"prompt", kPrompt},
                                               {"max_tokens", 40},
                                               {"stop", {"never there", stop}},
                                               {"stream", stream}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    std::string text, finish;
    if (stream) {
      for (const std::string& event : EventData(reply.body)) {
        if (event == "[DONE]") continue;
        const Json choice = Json::parse(event)["choices"][0];
        text += choice["text"].get<std::string>();
        if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
      }
    } else {
      const Json choice = Json::parse(reply.body)["choices"][0];
      text = choice["text"];
      finish = choice["finish_reason"];
    }
    EXPECT_EQ(text, expected) << "stream " << stream;
    EXPECT_EQ(finish, "stop") << "stream " << stream;
  }
}

TEST_F(OpenAiApiTest, ATurnAStopStringEndedKeepsItsCache) { ExpectAStopStringKeepsTheCache(); }

// The next turn sends the whole conversation again: the tokens the last reply left in the
// cache are not prefilled again, and the reply is the same as from a fresh cache.
TEST_F(OpenAiApiTest, TheNextTurnReusesTheCache) {
  ExpectTheNextTurnReusesTheCache();
  // Another prompt shares only the BOS and the first words.
  HttpReply third = Post("/v1/completions", {{"prompt", "ferry lets you"}, {"max_tokens", 5}});
  ASSERT_EQ(third.status, 200) << third.body;
  EXPECT_EQ(Json::parse(third.body)["choices"][0]["text"],
            Generate(tokenizer_->encode("ferry lets you"), 5));
}

TEST_F(OpenAiApiTest, SeededSamplingRepeats) {
  const Json request = {{"prompt", kPrompt}, {"max_tokens", 20}, {"temperature", 1.5}, {"seed", 7}};
  const HttpReply a = Post("/v1/completions", request);
  const HttpReply b = Post("/v1/completions", request);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Json::parse(a.body)["choices"][0]["text"], Json::parse(b.body)["choices"][0]["text"]);
}

TEST_F(OpenAiApiTest, LogprobsAreTheModelsOwn) {
  HttpReply reply =
      Post("/v1/completions",
           {{"prompt", kPrompt}, {"max_tokens", 3}, {"logprobs", true}, {"top_logprobs", 2}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json content = Json::parse(reply.body)["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 3u);
  for (const Json& entry : content) {
    // Greedy: the token drawn is the likeliest, and its log-probability is at most 0.
    EXPECT_EQ(entry["id"], entry["top_logprobs"][0]["id"]);
    EXPECT_LE(entry["logprob"].get<double>(), 0.0);
    EXPECT_GE(entry["top_logprobs"][0]["logprob"], entry["top_logprobs"][1]["logprob"]);
  }
}

TEST_F(OpenAiApiTest, ChatRequestsGoThroughTheChatTemplate) {
  // Without a template, chat is refused by name.
  HttpReply refused =
      Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("no chat template"), std::string::npos) << refused.body;

  // The model with a ChatML template beside it.
  const std::filesystem::path dir =
      std::filesystem::path(std::getenv("TEST_TMPDIR")) / "tiny-llama-chat";
  std::filesystem::create_directories(dir);
  for (const auto& file :
       std::filesystem::directory_iterator(Runfile("examples/models/ferry-tiny-llama"))) {
    std::filesystem::copy_file(file.path(), dir / file.path().filename(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::ofstream(dir / "chat_template.jinja")
      << "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
         "{% if add_generation_prompt %}assistant:{% endif %}";
  Serve(dir.string());
  const Json messages = {{{"role", "system"}, {"content", "Be brief."}},
                         {{"role", "user"},
                          {"content",
                           {{{"type", "text"}, {"text", "ferry lets "}},
                            {{"type", "text"}, {"text", "a C++ program"}}}}}};
  HttpReply reply = Post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 12}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json body = Json::parse(reply.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  const std::vector<int32_t> prompt =
      tokenizer_->encode("system: Be brief.\nuser: ferry lets a C++ program\nassistant:", false);
  EXPECT_EQ(body["usage"]["prompt_tokens"], prompt.size());
  EXPECT_EQ(body["choices"][0]["message"]["content"], Generate(prompt, 12));

  HttpReply streamed =
      Post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 12}, {"stream", true}});
  std::string text;
  for (const std::string& event : EventData(streamed.body)) {
    if (event == "[DONE]") continue;
    const Json chunk = Json::parse(event);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    const Json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(text, Generate(prompt, 12));
}

// ferry-tiny-llama cannot call tools, so its tokenizer gets a Qwen-style template, and its
// unused byte tokens (\x01..\x08, never in a prompt) are respelled as the pieces of a reply
// that thinks and calls one; logit_bias puts them in order (a presence penalty takes each
// out once written). The model, sampler, detokenizer and the service's reply path are the
// real ones; only the reply is forced. The call's end marker comes in two tokens, as a
// marker cut across tokens does. mlx_lm.server on the same directory and requests sends
// the same fields (checked by hand; see the README).
constexpr int32_t kToolTokens = 191;
// The vocabulary's byte-level spelling ("\xC4\xA0" is the space's, GPT-2's Ġ).
const std::vector<std::string> kToolReply = {
    "<think>",
    "</think>",
    "Checking\xC4\xA0the\xC4\xA0weather.",
    "<tool_call>",
    "{\"name\":\xC4\xA0\"get_weather\",\xC4\xA0",
    "\"arguments\":\xC4\xA0{\"city\":\xC4\xA0\"Paris\"}}",
    "</tool",
    "_call>",
};
constexpr int kToolReplyOrder[] = {0, 2, 1, 3, 4, 5, 6, 7};  // <think>, reasoning, </think>...

std::string ToolModel() {
  const std::filesystem::path dir =
      std::filesystem::path(std::getenv("TEST_TMPDIR")) / "tiny-llama-tools";
  std::filesystem::create_directories(dir);
  for (const auto& file :
       std::filesystem::directory_iterator(Runfile("examples/models/ferry-tiny-llama"))) {
    std::filesystem::copy_file(file.path(), dir / file.path().filename(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  Json tokenizer = Json::parse(std::ifstream(dir / "tokenizer.json"));
  Json& vocab = tokenizer["model"]["vocab"];
  for (size_t i = 0; i < kToolReply.size(); ++i) {
    const int32_t id = kToolTokens + static_cast<int32_t>(i);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (it.value() == id) {
        vocab.erase(it);
        break;
      }
    }
    vocab[kToolReply[i]] = id;
  }
  std::ofstream(dir / "tokenizer.json", std::ios::trunc) << tokenizer.dump();
  // Qwen2.5's way of writing tools and calls, which mlx-lm reads as json_tools'.
  std::ofstream(dir / "chat_template.jinja", std::ios::trunc)
      << "{%- if tools %}system: tools:{% for tool in tools %} {{ tool.function.name }}"
         "{% endfor %}\n{% endif %}"
         "{%- for m in messages %}"
         "{%- if m.role == 'assistant' and m.tool_calls %}assistant:"
         "{%- for tool_call in m.tool_calls %}{%- set tool_call = tool_call.function %}"
         "<tool_call>{\"name\": \"{{ tool_call.name }}\", \"arguments\": "
         "{{ tool_call.arguments | tojson }}}</tool_call>{%- endfor %}"
         "{% else %}{{ m.role }}: {{ m.content }}\n{% endif %}"
         "{%- endfor %}"
         "{%- if add_generation_prompt %}assistant:{% endif %}";
  return dir.string();
}

Json ToolRequest(int max_tokens, bool stream) {
  Json bias = Json::object();
  for (int i = 0; i < 8; ++i) {
    bias[std::to_string(kToolTokens + kToolReplyOrder[i])] = 9000 - 1000 * i;
  }
  bias["1"] = 500;  // then <|end_of_text|>
  const Json tools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  return {{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
          {"tools", tools},
          {"max_tokens", max_tokens},
          {"logit_bias", bias},
          {"presence_penalty", 100000},
          {"stream", stream}};
}

TEST_F(OpenAiApiTest, ToolCallsAndReasoningComeBackAsOpenAiFields) {
  Serve(ToolModel());
  HttpReply reply = Post("/v1/chat/completions", ToolRequest(20, false));
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json body = Json::parse(reply.body);
  EXPECT_EQ(body["usage"]["completion_tokens"], 9);  // the 8 pieces and the end
  const Json& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null()) << choice;
  EXPECT_EQ(choice["message"]["reasoning"], "Checking the weather.");
  const Json tool_calls = choice["message"].value("tool_calls", Json::array());
  ASSERT_EQ(tool_calls.size(), 1u) << choice;
  const Json& call = tool_calls[0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], "{\"city\": \"Paris\"}");
  EXPECT_FALSE(call["id"].get<std::string>().empty());
  EXPECT_FALSE(call.contains("index"));

  // Streamed: the reasoning as it comes, then the call whole once its end marker is in,
  // with its index; no piece of a marker anywhere.
  HttpReply streamed = Post("/v1/chat/completions", ToolRequest(20, true));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.body.find("<tool"), std::string::npos) << streamed.body;
  EXPECT_EQ(streamed.body.find("think>"), std::string::npos) << streamed.body;
  std::string reasoning, finish;
  Json calls = Json::array();
  for (const std::string& event : EventData(streamed.body)) {
    if (event == "[DONE]") continue;
    const Json chunk = Json::parse(event)["choices"][0];
    EXPECT_FALSE(chunk["delta"].contains("content")) << event;
    if (chunk["delta"].contains("reasoning")) reasoning += chunk["delta"]["reasoning"];
    for (const Json& c : chunk["delta"].value("tool_calls", Json::array())) calls.push_back(c);
    if (!chunk["finish_reason"].is_null()) finish = chunk["finish_reason"];
  }
  EXPECT_EQ(reasoning, "Checking the weather.");
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["index"], 0);
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(calls[0]["function"]["arguments"], "{\"city\": \"Paris\"}");

  // Cut short inside the call: no call, no error, the reasoning kept (mlx_lm.server's).
  HttpReply cut = Post("/v1/chat/completions", ToolRequest(5, false));
  ASSERT_EQ(cut.status, 200) << cut.body;
  const Json cut_choice = Json::parse(cut.body)["choices"][0];
  EXPECT_EQ(cut_choice["finish_reason"], "length");
  EXPECT_TRUE(cut_choice["message"]["content"].is_null()) << cut_choice;
  EXPECT_FALSE(cut_choice["message"].contains("tool_calls"));
  EXPECT_EQ(cut_choice["message"]["reasoning"], "Checking the weather.");
}

// The next turn sends the call back (arguments as a JSON string) and the tool's answer: the
// template gets the arguments as an object, as mlx_lm.server passes them.
TEST_F(OpenAiApiTest, ToolCallsAndResultsGoBackThroughTheTemplate) {
  Serve(ToolModel());
  const Json messages = Json::parse(R"([
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}])");
  HttpReply reply = Post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 2}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const std::vector<int32_t> prompt = tokenizer_->encode(
      "user: Weather in Paris?\nassistant:<tool_call>{\"name\": \"get_weather\", \"arguments\": "
      "{\"city\": \"Paris\"}}</tool_call>tool: sunny\nassistant:",
      false);
  EXPECT_EQ(Json::parse(reply.body)["usage"]["prompt_tokens"], prompt.size());

  Json bad = messages;
  bad[1]["tool_calls"][0]["function"]["arguments"] = "{not json";
  reply = Post("/v1/chat/completions", {{"messages", bad}, {"max_tokens", 2}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(reply.body.find("messages[1].tool_calls[0].function.arguments"), std::string::npos)
      << reply.body;
}

TEST_F(OpenAiApiTest, BadRequestsAreRefusedByName) {
  auto error = [&](const HttpReply& reply) {
    return Json::parse(reply.body)["error"]["message"].get<std::string>();
  };
  HttpReply reply = HttpConnection(server_->port()).Request("POST", "/v1/completions", "{oops");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(error(reply).find("Invalid JSON"), std::string::npos) << reply.body;
  reply = Post("/v1/completions", {{"max_tokens", 3}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(error(reply).find("prompt is required"), std::string::npos);
  reply = Post("/v1/completions", {{"prompt", "x"}, {"temperature", -1}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(error(reply).find("temperature must be at least 0"), std::string::npos);
  reply = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", "ten"}});
  EXPECT_NE(error(reply).find("max_tokens must be an integer"), std::string::npos);
  reply = Post("/v1/completions", {{"prompt", {1, 2, 99999}}});
  EXPECT_NE(error(reply).find("99999 is outside the vocabulary"), std::string::npos);
  reply = Post("/v1/completions", {{"prompt", "x"}, {"logit_bias", {{"abc", 1}}}});
  EXPECT_NE(error(reply).find("logit_bias"), std::string::npos);
  reply = Post("/v1/chat/completions", {{"messages", {{{"content", "no role"}}}}});
  EXPECT_NE(error(reply).find("messages[0]"), std::string::npos);
  EXPECT_EQ(Post("/v2/nothing", Json::object()).status, 404);
  EXPECT_EQ(HttpConnection(server_->port()).Request("GET", "/v1/completions").status, 405);
  // The server still answers.
  EXPECT_EQ(Post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 2}}).status, 200);
}

TEST_F(OpenAiApiTest, ModelsAndHealthAnswerGets) {
  HttpConnection connection(server_->port());
  const Json models = Json::parse(connection.Request("GET", "/v1/models").body);
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "ferry-tiny-llama");
  EXPECT_EQ(Json::parse(connection.Request("GET", "/health").body)["status"], "ok");
}

// Clients at once are decoded in one batch (continuous batching), joining a generation
// already running; each gets the reply it gets alone, greedy or seeded.
TEST_F(OpenAiApiTest, ConcurrentRequestsShareTheBatchAndEachGetTheirReply) {
  HttpConnection running(server_->port());
  const std::string long_body =
      Json{{"prompt", "The client records"}, {"max_tokens", 400}, {"stream", true}}.dump();
  ASSERT_TRUE(running.Send(absl::StrCat("POST /v1/completions HTTP/1.1\r\nContent-Length: ",
                                        long_body.size(), "\r\n\r\n", long_body)));
  ASSERT_TRUE(running.ReadUntil("data: "));  // decoding when the others arrive
  const std::vector<Json> requests = {
      {{"prompt", kPrompt}, {"max_tokens", 20}},
      {{"prompt", "ferry lets you"}, {"max_tokens", 7}},
      {{"prompt", "many daemons can also form groups whose"}, {"max_tokens", 25}},
      {{"prompt", kPrompt}, {"max_tokens", 20}, {"temperature", 1.5}, {"seed", 7}},
      {{"prompt", "ferry"}, {"max_tokens", 12}, {"temperature", 0.8}, {"top_p", 0.9}, {"seed", 3}},
  };
  const std::vector<std::string> texts = CompleteAtOnce(requests);
  EXPECT_GE(service_->largest_batch(), 3);
  // Alone: one request at a time on a fresh service.
  Serve(Runfile("examples/models/ferry-tiny-llama"));
  for (size_t i = 0; i < requests.size(); ++i) {
    const HttpReply alone = Post("/v1/completions", requests[i]);
    ASSERT_EQ(alone.status, 200) << alone.body;
    EXPECT_EQ(texts[i], Json::parse(alone.body)["choices"][0]["text"]) << requests[i].dump();
    if (!requests[i].contains("seed")) {
      EXPECT_EQ(texts[i],
                Generate(tokenizer_->encode(requests[i]["prompt"]), requests[i]["max_tokens"]));
    }
  }
  EXPECT_EQ(service_->largest_batch(), 1);
}

// Conversations taking turns each find their own cache (mlx_lm.server's LRU prompt cache).
TEST_F(OpenAiApiTest, ConversationsTakingTurnsEachKeepTheirCache) {
  std::vector<std::vector<int32_t>> prompts = {tokenizer_->encode(kPrompt),
                                               tokenizer_->encode("The client records")};
  std::vector<int64_t> lengths(2);
  for (int turn = 0; turn < 2; ++turn) {
    for (size_t c = 0; c < 2; ++c) {
      HttpReply reply = Post("/v1/completions", {{"prompt", prompts[c]}, {"max_tokens", 6}});
      ASSERT_EQ(reply.status, 200) << reply.body;
      const Json body = Json::parse(reply.body);
      // The previous turn's prompt and reply but its last token; on the first turn the
      // second conversation shares only the BOS with the first (a copy of it: the first's
      // cache stays whole).
      EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"],
                turn == 1 ? lengths[c] + 6 - 1 : static_cast<int64_t>(c))
          << "conversation " << c << ", turn " << turn;
      EXPECT_EQ(body["choices"][0]["text"], Generate(prompts[c], 6));
      lengths[c] = static_cast<int64_t>(prompts[c].size());
      const std::vector<int32_t> reply_tokens =
          tokenizer_->encode(body["choices"][0]["text"], false);
      prompts[c].insert(prompts[c].end(), reply_tokens.begin(), reply_tokens.end());
      const std::vector<int32_t> more = tokenizer_->encode(" and then", false);
      prompts[c].insert(prompts[c].end(), more.begin(), more.end());
    }
  }
}

// A model of `config` (its vocabulary the tiny model's 384) beside the tiny model's
// tokenizer, in a directory `name` of its own, with random weights drawn as the fixtures'
// scripts draw them: norms near 1, the rest of a scale that makes the model's tokens vary.
std::string RandomModel(const std::string& name, const std::string& config) {
  const std::filesystem::path dir = std::filesystem::path(std::getenv("TEST_TMPDIR")) / name;
  std::filesystem::create_directories(dir);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    std::filesystem::copy_file(Runfile("examples/models/ferry-tiny-llama") + "/" + file, dir / file,
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::ofstream(dir / "config.json", std::ios::trunc) << config;
  const std::unique_ptr<Model> model = make_model(ModelArgs::from_json(config));
  std::unordered_map<std::string, Array> weights;
  uint64_t seed = 11;
  for (const auto& [weight_name, weight] : model->parameters()) {
    const bool norm = weight_name.find("norm") != std::string::npos;
    weights.emplace(weight_name, random::normal(weight.shape(), float32, norm ? 1.0 : 0.0,
                                                norm ? 0.2 : 0.3, random::key(seed++)));
  }
  save_safetensors((dir / "model.safetensors").string(), std::move(weights));
  return dir.string();
}

// 32-feature heads: what a quantized cache's groups need.
std::string WideHeadModel() {
  return RandomModel("tiny-llama-heads-32", R"({
    "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "intermediate_size": 128, "num_attention_heads": 2, "num_key_value_heads": 1,
    "rms_norm_eps": 1e-5, "vocab_size": 384, "tie_word_embeddings": true,
    "bos_token_id": 0, "eos_token_id": 1})");
}

// A model whose linear-attention layers keep arrays caches (Qwen3-Next's gated delta nets)
// is batched, as mlx_lm.server batches it, with the steps in flight configured: clients at
// once, joining a generation already running, each get generate's reply, and the next turn
// continues the returned cache. (A model that does not batch, with kv_bits, is served one at
// a time: see below.)
TEST_F(OpenAiApiTest, AModelWithArraysCachesIsBatched) {
  Serve(RandomModel("tiny-qwen3-next", R"({
    "model_type": "qwen3_next", "hidden_size": 32, "num_hidden_layers": 4,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 16,
    "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_value_head_dim": 8,
    "full_attention_interval": 2, "num_experts": 4, "num_experts_per_tok": 2,
    "moe_intermediate_size": 16, "shared_expert_intermediate_size": 24,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "partial_rotary_factor": 0.25,
    "rms_norm_eps": 1e-6, "rope_theta": 10000, "max_position_embeddings": 4096,
    "vocab_size": 384, "tie_word_embeddings": false, "bos_token_id": 0,
    "eos_token_id": 1})"));
  EXPECT_TRUE(batchable(*model_));
  HttpConnection running(server_->port());
  const std::string long_body =
      Json{{"prompt", "The client records"}, {"max_tokens", 200}, {"stream", true}}.dump();
  ASSERT_TRUE(running.Send(absl::StrCat("POST /v1/completions HTTP/1.1\r\nContent-Length: ",
                                        long_body.size(), "\r\n\r\n", long_body)));
  ASSERT_TRUE(running.ReadUntil("data: "));  // decoding when the others arrive
  const std::vector<std::string> prompts = {kPrompt, "ferry lets you"};
  EXPECT_EQ(CompleteAtOnce({{{"prompt", prompts[0]}, {"max_tokens", 12}},
                            {{"prompt", prompts[1]}, {"max_tokens", 12}}}),
            (std::vector<std::string>{Generate(tokenizer_->encode(prompts[0]), 12),
                                      Generate(tokenizer_->encode(prompts[1]), 12)}));
  EXPECT_GE(service_->largest_batch(), 2);
  EXPECT_EQ(service_->most_in_flight(), ServiceOptions().steps_in_flight);
  // The next turn (in token ids: a random model's text need not encode back to its tokens)
  // continues the first's cache.
  std::vector<int32_t> prompt = tokenizer_->encode(kPrompt);
  const HttpReply first = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 10}});
  ASSERT_EQ(first.status, 200) << first.body;
  TokenGenerator generator(*model_, prompt, GenerateOptions{});
  for (int i = 0; i < 10; ++i) prompt.push_back(generator.next()->token);
  prompt.push_back(7);
  const HttpReply second = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 3}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Json::parse(second.body)["usage"]["prompt_tokens_details"]["cached_tokens"],
            12 + 10 - 1);

  // A reply ending on an end token (here the fifth greedy token made the model's end) keeps
  // its cache, holding the prompt and the reply but its end token as every model's does, the
  // steps sent past it undone: a next turn repeating the reply (as a chat template does)
  // prefills only the rest, with one step in flight or four.
  std::vector<int32_t> reply;
  TokenGenerator alone(*model_, tokenizer_->encode(kPrompt), GenerateOptions{});
  for (int i = 0; i < 5; ++i) reply.push_back(alone.next()->token);
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/tiny-qwen3-next";
  Json config = Json::parse(std::ifstream(dir + "/config.json"));
  config["eos_token_id"] = reply.back();
  std::ofstream(dir + "/config.json", std::ios::trunc) << config.dump();
  for (int steps_in_flight : {1, 4}) {
    ServiceOptions options;
    options.steps_in_flight = steps_in_flight;
    Serve(dir, options);
    prompt = tokenizer_->encode(kPrompt);
    const HttpReply ended = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 20}});
    ASSERT_EQ(ended.status, 200) << ended.body;
    ASSERT_EQ(Json::parse(ended.body)["choices"][0]["finish_reason"], "stop");
    ASSERT_EQ(Json::parse(ended.body)["usage"]["completion_tokens"], 5);
    EXPECT_EQ(service_->most_in_flight(), steps_in_flight);
    prompt.insert(prompt.end(), reply.begin(), reply.end());
    prompt.push_back(7);
    const HttpReply after = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 3}});
    ASSERT_EQ(after.status, 200) << after.body;
    EXPECT_EQ(Json::parse(after.body)["usage"]["prompt_tokens_details"]["cached_tokens"],
              12 + 5 - 1)
        << steps_in_flight << " steps in flight";
    EXPECT_EQ(Json::parse(after.body)["choices"][0]["text"], Generate(prompt, 3))
        << steps_in_flight << " steps in flight";
  }
}

// With kv_bits (mlx_lm.server's --kv-bits) requests are served one at a time, as
// mlx_lm.server serves them, each cache quantized once it holds quantized_kv_start
// positions: replies are generate's with the same settings (not the plain cache's), clients
// at once are served in turn. A model whose attention cannot read a quantized cache is
// refused when the service starts.
TEST_F(OpenAiApiTest, WithKvBitsRepliesComeFromQuantizedCachesOneAtATime) {
  ServiceOptions options;
  options.kv_bits = 4;
  options.kv_group_size = 32;
  options.quantized_kv_start = 8;
  // A prompt cache would hand the second prompt the first's beginning (its BOS at least)
  // already quantized, where generate keeps it plain up to quantized_kv_start.
  options.prompt_cache = false;
  Serve(WideHeadModel(), options);
  GenerateOptions quantized;
  quantized.max_tokens = 20;
  quantized.kv_bits = 4;
  quantized.kv_group_size = 32;
  quantized.quantized_kv_start = 8;
  const std::vector<std::string> prompts = {kPrompt, "ferry lets you"};
  std::vector<std::string> expected;
  for (const std::string& prompt : prompts) {
    expected.push_back(generate(*model_, *tokenizer_, prompt, quantized));
  }
  EXPECT_NE(expected[0], Generate(tokenizer_->encode(kPrompt), 20));  // the cache matters
  EXPECT_EQ(CompleteAtOnce({{{"prompt", prompts[0]}, {"max_tokens", 20}},
                            {{"prompt", prompts[1]}, {"max_tokens", 20}}}),
            expected);
  EXPECT_EQ(service_->largest_batch(), 0);  // none went through the batch
  // With the prompt cache, the next turn continues the quantized cache.
  options.prompt_cache = true;
  Serve(WideHeadModel(), options);
  std::vector<int32_t> prompt = tokenizer_->encode(kPrompt);
  const HttpReply first = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 10}});
  ASSERT_EQ(first.status, 200) << first.body;
  const std::vector<int32_t> reply =
      tokenizer_->encode(Json::parse(first.body)["choices"][0]["text"], false);
  prompt.insert(prompt.end(), reply.begin(), reply.end());
  const HttpReply second = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 5}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_GE(Json::parse(second.body)["usage"]["prompt_tokens_details"]["cached_tokens"], 12);

  const std::unique_ptr<Model> gemma2 = load_model(Runfile("client/lm/testdata/gemma2"));
  try {
    OpenAiService refused(*gemma2, *tokenizer_, options);
    ADD_FAILURE() << "gemma2 with kv_bits was served";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("kv_bits with gemma2"), std::string::npos)
        << error.what();
  }
}

// Llama 4's chunked layers' caches have no batch moves (mlx-lm's ChunkedKVCache has no
// merge): its requests are served one at a time, as mlx_lm.server serves them, each reply
// generate's through chunks of 4, and a next turn's too, whether or not it reuses the cache.
TEST_F(OpenAiApiTest, Llama4IsServedOneAtATime) {
  Serve(RandomModel("tiny-llama4", R"({
    "model_type": "llama4", "bos_token_id": 0, "eos_token_id": 1, "text_config": {
    "hidden_size": 32, "num_hidden_layers": 4, "intermediate_size": 16,
    "intermediate_size_mlp": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "rms_norm_eps": 1e-5, "rope_theta": 500000, "vocab_size": 384,
    "use_qk_norm": true, "num_local_experts": 4, "num_experts_per_tok": 1,
    "interleave_moe_layer_step": 2, "attention_chunk_size": 4, "attention_bias": false,
    "max_position_embeddings": 4096, "rope_scaling": null, "floor_scale": 4}})"));
  EXPECT_FALSE(batchable(*model_));
  const std::vector<std::string> prompts = {kPrompt, "ferry lets you"};
  EXPECT_EQ(CompleteAtOnce({{{"prompt", prompts[0]}, {"max_tokens", 12}},
                            {{"prompt", prompts[1]}, {"max_tokens", 12}}}),
            (std::vector<std::string>{Generate(tokenizer_->encode(prompts[0]), 12),
                                      Generate(tokenizer_->encode(prompts[1]), 12)}));
  EXPECT_EQ(service_->largest_batch(), 0);  // none went through the batch
  std::vector<int32_t> prompt = tokenizer_->encode(kPrompt);
  const HttpReply first = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 10}});
  ASSERT_EQ(first.status, 200) << first.body;
  TokenGenerator generator(*model_, prompt, GenerateOptions{});
  for (int i = 0; i < 10; ++i) prompt.push_back(generator.next()->token);
  prompt.push_back(7);
  const HttpReply second = Post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 6}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Json::parse(second.body)["choices"][0]["text"], Generate(prompt, 6));
}

// The service's chat_template_args (mlx_lm.server's --chat-template-args) reach every chat
// prompt's template; a request's chat_template_kwargs override them.
TEST_F(OpenAiApiTest, ChatTemplateArgsReachTheTemplateUnlessARequestOverridesThem) {
  const std::filesystem::path dir =
      std::filesystem::path(std::getenv("TEST_TMPDIR")) / "tiny-llama-greeting";
  std::filesystem::create_directories(dir);
  for (const auto& file :
       std::filesystem::directory_iterator(Runfile("examples/models/ferry-tiny-llama"))) {
    std::filesystem::copy_file(file.path(), dir / file.path().filename(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::ofstream(dir / "chat_template.jinja", std::ios::trunc)
      << "{{ greeting | default('none') }}:{% for m in messages %} {{ m.content }}{% endfor %}";
  ServiceOptions options;
  options.chat_template_args = {{"greeting", "hello there"}};
  Serve(dir.string(), options);
  const Json messages = {{{"role", "user"}, {"content", "a C++ program"}}};
  auto prompt_tokens = [&](const Json& body) {
    const HttpReply reply = Post("/v1/chat/completions", body);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return Json::parse(reply.body)["usage"]["prompt_tokens"].get<size_t>();
  };
  EXPECT_EQ(prompt_tokens({{"messages", messages}, {"max_tokens", 1}}),
            tokenizer_->encode("hello there: a C++ program", false).size());
  EXPECT_EQ(prompt_tokens({{"messages", messages},
                           {"max_tokens", 1},
                           {"chat_template_kwargs", {{"greeting", "ferry lets you write"}}}}),
            tokenizer_->encode("ferry lets you write: a C++ program", false).size());
}

// With a draft model (speculative decoding, requests one at a time as mlx_lm.server's),
// each reply is the model's own greedy reply from any number of draft tokens; the next turn
// reuses both models' caches; clients at once are served in turn.
TEST_F(OpenAiApiTest, WithADraftModelRepliesAreTheModelsOwn) {
  draft_ = load_model(Runfile("examples/models/ferry-tiny-llama"));
  ServiceOptions options;
  options.draft_model = draft_.get();
  Serve(Runfile("examples/models/ferry-tiny-llama"), options);
  const std::vector<int32_t> prompt = tokenizer_->encode(kPrompt);
  for (int draft_tokens : {1, 3, 5}) {
    const HttpReply reply =
        Post("/v1/completions",
             {{"prompt", kPrompt}, {"max_tokens", 25}, {"num_draft_tokens", draft_tokens}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(Json::parse(reply.body)["choices"][0]["text"], Generate(prompt, 25))
        << draft_tokens << " draft tokens";
  }
  // The next turn: the first turn's prompt and reply (but its last token) come from the
  // caches, and the reply is still the model's (a fresh server: the replies above hold
  // more of this conversation).
  Serve(Runfile("examples/models/ferry-tiny-llama"), options);
  ExpectTheNextTurnReusesTheCache();
  Serve(Runfile("examples/models/ferry-tiny-llama"), options);
  ExpectAStopStringKeepsTheCache();
  // Two clients at once.
  const std::vector<std::string> prompts = {kPrompt, "ferry lets you"};
  const std::vector<std::string> texts = CompleteAtOnce(
      {{{"prompt", prompts[0]}, {"max_tokens", 20}}, {{"prompt", prompts[1]}, {"max_tokens", 20}}});
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(texts[i], Generate(tokenizer_->encode(prompts[i]), 20)) << prompts[i];
  }
  EXPECT_EQ(service_->largest_batch(), 0);  // none went through the batch
  const HttpReply refused = Post("/v1/completions", {{"prompt", kPrompt}, {"num_draft_tokens", 0}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("num_draft_tokens must be at least 1"), std::string::npos)
      << refused.body;
}

// A reader that leaves mid-stream stops its generation; the next request is served.
TEST_F(OpenAiApiTest, AClientLeavingMidStreamStopsItsGeneration) {
  {
    HttpConnection leaving(server_->port());
    const std::string body =
        Json{{"prompt", "ferry"}, {"max_tokens", 100000}, {"stream", true}}.dump();
    ASSERT_TRUE(leaving.Send(absl::StrCat(
        "POST /v1/completions HTTP/1.1\r\nContent-Length: ", body.size(), "\r\n\r\n", body)));
    ASSERT_TRUE(leaving.ReadUntil("data: "));
  }
  HttpReply reply = Post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 5}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(Json::parse(reply.body)["choices"][0]["text"],
            Generate(tokenizer_->encode(kPrompt), 5));
}

}  // namespace
}  // namespace ferry::lm::server
