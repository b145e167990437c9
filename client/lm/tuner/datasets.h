#ifndef FERRY_CLIENT_LM_TUNER_DATASETS_H_
#define FERRY_CLIENT_LM_TUNER_DATASETS_H_

// mlx-lm's tuner/datasets.py: a directory's train.jsonl, valid.jsonl and test.jsonl
// tokenized into examples. Each line is one of mlx-lm's formats:
//   {"text": ...}                        the text, an end token appended when it lacks one
//   {"prompt": ..., "completion": ...}   a user turn and the assistant's, through the chat
//                                        template
//   {"messages": [{"role", "content"}]}  the conversation through the chat template
// With mask_prompt, the loss counts only the completion (the last message).

#include <string>
#include <vector>

#include "client/lm/tokenizer.h"
#include "client/lm/tuner/trainer.h"

namespace ferry::lm::tuner {

// One JSON object's example. Throws INVALID_ARGUMENT for an object of none of the formats,
// and for mask_prompt with {"text"} (as mlx-lm refuses it).
Example make_example(const std::string& json_line, const Tokenizer& tokenizer, bool mask_prompt);

// Every line of a .jsonl file (blank lines skipped); none when the file is missing.
std::vector<Example> load_dataset(const std::string& path, const Tokenizer& tokenizer,
                                  bool mask_prompt = false);

}  // namespace ferry::lm::tuner

#endif  // FERRY_CLIENT_LM_TUNER_DATASETS_H_
