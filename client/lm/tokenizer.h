#ifndef FERRY_CLIENT_LM_TOKENIZER_H_
#define FERRY_CLIENT_LM_TOKENIZER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/lm/chat_template.h"

namespace ferry::lm {

// A tokenizer read from a Hugging Face tokenizer.json (what transformers' fast tokenizers and
// mlx-lm load), encoding and decoding as the `tokenizers` library does. It supports the BPE
// model and the components the LLM families use: byte-level BPE (GPT-2, Llama 3, Qwen2,
// Mistral-Nemo) and SentencePiece-style BPE with byte fallback (Llama 2, Mistral, TinyLlama),
// added tokens, and TemplateProcessing post-processors. Loading anything else (a Unigram or
// WordPiece model, an unknown normalizer, pre-tokenizer, decoder or post-processor) throws
// ferry::Error naming the component. Copies share the loaded tables; all methods are const
// and safe to call from several threads.
class Tokenizer {
 public:
  // Reads path; throws ferry::Error naming the file and what is malformed or unsupported.
  static Tokenizer from_file(const std::string& path);
  // Parses the text of a tokenizer.json; errors name it "tokenizer.json".
  static Tokenizer from_json(const std::string& json_text);

  // The ids of text (UTF-8; invalid UTF-8 throws ferry::Error). With add_special_tokens the
  // post-processor's template adds its tokens (a BOS such as <s> or <|begin_of_text|>).
  // Added tokens written literally in text (e.g. "<|im_start|>") encode as their ids.
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = true) const;
  // The text of ids, through the decoder; skip_special_tokens drops the added tokens marked
  // special. Throws ferry::Error on an id outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // The id of token (an added token or a vocabulary entry, as the vocabulary spells it).
  std::optional<int32_t> token_to_id(const std::string& token) const;
  // The token of id as the vocabulary spells it (e.g. "Ġthe", "▁the", "<0x0A>"); throws
  // ferry::Error on an id outside the vocabulary.
  std::string id_to_token(int32_t id) const;
  // The number of distinct tokens, added tokens included (Hugging Face's len(tokenizer)).
  int64_t vocab_size() const;
  // Whether id is an added token marked special (bos, eos, pad, chat markers...).
  bool is_special(int32_t id) const;

  // The tokens that end a reply, as mlx-lm's TokenizerWrapper.eos_token_ids: lm::load adds
  // tokenizer_config.json's eos_token and config.json's eos_token_id. add_eos_token ignores
  // an id already there and throws ferry::Error on one outside the vocabulary.
  const std::vector<int32_t>& eos_token_ids() const { return eos_token_ids_; }
  void add_eos_token(int32_t id);

  // The model's chat template (lm::load_tokenizer sets the directory's, if it has one).
  bool has_chat_template() const { return chat_template_ != nullptr; }
  // It, or null (the server reads its source for the markers of tool calls).
  const ChatTemplate* chat_template() const { return chat_template_.get(); }
  void set_chat_template(ChatTemplate chat_template);
  // The prompt text for `messages`, as transformers' apply_chat_template(messages,
  // tokenize=False); see ChatTemplate::apply. Throws ferry::Error (FAILED_PRECONDITION)
  // without a chat template.
  std::string apply_chat_template(const nlohmann::ordered_json& messages,
                                  const ChatTemplateOptions& options = {}) const;
  // Its ids, as apply_chat_template(tokenize=True): encoded without adding special tokens, as
  // the template writes the BOS itself.
  std::vector<int32_t> apply_chat_template_ids(const nlohmann::ordered_json& messages,
                                               const ChatTemplateOptions& options = {}) const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  std::vector<int32_t> eos_token_ids_;
  std::shared_ptr<const ChatTemplate> chat_template_;
};

// Text as a model generates it, one id at a time, as mlx-lm's StreamingDetokenizer: each
// add_token returns the text that became final, only whole UTF-8 characters (a character
// whose bytes span several byte tokens is held back until its last byte arrives). The
// concatenation of everything returned, finalize() included, is decode() of all the ids.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // Appends id; returns the newly finalized text (often empty).
  std::string add_token(int32_t id);
  // Returns the text held back so far (an incomplete character decodes as U+FFFD). Ids
  // added afterwards start a new stream.
  std::string finalize();
  // Everything add_token and finalize have returned.
  std::string text() const { return text_; }

 private:
  std::string Decode(size_t begin, size_t end) const;  // ids_[begin, end)

  Tokenizer tokenizer_;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0;  // the window decoded each step starts here
  size_t read_ = 0;    // ids before this are in text_
  std::string text_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_TOKENIZER_H_
