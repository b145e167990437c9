#include "server/log.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ferry::server {

void LogEvent(absl::string_view message) {
  std::string line = absl::StrCat(
      "ferryd ", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
      message, "\n");
  size_t written = 0;
  while (written < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;  // stderr is gone; logging must never take the daemon down
    written += static_cast<size_t>(n);
  }
}

}  // namespace ferry::server
