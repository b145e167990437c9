// Tool calls and reasoning out of a chat reply's text, as mlx_lm.server takes them out: the
// parsers give what mlx-lm's give on the same texts (testdata/tool_parsers_mlx.json, written
// by mlx-lm 0.32.2 itself), whichever way the text is cut into tokens; markers split across
// tokens are still found; a call that does not parse is dropped, never thrown.

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "client/lm/server/chat_reply.h"
#include "client/lm/server/python_values.h"
#include "client/lm/server/reply_format.h"
#include "client/lm/server/reply_splitter.h"
#include "client/lm/server/tool_parsers.h"
#include "client/lm/tokenizer.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::server {
namespace {

using Json = nlohmann::ordered_json;

using ::ferry::testing::Runfile;

bool IsUuid4(const Json& id) {
  static const std::regex kUuid4(
      "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  return id.is_string() && std::regex_match(id.get<std::string>(), kUuid4);
}

ReplyFormat Format(const std::string& parser, bool thinking = false) {
  ReplyFormat format;
  if (thinking) {
    format.think_start = "<think>";
    format.think_end = "</think>";
  }
  format.tool_parser_type = parser;
  format.tool_parser = FindToolParser(parser);
  return format;
}

// The whole text fed to a ChatReply in the pieces given, and what it gave.
struct Reply {
  std::string content, reasoning;
  Json tool_calls = Json::array();
  bool made_tool_call = false;
};
Reply Feed(const ReplyFormat& format, const std::vector<std::string>& pieces,
           const Json& tools = nullptr, bool streaming = false,
           ReplyState initial = ReplyState::kNormal) {
  ChatReply chat(format, initial, tools, streaming);
  Reply reply;
  auto take = [&] {
    ChatReply::Part part = chat.Take();
    reply.content += part.content;
    reply.reasoning += part.reasoning;
    for (Json& call : part.tool_calls) reply.tool_calls.push_back(std::move(call));
  };
  for (const std::string& piece : pieces) {
    chat.Add(piece);
    take();
  }
  chat.Finish();
  take();
  reply.made_tool_call = chat.made_tool_call();
  return reply;
}

// Every way of cutting text in two at a character boundary, and one character at a time.
std::vector<std::vector<std::string>> Cuts(const std::string& text) {
  std::vector<std::vector<std::string>> cuts = {{text}};
  std::vector<std::string> characters;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // inside a character
    cuts.push_back({text.substr(0, i), text.substr(i)});
    size_t n = 1;
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    characters.push_back(text.substr(i, n));
  }
  cuts.push_back(characters);
  return cuts;
}

// Calls without their ids, which are random where the model gave none.
Json WithoutIds(Json calls) {
  for (Json& call : calls) {
    EXPECT_TRUE(call["id"].is_string() && !call["id"].get<std::string>().empty()) << call;
    call.erase("id");
  }
  return calls;
}

TEST(ToolCallsTest, ParsersGiveWhatMlxLmsGiveWhereverTheTextIsCut) {
  std::ifstream file(Runfile("client/lm/server/testdata/tool_parsers_mlx.json"));
  ASSERT_TRUE(file) << "testdata/tool_parsers_mlx.json";
  std::stringstream text;
  text << file.rdbuf();
  const Json fixture = Json::parse(text.str());
  EXPECT_EQ(fixture["mlx_lm_version"], "0.32.2");
  ASSERT_GE(fixture["cases"].size(), 50u);
  for (const Json& c : fixture["cases"]) {
    const std::string parser = c["parser"];
    const ReplyFormat format = Format(parser);
    ASSERT_TRUE(format.tool_parser) << parser;
    const std::string reply = format.tool_parser->call_start + c["text"].get<std::string>() +
                              format.tool_parser->call_end;
    SCOPED_TRACE(parser + " on " + c["text"].dump());
    std::string first_ids;
    for (const std::vector<std::string>& pieces : Cuts(reply)) {
      const Reply got = Feed(format, pieces, c["tools"]);
      EXPECT_EQ(got.content, "");
      EXPECT_TRUE(got.made_tool_call);
      if (!c.contains("calls")) {  // mlx-lm raises: the call is dropped
        EXPECT_TRUE(got.tool_calls.empty()) << got.tool_calls;
        continue;
      }
      ASSERT_EQ(got.tool_calls.size(), c["calls"].size()) << got.tool_calls;
      for (size_t i = 0; i < got.tool_calls.size(); ++i) {
        const Json& call = got.tool_calls[i];
        const Json& expected = c["calls"][i];
        // The same keys in the same order, the arguments the same string byte for byte.
        EXPECT_EQ(call["function"].dump(), expected["function"].dump());
        EXPECT_EQ(call["type"], "function");
        if (expected["id"].is_null()) {
          EXPECT_TRUE(IsUuid4(call["id"])) << call["id"];
        } else {
          EXPECT_EQ(call["id"], expected["id"]);
        }
        EXPECT_FALSE(call.contains("index"));
      }
    }
  }
}

TEST(ToolCallsTest, ToolParsersAreInferredAsMlxLmInfersThem) {
  const Tokenizer plain =
      Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  EXPECT_EQ(InferToolParserName("{{ '<tool_call>' }}{{ tool_call.name }}", plain), "json_tools");
  EXPECT_EQ(InferToolParserName("<tool_call>\\n<function={{ tool_call.name }}>", plain),
            "qwen3_coder");
  EXPECT_EQ(InferToolParserName("{{ '[TOOL_CALLS]' }}", plain), "mistral");
  EXPECT_EQ(InferToolParserName("<|tool_call_start|>", plain), "pythonic");
  // mlx-lm's order: GLM's markers win over the Qwen ones its template also has.
  EXPECT_EQ(InferToolParserName("<tool_call>{{ tool_call.name }}<arg_key>", plain), "glm47");
  EXPECT_FALSE(FindToolParser("glm47"));
  EXPECT_EQ(InferToolParserName("<tool_call> without a name", plain), "");
  EXPECT_EQ(InferToolParserName("", plain), "");
  // Without a template's word, the vocabulary's tokens (LFM2).
  const Tokenizer lfm = Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0},
      "merges": []}, "added_tokens": [
        {"id": 1, "content": "<|tool_call_start|>", "special": true},
        {"id": 2, "content": "<|tool_call_end|>", "special": true},
        {"id": 3, "content": "<think>", "special": false},
        {"id": 4, "content": "</think>", "special": false}]})");
  EXPECT_EQ(InferToolParserName("", lfm), "pythonic");
  const ReplyFormat format = InferReplyFormat(lfm, "");
  EXPECT_EQ(format.tool_parser_type, "pythonic");
  ASSERT_TRUE(format.has_tool_calling());
  EXPECT_EQ(format.tool_parser->call_end, "<|tool_call_end|>");
  EXPECT_TRUE(format.has_thinking());
  EXPECT_EQ(format.think_end, "</think>");
  // tokenizer_config.json's tool_parser_type wins.
  EXPECT_EQ(InferReplyFormat(lfm, "mistral").tool_parser->call_start, "[TOOL_CALLS]");
  EXPECT_FALSE(InferReplyFormat(plain, "").has_thinking());
  EXPECT_FALSE(InferReplyFormat(plain, "").has_tool_calling());
  // A reply starts inside reasoning where the prompt opened <think> and did not close it.
  EXPECT_TRUE(StartsInReasoning(format, {0, 4, 0, 3, 0}));
  EXPECT_FALSE(StartsInReasoning(format, {0, 3, 0, 4}));
  EXPECT_FALSE(StartsInReasoning(format, {0, 0}));
}

TEST(ToolCallsTest, TheSplitterTakesMarkersOutWhereverTheyAreCut) {
  const ReplyFormat format = Format("json_tools", /*thinking=*/true);
  const std::string call = R"({"name": "f", "arguments": {"x": "<tool"}})";
  const std::string reply = "<think>Let me see: <b>é</think>Calling <tools> now." +
                            std::string("<tool_call>") + call + "</tool_call>Done <";
  for (const std::vector<std::string>& pieces : Cuts(reply)) {
    ReplySplitter splitter(format, ReplyState::kNormal);
    std::string text[3];
    std::vector<ReplyState> states;
    auto add = [&](const std::vector<ReplySegment>& segments) {
      for (const ReplySegment& s : segments) {
        text[static_cast<int>(s.state)] += s.text;
        if (states.empty() || states.back() != s.state) states.push_back(s.state);
      }
    };
    for (const std::string& piece : pieces) add(splitter.Add(piece));
    add({splitter.Flush()});
    EXPECT_EQ(text[static_cast<int>(ReplyState::kNormal)], "Calling <tools> now.Done <");
    EXPECT_EQ(text[static_cast<int>(ReplyState::kReasoning)], "Let me see: <b>é");
    EXPECT_EQ(text[static_cast<int>(ReplyState::kTool)], call);
    const std::vector<ReplyState> order = {ReplyState::kNormal, ReplyState::kReasoning,
                                           ReplyState::kNormal, ReplyState::kTool,
                                           ReplyState::kNormal};
    EXPECT_EQ(states, order) << pieces.size() << " pieces";
  }
}

TEST(ToolCallsTest, AnEndThatMayBeginAMarkerWaitsAndNothingIsLost) {
  ReplySplitter splitter(Format("json_tools"), ReplyState::kNormal);
  std::vector<ReplySegment> segments = splitter.Add("Hi <tool");
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0].text, "Hi ");  // "<tool" may begin "<tool_call>"
  segments = splitter.Add("s>");
  EXPECT_EQ(segments.back().text, "<tools>");  // it did not
  EXPECT_EQ(splitter.Add("<").back().text, "");
  EXPECT_EQ(splitter.Flush().text, "<");
}

TEST(ToolCallsTest, ReasoningToolCallsAndContentAreTheirOwnFields) {
  const Json tools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"days": {"type": "integer"}}}}}])");
  const std::string reply =
      "<think>The user wants weather.</think>\n\n<tool_call>\n<function=get_weather>\n"
      "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call><tool_call>\n"
      "<function=get_weather>\n<parameter=days>\n4\n</parameter>\n</function>\n</tool_call>";
  for (const std::vector<std::string>& pieces : Cuts(reply)) {
    const Reply got = Feed(Format("qwen3_coder", true), pieces, tools, /*streaming=*/true);
    EXPECT_EQ(got.reasoning, "The user wants weather.");
    EXPECT_EQ(got.content, "\n\n");
    ASSERT_EQ(got.tool_calls.size(), 2u);
    EXPECT_EQ(WithoutIds(got.tool_calls),
              Json::parse(R"([{"function": {"name": "get_weather", "arguments": "{\"days\": 3}"},
                                "type": "function", "index": 0},
                              {"function": {"name": "get_weather", "arguments": "{\"days\": 4}"},
                                "type": "function", "index": 1}])"));
  }
  // A template that opened <think> for the model: the reply starts in reasoning.
  const Reply opened =
      Feed(Format("json_tools", true), {"hmm</think>ok"}, nullptr, false, ReplyState::kReasoning);
  EXPECT_EQ(opened.reasoning, "hmm");
  EXPECT_EQ(opened.content, "ok");
  // Without thinking markers <think> is plain text.
  EXPECT_EQ(Feed(Format("json_tools"), {"<think>x</think>"}).content, "<think>x</think>");
}

TEST(ToolCallsTest, MistralsCallsRunToTheEndOfTheReply) {
  const Reply got = Feed(Format("mistral"),
                         {"Sure.", "[TOOL_", "CALLS]get_weather[ARGS]", "{\"city\": \"Paris\"}"});
  EXPECT_EQ(got.content, "Sure.");
  ASSERT_EQ(got.tool_calls.size(), 1u);
  EXPECT_EQ(got.tool_calls[0]["function"]["arguments"], "{\"city\": \"Paris\"}");
}

TEST(ToolCallsTest, ACallThatDoesNotParseIsDroppedNotThrown) {
  // Cut short by max_tokens: no end marker, invalid JSON.
  Reply got = Feed(Format("json_tools"), {"Sure: <tool_call>{\"name\": \"f\", \"argu"});
  EXPECT_EQ(got.content, "Sure: ");
  EXPECT_TRUE(got.tool_calls.empty());
  EXPECT_TRUE(got.made_tool_call);
  // Closed but not JSON; an empty call; the reply goes on after them.
  got = Feed(Format("json_tools"), {"<tool_call>oops</tool_call><tool_call></tool_call>after"});
  EXPECT_EQ(got.content, "after");
  EXPECT_TRUE(got.tool_calls.empty());
  EXPECT_TRUE(got.made_tool_call);
  // No tool calling: the markers are text.
  got = Feed(ReplyFormat(), {"<tool_call>{}</tool_call>"});
  EXPECT_EQ(got.content, "<tool_call>{}</tool_call>");
  EXPECT_FALSE(got.made_tool_call);
}

TEST(ToolCallsTest, PythonValuesAreSpelledAsPythonSpellsThem) {
  EXPECT_EQ(PythonJsonDumps(Json::parse(R"({"a": [1, 2.5, true, null], "b": {"c": "é\n"}})")),
            "{\"a\": [1, 2.5, true, null], \"b\": {\"c\": \"é\\n\"}}");
  EXPECT_EQ(PythonJsonDumps(Json(1e15)), "1000000000000000.0");
  EXPECT_EQ(PythonJsonDumps(Json(1e16)), "1e+16");
  EXPECT_EQ(PythonJsonDumps(Json(1.5e-5)), "1.5e-05");
  EXPECT_EQ(PythonJsonDumps(Json(-0.0)), "-0.0");
  EXPECT_EQ(PythonJsonDumps(Json(std::string("\x01\x7f"))), "\"\\u0001\x7f\"");
  EXPECT_EQ(*ParsePythonLiteral("{'a': (1, -2.0), 2: [None, True]}"),
            Json::parse(R"({"a": [1, -2.0], "2": [null, true]})"));
  EXPECT_EQ(*ParsePythonLiteral("'''x\ny''' r'\\d' \"\\x41\\101\""), "x\ny\\dAA");
  EXPECT_FALSE(ParsePythonLiteral("foo"));
  EXPECT_FALSE(ParsePythonLiteral("{1, 2}"));
  EXPECT_FALSE(ParsePythonLiteral("[1, 2"));
  EXPECT_FALSE(ParsePythonLiteral("true"));
  EXPECT_EQ(*ParsePythonLiteral("true", /*json_names=*/true), true);
  EXPECT_EQ(ParsePythonFloat(" 1_000.5 "), 1000.5);
  EXPECT_FALSE(ParsePythonFloat("1__0"));
  EXPECT_FALSE(ParsePythonFloat("0x10"));
  EXPECT_FALSE(ParsePythonFloat("many"));
}

}  // namespace
}  // namespace ferry::lm::server
