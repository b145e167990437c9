#ifndef FERRY_CLIENT_ERROR_H_
#define FERRY_CLIENT_ERROR_H_

#include <stdexcept>
#include <string>

namespace ferry {

// Why an operation failed. The values are gRPC's status codes, so a daemon's answer maps
// one to one.
enum class ErrorCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "INVALID_ARGUMENT", "UNAVAILABLE", ... as gRPC spells them.
const char* ErrorCodeName(ErrorCode code);

// What every failing ferry call throws: a bad op ("[matmul] ..." at the line that built
// it), an unreachable daemon, or the daemon's own status with its code and message.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace ferry

#endif  // FERRY_CLIENT_ERROR_H_
