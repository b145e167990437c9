// ferry::lm::ChatTemplate against transformers 5.25 / jinja2 3.1.6: the chat templates of
// Llama 2, 3.1, 3.2, Mistral, Mistral-Nemo, Mistral Small 3.2, Qwen2.5, Qwen3, DeepSeek-R1,
// Gemma 2 and 3, Phi-3.5, Phi-4, SmolLM2, Granite 3.3 and Hermes 3 render every conversation of
// testdata/chat_templates_cases.json exactly as transformers' render_jinja_template did, or
// fail where it failed (testdata/chat_templates_hf.py wrote the cases). Then lm::load_tokenizer
// picking a model directory's template up.

#include "client/lm/chat_template.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "client/error.h"
#include "client/lm/jinja/template.h"
#include "client/lm/load.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using Json = nlohmann::ordered_json;

std::string TestData(const std::string& name) {
  return ::ferry::testing::Runfile("client/lm/testdata/" + name);
}

const Json& Cases() {
  static const Json cases = [] {
    std::ifstream file(TestData("chat_templates_cases.json"));
    return Json::parse(file);
  }();
  return cases;
}

TEST(ChatTemplate, RendersEveryCaseAsTransformers) {
  const Json& data = Cases();
  std::map<std::string, ChatTemplate> templates;
  for (const auto& [name, entry] : data["templates"].items()) {
    Json special = Json::object();
    for (const auto& [key, value] : entry.items()) {
      if (key.size() > 6 && key.compare(key.size() - 6, 6, "_token") == 0) special[key] = value;
    }
    templates.emplace(name, ChatTemplate(entry["chat_template"].get<std::string>(), special));
  }
  int rendered = 0, failed = 0;
  for (const Json& c : data["cases"]) {
    const ChatTemplate& chat_template = templates.at(c["template"].get<std::string>());
    ChatTemplateOptions options;
    options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    if (c.value("with_tools", false)) options.tools = data["tools"];
    if (c.value("with_documents", false)) options.documents = data["documents"];
    options.extra = c["kwargs"];
    const std::string name = c["name"].get<std::string>();
    if (c.contains("expected")) {
      std::string text;
      try {
        text = chat_template.apply(c["messages"], options);
      } catch (const Error& e) {
        ADD_FAILURE() << name << " threw: " << e.what();
        continue;
      }
      EXPECT_EQ(text, c["expected"].get<std::string>()) << name;
      ++rendered;
    } else {
      try {
        chat_template.apply(c["messages"], options);
        ADD_FAILURE() << name << " rendered, but transformers raised: " << c["error"];
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << name;
        if (c["raised"].get<bool>()) {
          // raise_exception(message): the message is the template's own.
          EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos)
              << name << ": " << e.what();
        }
      }
      ++failed;
    }
  }
  EXPECT_GT(rendered, 1000);
  EXPECT_GT(failed, 100);
}

// Random expressions (chat_templates_hf.py's expression_cases) print as jinja2 prints them, or
// fail where jinja2 failed.
TEST(ChatTemplate, JinjaExpressionsAsJinja2) {
  const Json& data = Cases();
  int compared = 0;
  for (const Json& c : data["expressions"]) {
    const std::string source = c["template"].get<std::string>();
    std::string text;
    try {
      text = jinja::Template(source).render(data["expression_variables"]);
    } catch (const Error& e) {
      EXPECT_TRUE(c.contains("error"))
          << source << " threw " << e.what() << ", jinja2 gave " << c["expected"];
      continue;
    }
    if (c.contains("error")) {
      ADD_FAILURE() << source << " gave " << text << ", jinja2 raised " << c["error"];
      continue;
    }
    EXPECT_EQ(text, c["expected"].get<std::string>()) << source;
    ++compared;
  }
  EXPECT_GT(compared, 1000);
}

TEST(ChatTemplate, AppliesOptionsAsKeywordArguments) {
  ChatTemplate chat_template(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
      "{% if tools %}{{ tools | length }} tools{% endif %}{% if add_generation_prompt %}"
      "[assistant]{% endif %}{{ flag }}",
      {{"bos_token", "<s>"}});
  ChatTemplateOptions options;
  options.add_generation_prompt = true;
  options.tools = Json::array({{{"type", "function"}}});
  options.extra = {{"flag", "!"}};
  EXPECT_EQ(chat_template.apply(Json::parse(R"([{"role": "user", "content": "hi"}])"), options),
            "<s>[user]hi1 tools[assistant]!");
}

TEST(ChatTemplate, NormalizesMessagesAsTransformers) {
  // Null values are dropped; reasoning is also given as "thinking" and "reasoning_content".
  ChatTemplate chat_template(
      "{% for m in messages %}{{ m.content is defined }}/{{ m.thinking }}/"
      "{{ m.reasoning_content }};{% endfor %}");
  EXPECT_EQ(
      chat_template.apply(Json::parse(
          R"([{"role": "assistant", "content": null, "reasoning": "hm"}, {"role": "user"}])")),
      "False/hm/hm;False//;");
}

TEST(ChatTemplate, ErrorsNameTheLine) {
  ChatTemplate chat_template("line one\n{{ raise_exception('roles must alternate') }}");
  try {
    chat_template.apply(Json::array());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()), "[jinja] line 2: roles must alternate");
  }
  EXPECT_THROW(ChatTemplate("{% if x %}never closed"), Error);
  EXPECT_THROW(ChatTemplate("{{ x }}").apply(Json::object()), Error);  // not a list
}

// A model directory with tokenizer.json and the given files.
std::string ModelDirectory(const std::string& name,
                           const std::map<std::string, std::string>& files) {
  const std::filesystem::path dir =
      std::filesystem::path(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") /
      name;
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(TestData("tokenizer_llama3.json"), dir / "tokenizer.json",
                             std::filesystem::copy_options::overwrite_existing);
  for (const auto& [file, text] : files) std::ofstream(dir / file) << text;
  return dir.string();
}

TEST(ChatTemplate, LoadTokenizerReadsTokenizerConfig) {
  const Json config = {{"bos_token", {{"content", "<|begin_of_text|>"}, {"lstrip", false}}},
                       {"eos_token", "<|eot_id|>"},
                       {"chat_template",
                        "{{ bos_token }}{% for m in messages %}{{ m.content }}"
                        "{{ eos_token }}{% endfor %}"}};
  const Tokenizer tokenizer =
      load_tokenizer(ModelDirectory("config_template", {{"tokenizer_config.json", config.dump()}}));
  ASSERT_TRUE(tokenizer.has_chat_template());
  const Json messages = Json::parse(R"([{"role": "user", "content": "hello"}])");
  EXPECT_EQ(tokenizer.apply_chat_template(messages), "<|begin_of_text|>hello<|eot_id|>");
  // Encoded as it stands: the template wrote the BOS, so none is added.
  EXPECT_EQ(tokenizer.apply_chat_template_ids(messages),
            tokenizer.encode("<|begin_of_text|>hello<|eot_id|>", /*add_special_tokens=*/false));
  const Tokenizer copy = tokenizer;  // copies share the template
  EXPECT_EQ(copy.apply_chat_template(messages), "<|begin_of_text|>hello<|eot_id|>");
}

TEST(ChatTemplate, LoadPrefersChatTemplateJinjaAndNamedDefault) {
  const Json config = {
      {"chat_template", Json::array({{{"name", "tool_use"}, {"template", "tools"}},
                                     {{"name", "default"}, {"template", "default"}}})}};
  const std::string dir =
      ModelDirectory("named_template", {{"tokenizer_config.json", config.dump()}});
  EXPECT_EQ(load_tokenizer(dir).apply_chat_template(Json::array()), "default");
  std::ofstream(dir + "/chat_template.jinja") << "from the jinja file\n";
  EXPECT_EQ(load_tokenizer(dir).apply_chat_template(Json::array()), "from the jinja file");
}

TEST(ChatTemplate, DirectoryWithoutTemplate) {
  const Tokenizer tokenizer =
      load_tokenizer(ModelDirectory("no_template", {{"tokenizer_config.json", "{}"}}));
  EXPECT_FALSE(tokenizer.has_chat_template());
  try {
    tokenizer.apply_chat_template(Json::array());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  }
  // A template that does not parse still loads; applying it says why.
  const Tokenizer broken =
      load_tokenizer(ModelDirectory("broken_template", {{"chat_template.jinja", "{% for %}"}}));
  ASSERT_TRUE(broken.has_chat_template());
  EXPECT_THROW(broken.apply_chat_template(Json::array()), Error);
}

}  // namespace
}  // namespace ferry::lm
