#ifndef FERRY_CLIENT_LM_UTF8_H_
#define FERRY_CLIENT_LM_UTF8_H_

// UTF-8 to code points and back, for the tokenizer and the chat templates' interpreter.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::lm {

// The length of the UTF-8 sequence that starts with lead byte c.
size_t Utf8Length(unsigned char c);
// The code points of valid UTF-8 text, and back.
std::vector<char32_t> DecodeUtf8(std::string_view text);
void AppendUtf8(char32_t cp, std::string& out);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_UTF8_H_
