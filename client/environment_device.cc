// device_from_environment: FERRY_DEVICE and the credentials beside it, read as ferryctl's
// flags of the same names are.

#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/device.h"
#include "client/error.h"
#include "client/status.h"
#include "core/read_file.h"

namespace ferry {
namespace {

std::string Variable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// The contents of the file the variable `name` names ("" when unset), or an Error naming
// the variable.
std::string FileNamedBy(const char* name) {
  const std::string path = Variable(name);
  if (path.empty()) return "";
  absl::StatusOr<std::string> contents = core::ReadFile(path);
  if (!contents.ok()) {
    detail::ThrowIfError(absl::Status(contents.status().code(),
                                      absl::StrCat(name, ": ", contents.status().message())));
  }
  return *std::move(contents);
}

}  // namespace

Device device_from_environment() {
  const std::string address(absl::StripAsciiWhitespace(Variable("FERRY_DEVICE")));
  if (address.empty() || address == "local") return local();
  ConnectOptions options;
  options.token = Variable("FERRY_TOKEN");
  options.root_certs = FileNamedBy("FERRY_TLS_CA");
  options.client_cert = FileNamedBy("FERRY_TLS_CERT");
  options.client_key = FileNamedBy("FERRY_TLS_KEY");
  try {
    return connect(address, options);
  } catch (const Error& error) {
    throw Error(error.code(), absl::StrCat("FERRY_DEVICE=", address, ": ", error.what()));
  }
}

}  // namespace ferry
