#include "client/lm/server/openai_api.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/lm/sample.h"
#include "client/lm/server/chat_reply.h"
#include "client/lm/server/stop_strings.h"
#include "client/ops.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::server {
namespace {

using Json = nlohmann::ordered_json;

// A request the API refuses: 400 with the message.
struct BadRequest : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RandomId(const char* prefix) {
  static thread_local std::mt19937_64 bits{std::random_device{}()};
  return absl::StrCat(prefix, absl::Hex(bits(), absl::kZeroPad16), absl::Hex(bits() >> 32));
}

// body[name] as a number in [low, high], or `fallback` when absent or null.
double Number(const Json& body, const char* name, double fallback, double low, double high) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw BadRequest(absl::StrCat(name, " must be a number"));
  const double value = it->get<double>();
  if (value < low) throw BadRequest(absl::StrCat(name, " must be at least ", low));
  if (value > high) throw BadRequest(absl::StrCat(name, " must be at most ", high));
  return value;
}

int64_t Integer(const Json& body, const char* name, int64_t fallback, int64_t low, int64_t high) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) throw BadRequest(absl::StrCat(name, " must be an integer"));
  const int64_t value = it->get<int64_t>();
  if (value < low) throw BadRequest(absl::StrCat(name, " must be at least ", low));
  if (value > high) throw BadRequest(absl::StrCat(name, " must be at most ", high));
  return value;
}

bool Boolean(const Json& body, const char* name, bool fallback) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw BadRequest(absl::StrCat(name, " must be true or false"));
  return it->get<bool>();
}

// A chat message's content as the template takes it: a string (a list of text parts is
// joined, as mlx_lm.server does).
Json MessageContent(const Json& content, size_t index) {
  if (content.is_string() || content.is_null()) return content;
  if (!content.is_array()) {
    throw BadRequest(absl::StrCat("messages[", index, "].content must be a string or a list"));
  }
  std::string text;
  for (const Json& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      throw BadRequest(absl::StrCat("messages[", index,
                                    "].content: only {\"type\": \"text\", \"text\": ...} parts "
                                    "are supported"));
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

// An assistant message's tool calls as templates take them: each function's arguments (a
// JSON string in OpenAI's API) as the object it holds, as mlx_lm.server passes them.
void ParseToolCallArguments(Json& message, size_t index) {
  auto calls = message.find("tool_calls");
  if (calls == message.end() || !calls->is_array()) return;
  for (size_t j = 0; j < calls->size(); ++j) {
    Json& call = (*calls)[j];
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
    Json& function = call["function"];
    auto arguments = function.find("arguments");
    if (arguments == function.end() || !arguments->is_string() ||
        arguments->get_ref<const std::string&>().empty()) {
      continue;
    }
    Json parsed = Json::parse(arguments->get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      throw BadRequest(absl::StrCat("messages[", index, "].tool_calls[", j,
                                    "].function.arguments must be a string of JSON"));
    }
    *arguments = std::move(parsed);
  }
}

}  // namespace

struct OpenAiService::Completion {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;
  std::string model;
  std::vector<int32_t> prompt;
  int max_tokens = 0;
  std::vector<std::string> stop;
  float temperature = 0, top_p = 1, min_p = 0;
  int top_k = 0;
  std::optional<uint64_t> seed;
  std::map<int32_t, float> logit_bias;
  std::optional<float> repetition_penalty, presence_penalty, frequency_penalty;
  int repetition_context_size = 20, presence_context_size = 20, frequency_context_size = 20;
  bool logprobs = false;
  int top_logprobs = 0;
  int num_draft_tokens = 0;
  Json tools;  // the request's, for the tool parser
};

OpenAiService::OpenAiService(Model& model, Tokenizer tokenizer, ServiceOptions options)
    : model_(model),
      tokenizer_(std::move(tokenizer)),
      options_(std::move(options)),
      reply_format_(InferReplyFormat(tokenizer_, options_.tool_parser_type)),
      created_(Now()),
      prompts_(model, options_.prompt_cache_size, options_.prompt_cache_bytes),
      one_at_a_time_(options_.draft_model || options_.kv_bits || !batchable(model)) {
  if (!one_at_a_time_) {
    BatchGeneratorOptions batch;
    batch.completion_batch_size = options_.decode_concurrency;
    batch.steps_in_flight = options_.steps_in_flight;
    batch.prefill_step_size = options_.prefill_step_size;
    scheduler_ = std::make_unique<BatchScheduler>(model, batch);
  }
  GenerateOptions& one = one_at_a_time_options_;
  one.draft_model = options_.draft_model;
  one.num_draft_tokens = options_.num_draft_tokens;
  one.prefill_step_size = options_.prefill_step_size;
  one.steps_in_flight = options_.steps_in_flight;
  one.kv_bits = options_.kv_bits;
  one.kv_group_size = options_.kv_group_size;
  one.quantized_kv_start = options_.quantized_kv_start;
  // Refused now, not at each request.
  CheckKvBits("ferry_lm_server", model, one, make_prompt_cache(model));
  if (options_.draft_model) {
    CheckKvBits("ferry_lm_server", *options_.draft_model, one, options_.draft_model->make_cache());
  }
  if (options_.draft_model) {
    draft_prompts_.emplace(*options_.draft_model, options_.prompt_cache_size,
                           options_.prompt_cache_bytes);
  }
  if (!reply_format_.tool_parser_type.empty() && !reply_format_.has_tool_calling()) {
    std::fprintf(stderr,
                 "ferry_lm_server: the model writes tool calls in mlx-lm's %s format, which is "
                 "not parsed here; they stay in the replies' content\n",
                 reply_format_.tool_parser_type.c_str());
  }
}

void OpenAiService::Handle(const HttpRequest& request, HttpResponder& responder) {
  const bool chat = request.path == "/v1/chat/completions" || request.path == "/chat/completions";
  const bool completions = request.path == "/v1/completions";
  if (request.method == "OPTIONS") {
    responder.Send(204, "", "");
    return;
  }
  if (request.path == "/health" || request.path == "/v1/models") {
    if (request.method != "GET") {
      responder.Send(405, "application/json", ErrorBody(request.path + " takes GET"));
      return;
    }
    const Json body = request.path == "/health" ? Json{{"status", "ok"}}
                                                : Json{{"object", "list"},
                                                       {"data",
                                                        {{{"id", options_.model_id},
                                                          {"object", "model"},
                                                          {"created", created_},
                                                          {"owned_by", "ferry"}}}}};
    responder.Send(200, "application/json", body.dump());
    return;
  }
  if (!chat && !completions) {
    responder.Send(404, "application/json",
                   ErrorBody(absl::StrCat("no such endpoint: ", request.path,
                                          " (/v1/completions, /v1/chat/completions, "
                                          "/v1/models, /health)")));
    return;
  }
  if (request.method != "POST") {
    responder.Send(405, "application/json", ErrorBody(request.path + " takes POST"));
    return;
  }
  Completion completion;
  try {
    completion = Parse(request, chat);
  } catch (const BadRequest& error) {
    responder.Send(400, "application/json", ErrorBody(error.what()));
    return;
  } catch (const Error& error) {  // the chat template's, the tokenizer's
    responder.Send(400, "application/json", ErrorBody(error.what()));
    return;
  }
  Complete(completion, responder);
}

OpenAiService::Completion OpenAiService::Parse(const HttpRequest& request, bool chat) const {
  Json body;
  try {
    body = Json::parse(request.body);
  } catch (const Json::exception& error) {
    throw BadRequest(absl::StrCat("Invalid JSON in request body: ", error.what()));
  }
  if (!body.is_object()) throw BadRequest("Request should be a JSON dictionary");
  Completion c;
  c.chat = chat;
  c.stream = Boolean(body, "stream", false);
  if (auto it = body.find("stream_options"); it != body.end() && it->is_object()) {
    c.include_usage = Boolean(*it, "include_usage", false);
  }
  c.model = body.value("model", options_.model_id);
  const int64_t max_tokens = Integer(body, "max_tokens", options_.max_tokens, 1, 1 << 24);
  c.max_tokens = static_cast<int>(Integer(body, "max_completion_tokens", max_tokens, 1, 1 << 24));
  c.temperature = static_cast<float>(Number(body, "temperature", options_.temperature, 0, 1e6));
  c.top_p = static_cast<float>(Number(body, "top_p", options_.top_p, 0, 1));
  c.top_k = static_cast<int>(Integer(body, "top_k", options_.top_k, 0, 1 << 24));
  c.min_p = static_cast<float>(Number(body, "min_p", options_.min_p, 0, 1));
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) throw BadRequest("seed must be an integer");
    c.seed = static_cast<uint64_t>(it->get<int64_t>());
  }
  if (auto it = body.find("n"); it != body.end() && !it->is_null() && *it != 1) {
    throw BadRequest("n must be 1: one choice per request");
  }
  auto penalty = [&](const char* name, const char* size_name, std::optional<float>& value,
                     int& size) {
    const double given = Number(body, name, 0, -1e6, 1e6);
    if (given != 0) value = static_cast<float>(given);
    size = static_cast<int>(Integer(body, size_name, 20, 0, 1 << 20));
  };
  penalty("repetition_penalty", "repetition_context_size", c.repetition_penalty,
          c.repetition_context_size);
  if (c.repetition_penalty && *c.repetition_penalty < 0) {
    throw BadRequest("repetition_penalty must be at least 0");
  }
  penalty("presence_penalty", "presence_context_size", c.presence_penalty, c.presence_context_size);
  penalty("frequency_penalty", "frequency_context_size", c.frequency_penalty,
          c.frequency_context_size);
  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw BadRequest("logit_bias must be a dict of int to float");
    for (const auto& [key, value] : it->items()) {
      int32_t id = 0;
      if (!absl::SimpleAtoi(key, &id) || !value.is_number() || id < 0 ||
          id >= tokenizer_.vocab_size()) {
        throw BadRequest(absl::StrCat("logit_bias must be a dict of token id (0 to ",
                                      tokenizer_.vocab_size() - 1, ") to float; got \"", key,
                                      "\""));
      }
      c.logit_bias[id] = value.get<float>();
    }
  }
  c.logprobs = Boolean(body, "logprobs", false);
  c.top_logprobs = static_cast<int>(Integer(body, "top_logprobs", 0, 0, 20));
  c.num_draft_tokens =
      static_cast<int>(Integer(body, "num_draft_tokens", options_.num_draft_tokens, 1, 64));
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      c.stop.push_back(it->get<std::string>());
    } else if (it->is_array() &&
               std::all_of(it->begin(), it->end(), [](const Json& s) { return s.is_string(); })) {
      for (const Json& s : *it) c.stop.push_back(s.get<std::string>());
    } else {
      throw BadRequest("stop must be a string or a list of strings");
    }
  }

  if (chat) {
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array() || messages->empty()) {
      throw BadRequest("messages must be a non-empty list of {\"role\", \"content\"}");
    }
    Json conversation = Json::array();
    for (size_t i = 0; i < messages->size(); ++i) {
      const Json& message = (*messages)[i];
      if (!message.is_object() || !message.contains("role") || !message["role"].is_string()) {
        throw BadRequest(absl::StrCat("messages[", i, "] must be an object with a \"role\""));
      }
      Json kept = message;
      // A message without content gets "" (mlx_lm.server's), as a tool call's often has.
      const Json content = MessageContent(message.value("content", Json()), i);
      kept["content"] = content.is_null() ? Json("") : content;
      ParseToolCallArguments(kept, i);
      conversation.push_back(std::move(kept));
    }
    if (!tokenizer_.has_chat_template()) {
      throw BadRequest(absl::StrCat("the model ", options_.model_id,
                                    " has no chat template (tokenizer_config.json's "
                                    "chat_template or chat_template.jinja); use /v1/completions"));
    }
    ChatTemplateOptions template_options;
    template_options.add_generation_prompt = true;
    if (auto it = body.find("tools"); it != body.end() && !it->is_null() && !it->empty()) {
      template_options.tools = *it;
      c.tools = *it;
    }
    template_options.extra = options_.chat_template_args;
    if (auto it = body.find("chat_template_kwargs"); it != body.end() && it->is_object()) {
      for (const auto& [key, value] : it->items()) template_options.extra[key] = value;
    }
    // mlx-lm turns thinking on for a model with thinking markers unless the request says.
    if (!template_options.extra.contains("enable_thinking")) {
      template_options.extra["enable_thinking"] = reply_format_.has_thinking();
    }
    c.prompt = tokenizer_.apply_chat_template_ids(conversation, template_options);
  } else {
    auto prompt = body.find("prompt");
    if (prompt == body.end()) throw BadRequest("prompt is required");
    if (prompt->is_string()) {
      c.prompt = tokenizer_.encode(prompt->get<std::string>());
    } else if (prompt->is_array() && !prompt->empty() &&
               std::all_of(prompt->begin(), prompt->end(),
                           [](const Json& t) { return t.is_number_integer(); })) {
      for (const Json& t : *prompt) {
        const int64_t id = t.get<int64_t>();
        if (id < 0 || id >= tokenizer_.vocab_size()) {
          throw BadRequest(absl::StrCat("prompt token ", id, " is outside the vocabulary (",
                                        tokenizer_.vocab_size(), " tokens)"));
        }
        c.prompt.push_back(static_cast<int32_t>(id));
      }
    } else {
      throw BadRequest("prompt must be a string or a list of token ids (one prompt per request)");
    }
  }
  if (c.prompt.empty()) throw BadRequest("the prompt encodes to no tokens");
  return c;
}

void OpenAiService::Complete(const Completion& c, HttpResponder& responder) {
  const std::string id = RandomId(c.chat ? "chatcmpl-" : "cmpl-");
  const int64_t created = Now();
  const char* object =
      c.chat ? (c.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  auto reply = [&](const ChatReply::Part& part, const Json& finish_reason, const Json& logprobs) {
    Json choice = {{"index", 0}, {"finish_reason", finish_reason}};
    if (c.chat) {  // the fields mlx_lm.server sends, content null when a whole reply has none
      Json message = {{"role", "assistant"}};
      if (!c.stream || !part.content.empty()) {
        message["content"] = part.content.empty() ? Json(nullptr) : Json(part.content);
      }
      if (!part.reasoning.empty()) message["reasoning"] = part.reasoning;
      if (!part.tool_calls.empty()) message["tool_calls"] = part.tool_calls;
      choice[c.stream ? "delta" : "message"] = std::move(message);
    } else {
      choice["text"] = part.content;
    }
    if (!logprobs.is_null()) choice["logprobs"] = {{"content", logprobs}};
    return Json{{"id", id},
                {"object", object},
                {"created", created},
                {"model", c.model},
                {"system_fingerprint", "ferry"},
                {"choices", Json::array({choice})}};
  };

  BatchSequence sequence;
  sequence.max_tokens = c.max_tokens;
  if (c.temperature != 0 || c.seed) {  // else greedy: the batch's rows share one argmax
    const Sampler sampler = make_sampler(c.temperature, c.top_p, c.min_p, 1, c.top_k);
    sequence.sampler = c.seed ? seeded_sampler(sampler, *c.seed) : sampler;
  }
  sequence.logits_processors = make_logits_processors(
      c.logit_bias, c.repetition_penalty, c.repetition_context_size, c.presence_penalty,
      c.presence_context_size, c.frequency_penalty, c.frequency_context_size);
  sequence.stop_tokens = tokenizer_.eos_token_ids();

  StopStrings stops(c.stop);
  StreamingDetokenizer detokenizer(tokenizer_);
  // A chat reply's reasoning and tool calls come apart from its content; a completion's
  // text stays whole.
  static const ReplyFormat kPlainText;
  ChatReply text(c.chat ? reply_format_ : kPlainText,
                 c.chat && StartsInReasoning(reply_format_, c.prompt) ? ReplyState::kReasoning
                                                                      : ReplyState::kNormal,
                 c.tools, c.stream);
  Json logprobs = c.logprobs ? Json::array() : Json(nullptr);
  Json stream_logprobs = Json::array();  // those of tokens not yet sent
  std::string finish_reason;
  int64_t completion_tokens = 0;
  std::vector<int32_t> given;
  std::unique_ptr<TokenSource> source;
  int64_t cached = 0;
  try {
    // The longest run of the prompt a kept cache holds is not prefilled again.
    PromptPool* pool = options_.prompt_cache ? &prompts_ : nullptr;
    if (one_at_a_time_) {
      GenerateOptions one = one_at_a_time_options_;
      one.num_draft_tokens = c.num_draft_tokens;
      source = OneAtATimeTokens(model_, std::move(one), one_at_a_time_mu_, std::move(sequence),
                                c.prompt, pool, draft_prompts_ ? &*draft_prompts_ : nullptr);
    } else {
      source = BatchTokens(*scheduler_, std::move(sequence), c.prompt, pool);
    }
    cached = source->cached();
    if (c.stream && !responder.StartEvents()) return;  // the request leaves the batch
    while (std::optional<BatchGeneration> generation = source->Next()) {
      given.push_back(generation->token);
      ++completion_tokens;
      // The text this token completes, as stream_generate gives it.
      std::string piece = generation->finish_reason == "stop"
                              ? detokenizer.finalize()
                              : detokenizer.add_token(generation->token);
      if (generation->finish_reason == "length") piece += detokenizer.finalize();
      piece = stops.Add(piece);
      finish_reason = stops.stopped() ? "stop" : generation->finish_reason;
      if (!stops.stopped() && !finish_reason.empty()) piece += stops.Finish();
      text.Add(piece);
      if (!finish_reason.empty()) text.Finish();
      if (c.logprobs && generation->finish_reason != "stop") {
        // Read only when asked: a (vocab,) download per token.
        const std::vector<float> all = astype(generation->logprobs, float32).to_vector<float>();
        Json entry = {{"id", generation->token},
                      {"token", tokenizer_.decode({generation->token})},
                      {"logprob", all[generation->token]}};
        std::vector<int32_t> order(all.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
        const size_t n = std::min<size_t>(c.top_logprobs, order.size());
        std::partial_sort(order.begin(), order.begin() + n, order.end(),
                          [&](int32_t a, int32_t b) { return all[a] > all[b]; });
        entry["top_logprobs"] = Json::array();
        for (size_t i = 0; i < n; ++i) {
          entry["top_logprobs"].push_back({{"id", order[i]},
                                           {"token", tokenizer_.decode({order[i]})},
                                           {"logprob", all[order[i]]}});
        }
        (c.stream ? stream_logprobs : logprobs).push_back(std::move(entry));
      }
      // A stream sends what each token completed, but nothing of a tool call until it ends
      // (mlx_lm.server's).
      if (c.stream && !text.in_tool_call()) {
        ChatReply::Part part = text.Take();
        if (!part.empty() || !stream_logprobs.empty()) {
          const Json sent = stream_logprobs.empty() ? Json(nullptr) : stream_logprobs;
          stream_logprobs = Json::array();
          if (!responder.SendEvent(reply(part, nullptr, sent).dump())) {
            return;  // a reader that left: its sequence leaves the batch
          }
        }
      }
      if (!finish_reason.empty()) {
        // Holds the prompt and the reply but its last token: the next turn's cache (a stop
        // string's tokens too: the next turn's prompt shares what comes before them).
        std::vector<int32_t> held = c.prompt;
        held.insert(held.end(), given.begin(), given.end() - 1);
        source->Keep(std::move(held));
      }
      if (!finish_reason.empty()) break;
    }
    if (finish_reason.empty()) throw std::runtime_error(source->error());
  } catch (const std::exception& error) {  // ferry::Error: the device's, the model's
    if (!c.stream) {
      responder.Send(500, "application/json", ErrorBody(error.what()));
    } else {
      responder.SendEvent(ErrorBody(error.what()));
    }
    return;
  }
  const Json usage = {{"prompt_tokens", c.prompt.size()},
                      {"completion_tokens", completion_tokens},
                      {"total_tokens", static_cast<int64_t>(c.prompt.size()) + completion_tokens},
                      {"prompt_tokens_details", {{"cached_tokens", cached}}}};
  if (finish_reason == "stop" && text.made_tool_call()) finish_reason = "tool_calls";
  if (!c.stream) {
    Json whole = reply(text.Take(), finish_reason, logprobs);
    whole["usage"] = usage;
    responder.Send(200, "application/json", whole.dump());
    return;
  }
  responder.SendEvent(
      reply(text.Take(), finish_reason, stream_logprobs.empty() ? Json(nullptr) : stream_logprobs)
          .dump());
  if (c.include_usage) {
    Json last = reply(ChatReply::Part(), nullptr, nullptr);
    last["choices"] = Json::array();
    last["usage"] = usage;
    responder.SendEvent(last.dump());
  }
  responder.SendEvent("[DONE]");
}

}  // namespace ferry::lm::server
