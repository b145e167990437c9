#ifndef FERRY_CLIENT_LM_SERVER_STOP_STRINGS_H_
#define FERRY_CLIENT_LM_SERVER_STOP_STRINGS_H_

#include <string>
#include <vector>

namespace ferry::lm::server {

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
