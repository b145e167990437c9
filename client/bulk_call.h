#ifndef FERRY_CLIENT_BULK_CALL_H_
#define FERRY_CLIENT_BULK_CALL_H_

// Upload and Download as raw-message streams: the payload of an upload goes out as slices
// over the caller's memory, and a download's payload is copied once, from the slices gRPC
// read it into, to its destination. The messages are still ferry.v1's UploadRequest and
// DownloadResponse on the wire (core/bytes_field.h builds and splits them).

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

namespace ferry::detail {

// One streaming call driven synchronously through a completion queue of its own.
class BulkCall {
 public:
  // Starts `method` ("/ferry.v1.Ferry/Upload"); `context` must outlive the call.
  BulkCall(grpc::GenericStub& stub, grpc::ClientContext& context, const std::string& method);
  ~BulkCall();
  BulkCall(const BulkCall&) = delete;
  BulkCall& operator=(const BulkCall&) = delete;

  // False once the call is broken or the daemon has ended it (Finish says why).
  bool Write(const grpc::ByteBuffer& message);
  bool WritesDone();
  // False after the daemon's last message.
  bool Read(grpc::ByteBuffer* message);
  // Call once every message has been read.
  grpc::Status Finish();

 private:
  bool Wait();

  grpc::ClientContext& context_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
  bool finished_ = false;
};

// Hands out slices over memory the caller owns and waits, before that memory may go,
// until gRPC has let go of every one.
class BorrowedSlices {
 public:
  ~BorrowedSlices() { WaitReturned(); }
  grpc::Slice Borrow(const char* data, size_t bytes);
  void WaitReturned();

 private:
  static void Return(void* self);

  std::mutex mu_;
  std::condition_variable returned_;
  int64_t out_ = 0;
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_BULK_CALL_H_
