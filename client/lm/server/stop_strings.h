#ifndef FERRY_CLIENT_LM_SERVER_STOP_STRINGS_H_
#define FERRY_CLIENT_LM_SERVER_STOP_STRINGS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::lm::server {

// The length of the longest end of text that begins one of `strings` without being all of
// it: what a stream must hold back, as the next text may complete the string. A string
// starts with a whole UTF-8 character, so text cut there ends on one.
size_t HeldBackLength(std::string_view text, const std::vector<std::string>& strings);

// A reply's text as it streams, cut before the first of OpenAI's `stop` strings: Add returns
// what may be sent now, holding back an end that could still become a stop string.
class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);
  // Appends text (whole UTF-8 characters); returns the part now safe to send (empty once
  // stopped).
  std::string Add(const std::string& text);
  // What was held back, once the reply ended without a stop string.
  std::string Finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_STOP_STRINGS_H_
