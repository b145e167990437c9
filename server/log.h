#ifndef FERRY_SERVER_LOG_H_
#define FERRY_SERVER_LOG_H_

#include "absl/strings/string_view.h"

namespace ferry::server {

// Writes one event to stderr as one line, "ferryd <UTC time> <message>", in a single
// write so lines from concurrent threads never interleave.
void LogEvent(absl::string_view message);

}  // namespace ferry::server

#endif  // FERRY_SERVER_LOG_H_
