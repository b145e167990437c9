// ferry::lm::Tokenizer against Hugging Face's `tokenizers` 0.23.3: tokenizer.json files laid
// out as Llama 3, Qwen2, GPT-2, Llama 2 and Mistral ship them (tiny BPE vocabularies) encode
// and decode every case as `tokenizers` does, and streaming detokenization adds up to decode
// (testdata/tokenizers_hf.py wrote the files and the cases).

#include "client/lm/tokenizer.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

using ::ferry::testing::BuildError;
using Json = nlohmann::json;

std::string TestData(const std::string& name) {
  return ::ferry::testing::Runfile("client/lm/testdata/" + name);
}

Tokenizer Load(const std::string& family) {
  return Tokenizer::from_file(TestData("tokenizer_" + family + ".json"));
}

const Json& Cases() {
  static const Json cases = [] {
    std::ifstream file(TestData("tokenizers_cases.json"));
    return Json::parse(file);
  }();
  return cases;
}

bool IsValidUtf8(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

// A case's ids with special tokens and their decoding skipping them; the file leaves each out
// where it equals the ids without special tokens, or the plain decoding.
std::vector<int32_t> IdsWithSpecial(const Json& c) {
  return c.value("ids_with_special", c.at("ids")).get<std::vector<int32_t>>();
}
std::string DecodedSkippingSpecial(const Json& c) {
  return c.value("decoded_skip_special", c.at("decoded")).get<std::string>();
}

// Every case of family encodes (with and without special tokens) and decodes (with and
// without them) as Hugging Face's tokenizer did.
void ExpectAsHuggingFace(const std::string& family) {
  const Tokenizer tokenizer = Load(family);
  const Json& expected = Cases().at(family);
  EXPECT_EQ(tokenizer.vocab_size(), expected.at("vocab_size").get<int64_t>());
  for (const Json& c : expected.at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    const std::vector<int32_t> ids = IdsWithSpecial(c);
    EXPECT_EQ(tokenizer.encode(text), ids) << family << " encodes \"" << text << "\"";
    EXPECT_EQ(tokenizer.encode(text, /*add_special_tokens=*/false),
              c.at("ids").get<std::vector<int32_t>>())
        << family << " encodes \"" << text << "\" without special tokens";
    EXPECT_EQ(tokenizer.decode(ids), c.at("decoded").get<std::string>())
        << family << " decodes \"" << text << "\"";
    EXPECT_EQ(tokenizer.decode(ids, /*skip_special_tokens=*/true), DecodedSkippingSpecial(c))
        << family << " decodes \"" << text << "\" skipping special tokens";
  }
}

TEST(Tokenizer, Llama3EncodesAndDecodesAsHuggingFace) { ExpectAsHuggingFace("llama3"); }
TEST(Tokenizer, Qwen2EncodesAndDecodesAsHuggingFace) { ExpectAsHuggingFace("qwen2"); }
TEST(Tokenizer, Gpt2EncodesAndDecodesAsHuggingFace) { ExpectAsHuggingFace("gpt2"); }
TEST(Tokenizer, Llama2EncodesAndDecodesAsHuggingFace) { ExpectAsHuggingFace("llama2"); }
TEST(Tokenizer, MistralEncodesAndDecodesAsHuggingFace) { ExpectAsHuggingFace("mistral"); }
TEST(Tokenizer, DeepSeekEncodesAndDecodesAsHuggingFace) { ExpectAsHuggingFace("deepseek"); }
// Split's behaviors and invert, Digits, Strip and a regex Replace.
TEST(Tokenizer, EverySplitBehaviorEncodesAsHuggingFace) { ExpectAsHuggingFace("behaviors"); }

TEST(Tokenizer, AddedTokensInTheTextEncodeAsTheirIds) {
  const Tokenizer llama3 = Load("llama3");
  const int32_t eot = *llama3.token_to_id("<|eot_id|>");
  const std::vector<int32_t> ids = llama3.encode("Hi<|eot_id|>", /*add_special_tokens=*/false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), eot);
  EXPECT_TRUE(llama3.is_special(eot));
  EXPECT_EQ(llama3.decode(ids, /*skip_special_tokens=*/true), "Hi");
  EXPECT_EQ(llama3.encode("Hi", /*add_special_tokens=*/true).front(),
            *llama3.token_to_id("<|begin_of_text|>"));
}

TEST(Tokenizer, NonSpecialAddedTokensAreKeptWhenSkippingSpecialOnes) {
  const Tokenizer qwen2 = Load("qwen2");
  const int32_t tool_call = *qwen2.token_to_id("<tool_call>");
  EXPECT_FALSE(qwen2.is_special(tool_call));
  EXPECT_TRUE(qwen2.is_special(*qwen2.token_to_id("<|im_end|>")));
  EXPECT_EQ(qwen2.decode({tool_call, *qwen2.token_to_id("<|im_end|>")}, true), "<tool_call>");
}

TEST(Tokenizer, TokenToIdAndIdToTokenAreInverse) {
  const Tokenizer llama2 = Load("llama2");
  EXPECT_EQ(llama2.token_to_id("<s>"), 1);
  EXPECT_EQ(llama2.id_to_token(2), "</s>");
  EXPECT_EQ(llama2.id_to_token(*llama2.token_to_id("<0x0A>")), "<0x0A>");
  EXPECT_EQ(llama2.token_to_id("no such token"), std::nullopt);
  for (int32_t id = 0; id < llama2.vocab_size(); ++id) {
    EXPECT_EQ(llama2.token_to_id(llama2.id_to_token(id)), id);
  }
}

TEST(Tokenizer, ByteFallbackSpellsUnknownCharactersInBytes) {
  const Tokenizer llama2 = Load("llama2");
  std::vector<std::string> tokens;
  for (int32_t id : llama2.encode("☃", /*add_special_tokens=*/false)) {
    tokens.push_back(llama2.id_to_token(id));
  }
  EXPECT_EQ(tokens, (std::vector<std::string>{"▁", "<0xE2>", "<0x98>", "<0x83>"}));
}

TEST(Tokenizer, ByteLevelSpellsEveryByteAsACharacter) {
  const Tokenizer gpt2 = Load("gpt2");
  std::vector<std::string> tokens;
  for (int32_t id : gpt2.encode(" ☃\n", false)) tokens.push_back(gpt2.id_to_token(id));
  EXPECT_EQ(tokens, (std::vector<std::string>{"Ġ", "â", "ĺ", "ĥ", "Ċ"}));
}

TEST(Tokenizer, NfcComposesBeforeTokenizing) {
  const Tokenizer qwen2 = Load("qwen2");
  EXPECT_EQ(qwen2.encode("Cafe\u0301"), qwen2.encode("Caf\u00e9"));
  EXPECT_EQ(qwen2.encode("\u2126"), qwen2.encode("\u03a9"));  // OHM SIGN is Omega
  EXPECT_EQ(qwen2.encode("\u1100\u1161"), qwen2.encode("\uac00"));
}

// Feeding each case's ids one at a time emits only whole characters, and everything emitted
// is the decoded text.
TEST(StreamingDetokenizer, AddsUpToDecodeForEveryCase) {
  for (const auto& [family, expected] : Cases().items()) {
    const Tokenizer tokenizer = Load(family);
    for (const Json& c : expected.at("cases")) {
      StreamingDetokenizer detokenizer(tokenizer);
      std::string streamed;
      for (int32_t id : IdsWithSpecial(c)) {
        const std::string piece = detokenizer.add_token(id);
        EXPECT_TRUE(IsValidUtf8(piece)) << family << ": " << c.at("text");
        streamed += piece;
        EXPECT_EQ(detokenizer.text(), streamed);
      }
      streamed += detokenizer.finalize();
      EXPECT_EQ(streamed, c.at("decoded").get<std::string>()) << family << ": " << c.at("text");
      EXPECT_EQ(detokenizer.text(), streamed);
    }
  }
}

TEST(StreamingDetokenizer, HoldsBackACharacterUntilItsLastByte) {
  for (const std::string family : {"llama2", "llama3"}) {
    const Tokenizer tokenizer = Load(family);
    const std::vector<int32_t> ids = tokenizer.encode("a☃", /*add_special_tokens=*/false);
    ASSERT_GE(ids.size(), 3u) << family;  // a, then ☃'s three bytes
    StreamingDetokenizer detokenizer(tokenizer);
    std::vector<std::string> pieces;
    for (int32_t id : ids) pieces.push_back(detokenizer.add_token(id));
    EXPECT_EQ(pieces[pieces.size() - 3], "") << family;
    EXPECT_EQ(pieces[pieces.size() - 2], "") << family;
    EXPECT_EQ(pieces.back(), "☃") << family;
    EXPECT_EQ(detokenizer.finalize(), "") << family;
  }
}

TEST(StreamingDetokenizer, FinalizeReturnsAnIncompleteCharacterAsReplacement) {
  const Tokenizer llama3 = Load("llama3");
  const std::vector<int32_t> ids = llama3.encode("☃", /*add_special_tokens=*/false);
  StreamingDetokenizer detokenizer(llama3);
  EXPECT_EQ(detokenizer.add_token(ids[0]), "");
  EXPECT_EQ(detokenizer.finalize(), "\uFFFD");
  EXPECT_EQ(detokenizer.text(), "\uFFFD");
}

TEST(Tokenizer, RejectsWhatItDoesNotSupport) {
  EXPECT_EQ(
      BuildError([] { Tokenizer::from_json(R"({"model": {"type": "Unigram", "vocab": []}})"); }),
      "[Tokenizer] tokenizer.json: model type \"Unigram\" is not supported (BPE only)");
  EXPECT_EQ(BuildError([] {
              Tokenizer::from_json(R"({"pre_tokenizer": {"type": "WhitespaceSplit"},
                                       "model": {"type": "BPE", "vocab": {}, "merges": []}})");
            }),
            "[Tokenizer] tokenizer.json: pre_tokenizer type \"WhitespaceSplit\" is not supported "
            "(Split, ByteLevel, Metaspace, Digits and Sequence are)");
  EXPECT_EQ(BuildError([] {
              Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [],
                                                 "continuing_subword_prefix": "##"}})");
            }),
            "[Tokenizer] tokenizer.json: BPE continuing_subword_prefix is not supported");
  EXPECT_EQ(BuildError([] {
              Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0},
                                                 "merges": ["a b"]}})");
            }),
            "[Tokenizer] tokenizer.json: BPE merge \"a b\" names a token not in the vocab");
}

TEST(Tokenizer, NamesTheFileThatIsMalformed) {
  const std::string path = TestData("tokenizer_llama3.json");
  const std::string missing = "/nonexistent/tokenizer.json";
  EXPECT_EQ(BuildError([&] { Tokenizer::from_file(missing); }),
            "[Tokenizer] cannot read /nonexistent/tokenizer.json");
  EXPECT_EQ(BuildError([] {
              Tokenizer::from_json("{\"model\": ");
            }).rfind("[Tokenizer] tokenizer.json is not valid JSON (", 0),
            0u);
  EXPECT_EQ(BuildError([] {
              Tokenizer::from_json(R"({"model": {"type": "BPE"}})");
            }).rfind("[Tokenizer] tokenizer.json is malformed (", 0),
            0u);
}

TEST(Tokenizer, RejectsIdsOutsideTheVocabulary) {
  const Tokenizer llama3 = Load("llama3");
  const auto size = static_cast<int32_t>(llama3.vocab_size());
  EXPECT_EQ(BuildError([&] { llama3.id_to_token(size); }),
            "[Tokenizer] id " + std::to_string(size) + " is not in the vocabulary");
  EXPECT_EQ(BuildError([&] {
              llama3.decode({0, -1});
            }),
            "[Tokenizer] decode: id -1 is not in the vocabulary");
  EXPECT_EQ(BuildError([&] { llama3.encode("ok \xFF"); }),
            "[Tokenizer] encode: the text is not valid UTF-8 (at byte 3)");
}

}  // namespace
}  // namespace ferry::lm
