#ifndef FERRY_EXAMPLES_LOCAL_FERRYD_H_
#define FERRY_EXAMPLES_LOCAL_FERRYD_H_

#include <memory>
#include <string>

#include "server/ferryd_process.h"

namespace ferry::examples {

// Starts ferryd from the runfiles of the program at `argv0` on a free loopback port, its log
// going to $TMPDIR/ferry-<program>-ferryd.log (the path is stored in `log_path`) rather than
// to the terminal. Prints why to stderr and returns null when it cannot.
std::unique_ptr<server::FerrydProcess> StartLocalFerryd(const char* argv0, const char* program,
                                                        std::string* log_path);

// The address of the daemon an example trains on: `remote` when it is given, else that of a
// ferryd started here (kept in `daemon`; where it listens and logs is printed). Empty when
// none could be started.
std::string RemoteOrLocalFerryd(const char* argv0, const char* program, const std::string& remote,
                                std::unique_ptr<server::FerrydProcess>* daemon);

}  // namespace ferry::examples

#endif  // FERRY_EXAMPLES_LOCAL_FERRYD_H_
