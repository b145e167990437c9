// mlx-lm's three .jsonl formats tokenized, and mask_prompt's offsets.

#include "client/lm/tuner/datasets.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::lm::tuner {
namespace {

using ::ferry::testing::BuildError;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

using ::ferry::testing::Runfile;

// Qwen2's tokenizer with a ChatML template.
Tokenizer Qwen2() {
  Tokenizer tokenizer = Tokenizer::from_file(Runfile("client/lm/testdata/tokenizer_qwen2.json"));
  tokenizer.add_eos_token(*tokenizer.token_to_id("<|im_end|>"));
  tokenizer.set_chat_template(ChatTemplate(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"));
  return tokenizer;
}

TEST(Datasets, TextEndsWithTheEndToken) {
  const Tokenizer tokenizer = Qwen2();
  std::vector<int32_t> want = tokenizer.encode("The ferry leaves at noon.");
  want.push_back(tokenizer.eos_token_ids().front());
  const Example example = make_example(R"({"text": "The ferry leaves at noon."})", tokenizer,
                                       /*mask_prompt=*/false);
  EXPECT_THAT(example.tokens, ElementsAreArray(want));
  EXPECT_EQ(example.offset, 0);
  // One that ends with it already gets no second.
  const Example ended =
      make_example(R"({"text": "Done.<|im_end|>"})", tokenizer, /*mask_prompt=*/false);
  EXPECT_EQ(ended.tokens.back(), tokenizer.eos_token_ids().front());
  EXPECT_NE(ended.tokens[ended.tokens.size() - 2], tokenizer.eos_token_ids().front());
}

TEST(Datasets, ACompletionIsTheAssistantsTurnAndMaskPromptSkipsThePrompt) {
  const Tokenizer tokenizer = Qwen2();
  const std::string line = R"({"prompt": "When?", "completion": "At noon."})";
  const std::vector<int32_t> want = tokenizer.apply_chat_template_ids(
      {{{"role", "user"}, {"content", "When?"}}, {{"role", "assistant"}, {"content", "At noon."}}});
  ChatTemplateOptions generation;
  generation.add_generation_prompt = true;
  const std::vector<int32_t> prompt =
      tokenizer.apply_chat_template_ids({{{"role", "user"}, {"content", "When?"}}}, generation);
  const Example plain = make_example(line, tokenizer, /*mask_prompt=*/false);
  EXPECT_THAT(plain.tokens, ElementsAreArray(want));
  EXPECT_EQ(plain.offset, 0);
  const Example masked = make_example(line, tokenizer, /*mask_prompt=*/true);
  EXPECT_THAT(masked.tokens, ElementsAreArray(want));
  EXPECT_EQ(masked.offset, static_cast<int64_t>(prompt.size()));
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), want.begin()));
  // {"messages"} of the same turns is the same example.
  const Example chat = make_example(
      R"({"messages": [{"role": "user", "content": "When?"},
                       {"role": "assistant", "content": "At noon."}]})",
      tokenizer, /*mask_prompt=*/true);
  EXPECT_THAT(chat.tokens, ElementsAreArray(want));
  EXPECT_EQ(chat.offset, masked.offset);
}

TEST(Datasets, OtherLinesAreRefused) {
  const Tokenizer tokenizer = Qwen2();
  EXPECT_THAT(BuildError([&] { make_example(R"({"text": "x"})", tokenizer, true); }),
              HasSubstr("prompt masking is not supported"));
  EXPECT_THAT(BuildError([&] { make_example(R"({"question": "x"})", tokenizer, false); }),
              HasSubstr("{\"text\"}, {\"prompt\", \"completion\"} or {\"messages\"}"));
}

TEST(Datasets, AFileIsItsLinesAndAMissingOneNothing) {
  const Tokenizer tokenizer = Qwen2();
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
      "/train.jsonl";
  std::ofstream(path) << "{\"text\": \"a\"}\n\n{\"text\": \"b c\"}\n";
  EXPECT_EQ(load_dataset(path, tokenizer).size(), 2u);
  EXPECT_TRUE(load_dataset(path + ".missing", tokenizer).empty());
}

}  // namespace
}  // namespace ferry::lm::tuner
