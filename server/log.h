#ifndef FERRY_SERVER_LOG_H_
#define FERRY_SERVER_LOG_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::server {

// Severities, with the syslog priority journald reads from a "<N>" line prefix.
enum class LogLevel { kError = 3, kWarning = 4, kInfo = 6, kDebug = 7 };

// "debug", "info", "warning" or "error" (what --log_level takes); INVALID_ARGUMENT otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

// Events less severe than `level` are dropped. The default is kInfo.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Writes one event to stderr as one line, in a single write so lines from concurrent threads
// never interleave: "<6>message request_id=ID" when stderr is the journal (systemd sets
// $JOURNAL_STREAM to its device:inode; journald stamps the time and maps the prefix to a
// priority), else "ferryd <UTC time> INFO message request_id=ID". An empty `request_id`
// is left out. Newlines in `message` become spaces, so an event is always one line.
void Log(LogLevel level, absl::string_view message, absl::string_view request_id = "");

// Log(LogLevel::kInfo, message).
void LogEvent(absl::string_view message);

}  // namespace ferry::server

#endif  // FERRY_SERVER_LOG_H_
