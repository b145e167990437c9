// The BPE model of Hugging Face's `tokenizers`: a piece starts as its characters (or their
// "<0xAB>" byte tokens, or the unknown token) and the pair of neighbours with the lowest merge
// rank merges first, leftmost first among equal ranks, until no pair merges.

#include <algorithm>
#include <cstdio>
#include <functional>
#include <queue>
#include <string>
#include <vector>

#include "client/lm/tokenizer_internal.h"

namespace ferry::lm::internal {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return uint64_t{static_cast<uint32_t>(left)} << 32 | static_cast<uint32_t>(right);
}

// A merge as the file spells it: "a b" (older files) or ["a", "b"].
std::pair<std::string, std::string> ParseMerge(const Json& merge) {
  if (merge.is_array() && merge.size() == 2) {
    return {merge[0].get<std::string>(), merge[1].get<std::string>()};
  }
  if (merge.is_string()) {
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ');
    if (space != std::string::npos && text.find(' ', space + 1) == std::string::npos) {
      return {text.substr(0, space), text.substr(space + 1)};
    }
  }
  Unsupported("BPE merge " + merge.dump() + " is not \"a b\" nor [\"a\", \"b\"]");
}

bool IsSetString(const Json& model, const char* key) {
  return model.contains(key) && !model.at(key).is_null() &&
         !model.at(key).get<std::string>().empty();
}

}  // namespace

Bpe::Bpe(const Json& model) {
  if (model.contains("dropout") && !model.at("dropout").is_null() &&
      model.at("dropout").get<double>() != 0.0) {
    Unsupported("BPE dropout is not supported");
  }
  // Qwen2 writes "" for both: the same as unset.
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (IsSetString(model, key)) Unsupported(std::string("BPE ") + key + " is not supported");
  }
  vocab_ = model.at("vocab").get<std::unordered_map<std::string, int32_t>>();
  const Json& merges = model.at("merges");
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto [left, right] = ParseMerge(merges[rank]);
    const auto left_id = vocab_.find(left), right_id = vocab_.find(right),
               merged = vocab_.find(left + right);
    if (left_id == vocab_.end() || right_id == vocab_.end() || merged == vocab_.end()) {
      Unsupported("BPE merge \"" + left + " " + right + "\" names a token not in the vocab");
    }
    merges_[PairKey(left_id->second, right_id->second)] = {static_cast<int32_t>(rank),
                                                           merged->second};
  }
  if (IsSetString(model, "unk_token")) {
    const auto unk = vocab_.find(model.at("unk_token").get<std::string>());
    if (unk == vocab_.end()) Unsupported("BPE unk_token is not in the vocab");
    unk_id_ = unk->second;
  }
  fuse_unk_ = BoolOr(model, "fuse_unk", false);
  byte_fallback_ = BoolOr(model, "byte_fallback", false);
  ignore_merges_ = BoolOr(model, "ignore_merges", false);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const auto it = vocab_.find(name);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

std::optional<Bpe::Merge> Bpe::FindMerge(int32_t left, int32_t right) const {
  const auto it = merges_.find(PairKey(left, right));
  if (it == merges_.end()) return std::nullopt;
  return it->second;
}

std::vector<Bpe::Symbol> Bpe::Symbols(const std::string& piece) const {
  std::vector<Symbol> symbols;
  const auto add = [&](int32_t id) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1});
  };
  bool last_was_unk = false;
  for (size_t i = 0; i < piece.size();) {
    const size_t length = std::min(Utf8Length(piece[i]), piece.size() - i);
    const std::string character = piece.substr(i, length);
    i += length;
    if (const auto it = vocab_.find(character); it != vocab_.end()) {
      add(it->second);
      last_was_unk = false;
      continue;
    }
    const bool all_bytes =
        byte_fallback_ && std::all_of(character.begin(), character.end(), [&](char c) {
          return byte_ids_[static_cast<unsigned char>(c)] >= 0;
        });
    if (all_bytes) {
      for (char c : character) add(byte_ids_[static_cast<unsigned char>(c)]);
      last_was_unk = false;
      continue;
    }
    // Without an unk token an unknown character is dropped, as Hugging Face does.
    if (unk_id_ && !(fuse_unk_ && last_was_unk)) add(*unk_id_);
    last_was_unk = unk_id_.has_value();
  }
  if (!symbols.empty()) symbols.back().next = -1;
  return symbols;
}

void Bpe::Tokenize(const std::string& piece, std::vector<int32_t>& ids) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    // Llama 3: a piece that is itself a token stays whole, whatever the merges would make.
    if (const auto it = vocab_.find(piece); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  std::vector<Symbol> symbols = Symbols(piece);
  struct Candidate {
    int32_t rank;
    int32_t pos;  // of the left symbol
    int32_t id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto push = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    if (std::optional<Merge> merge = FindMerge(symbols[pos].id, symbols[next].id)) {
      queue.push({merge->rank, pos, merge->id});
    }
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) push(pos);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    // Stale entries: the left symbol merged away, or its pair changed since.
    if (left.merged_away || left.next < 0) continue;
    const std::optional<Merge> merge = FindMerge(left.id, symbols[left.next].id);
    if (!merge || merge->id != top.id) continue;
    Symbol& right = symbols[left.next];
    left.id = top.id;
    right.merged_away = true;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  for (const Symbol& symbol : symbols) {
    if (!symbol.merged_away) ids.push_back(symbol.id);
  }
}

}  // namespace ferry::lm::internal
