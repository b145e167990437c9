#include "server/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ferry::server {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

// Whether stderr is the stream systemd connected to the journal. $JOURNAL_STREAM alone is not
// enough: it is inherited by children whose stderr was redirected elsewhere.
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  std::pair<std::string, std::string> parts = absl::StrSplit(stream, ':');
  uint64_t device = 0, inode = 0;
  struct stat info;
  return absl::SimpleAtoi(parts.first, &device) && absl::SimpleAtoi(parts.second, &inode) &&
         fstat(STDERR_FILENO, &info) == 0 && info.st_dev == device && info.st_ino == inode;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kDebug:
      return "DEBUG";
  }
  return "INFO";
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("--log_level=", name, " is not a level: use debug, info, warning or error"));
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(); }

void Log(LogLevel level, absl::string_view message, absl::string_view request_id) {
  if (!LogEnabled(level)) return;
  static const bool journal = StderrIsJournal();
  std::string line =
      journal
          ? absl::StrCat("<", static_cast<int>(level), ">", message)
          : absl::StrCat("ferryd ",
                         absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                         " ", LevelName(level), " ", message);
  if (!request_id.empty()) absl::StrAppend(&line, " request_id=", request_id);
  std::replace(line.begin(), line.end(), '\n', ' ');
  line.push_back('\n');
  size_t written = 0;
  while (written < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;  // stderr is gone; logging must never take the daemon down
    written += static_cast<size_t>(n);
  }
}

void LogEvent(absl::string_view message) { Log(LogLevel::kInfo, message); }

}  // namespace ferry::server
