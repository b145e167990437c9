#include "client/bulk_call.h"

namespace ferry::detail {
namespace {

void* Tag() { return reinterpret_cast<void*>(1); }

}  // namespace

BulkCall::BulkCall(grpc::GenericStub& stub, grpc::ClientContext& context, const std::string& method)
    : context_(context), call_(stub.PrepareCall(&context, method, &queue_)) {
  call_->StartCall(Tag());
  started_ = Wait();
}

BulkCall::~BulkCall() {
  if (!finished_) {
    // Abandoned mid-call (an exception): cancel it and drain the queue before it goes.
    context_.TryCancel();
    Finish();
  }
  queue_.Shutdown();
  void* tag;
  bool ok;
  while (queue_.Next(&tag, &ok)) {
  }
}

bool BulkCall::Wait() {
  void* tag;
  bool ok = false;
  if (!queue_.Next(&tag, &ok)) return false;
  return ok;
}

bool BulkCall::Write(const grpc::ByteBuffer& message) {
  if (!started_) return false;
  call_->Write(message, Tag());
  return Wait();
}

bool BulkCall::WritesDone() {
  if (!started_) return false;
  call_->WritesDone(Tag());
  return Wait();
}

bool BulkCall::Read(grpc::ByteBuffer* message) {
  if (!started_) return false;
  call_->Read(message, Tag());
  return Wait();
}

grpc::Status BulkCall::Finish() {
  finished_ = true;
  grpc::Status status;
  call_->Finish(&status, Tag());
  Wait();
  return status;
}

grpc::Slice BorrowedSlices::Borrow(const char* data, size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++out_;
  }
  return grpc::Slice(const_cast<char*>(data), bytes, &BorrowedSlices::Return, this);
}

void BorrowedSlices::Return(void* self) {
  auto* slices = static_cast<BorrowedSlices*>(self);
  std::lock_guard<std::mutex> lock(slices->mu_);
  if (--slices->out_ == 0) slices->returned_.notify_all();
}

void BorrowedSlices::WaitReturned() {
  std::unique_lock<std::mutex> lock(mu_);
  returned_.wait(lock, [this] { return out_ == 0; });
}

}  // namespace ferry::detail
