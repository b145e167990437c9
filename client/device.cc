#include "client/device.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/device_impl.h"
#include "client/error.h"
#include "core/page_aligned.h"
#include "core/shape.h"

namespace ferry {
namespace {

std::mutex& DefaultMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

// Never destroyed, so arrays in static storage may outlive main().
Device*& DefaultSlot() {
  static Device* device = nullptr;
  return device;
}

}  // namespace

namespace {
thread_local int cached_uploads_depth = 0;
}  // namespace

CachedUploads::CachedUploads() { ++cached_uploads_depth; }
CachedUploads::~CachedUploads() { --cached_uploads_depth; }
bool CachedUploads::active() { return cached_uploads_depth > 0; }

namespace detail {

std::string RandomKey() {
  std::random_device entropy;
  std::string key(16, '\0');
  for (char& byte : key) byte = static_cast<char>(entropy() & 0xff);
  return key;
}

std::vector<std::shared_ptr<Buffer>> DeviceImpl::FromHostReader(
    const std::vector<core::TensorType>& types, const HostReader& read) {
  size_t largest = 0;
  for (const core::TensorType& type : types) largest = std::max(largest, core::NumBytes(type));
  // Reused (FromHostBytes copies or uploads before it returns), and page-aligned: reads
  // into it run at full speed (core/page_aligned.h).
  const std::shared_ptr<HostMemory> memory = AllocateHost(largest);
  std::vector<std::shared_ptr<Buffer>> buffers;
  for (size_t i = 0; i < types.size(); ++i) {
    read(i, memory->data());
    buffers.push_back(FromHostBytes(types[i], memory->data()));
  }
  return buffers;
}

namespace {

class PlainHostMemory : public HostMemory {
 public:
  explicit PlainHostMemory(core::PageAlignedBuffer memory, size_t bytes)
      : HostMemory(memory.data(), bytes, false), memory_(std::move(memory)) {}

 private:
  core::PageAlignedBuffer memory_;
};

}  // namespace

std::shared_ptr<HostMemory> DeviceImpl::AllocateHost(size_t bytes) {
  core::PageAlignedBuffer memory(bytes);
  if (memory.data() == nullptr) {
    throw Error(ErrorCode::kResourceExhausted,
                absl::StrCat("[HostBuffer] cannot allocate ", bytes, " bytes"));
  }
  return std::make_shared<PlainHostMemory>(std::move(memory), bytes);
}

std::shared_ptr<Buffer> DeviceImpl::CopyFrom(DeviceImpl& source,
                                             const std::shared_ptr<Buffer>& buffer) {
  const core::TensorType& type = buffer->type();
  if (const void* in_place = source.HostBytes(*buffer)) return FromHostBytes(type, in_place);
  std::string bytes(static_cast<size_t>(core::NumElements(type.shape)) * core::SizeOf(type.dtype),
                    '\0');
  source.Read(*buffer, bytes.data());
  return FromHostBytes(type, bytes.data());
}

}  // namespace detail

Device::Device(std::shared_ptr<detail::DeviceImpl> impl) : impl_(std::move(impl)) {}

std::string Device::description() const { return impl_->description(); }
DeviceInfo Device::info() const { return impl_->info(); }
DeviceStats Device::stats() const { return impl_->stats(); }

Device connect(const std::string& address, const ConnectOptions& options) {
  return Device(detail::ConnectRemoteDevice(address, options));
}

Device local() {
  static Device* device = new Device(detail::MakeLocalDevice());
  return *device;
}

Device default_device() {
  std::lock_guard<std::mutex> lock(DefaultMutex());
  // Connected at the first use; a failure is thrown, and the next use tries again.
  if (DefaultSlot() == nullptr) DefaultSlot() = new Device(device_from_environment());
  return *DefaultSlot();
}

void set_default_device(const Device& device) {
  std::lock_guard<std::mutex> lock(DefaultMutex());
  if (DefaultSlot() == nullptr) {
    DefaultSlot() = new Device(device);
  } else {
    *DefaultSlot() = device;
  }
}

}  // namespace ferry
