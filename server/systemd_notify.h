#ifndef FERRY_SERVER_SYSTEMD_NOTIFY_H_
#define FERRY_SERVER_SYSTEMD_NOTIFY_H_

#include <string>

#include "absl/time/time.h"

namespace ferry::server {

// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", "WATCHDOG=1") to systemd over the
// datagram socket named by $NOTIFY_SOCKET, as sd_notify(3) does. A no-op, returning false,
// when ferryd is not run by systemd with Type=notify.
bool NotifySystemd(const std::string& state);

// The watchdog interval systemd asked for ($WATCHDOG_USEC, for this process), or zero.
absl::Duration SystemdWatchdogInterval();

}  // namespace ferry::server

#endif  // FERRY_SERVER_SYSTEMD_NOTIFY_H_
