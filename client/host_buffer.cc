#include "client/host_buffer.h"

#include "client/device_impl.h"

namespace ferry {

HostBuffer::HostBuffer(size_t bytes, const Device& device)
    : memory_(device.impl().AllocateHost(bytes)) {}

void* HostBuffer::data() const { return memory_ != nullptr ? memory_->data() : nullptr; }
size_t HostBuffer::size() const { return memory_ != nullptr ? memory_->size() : 0; }
bool HostBuffer::in_place() const { return memory_ != nullptr && memory_->in_place(); }

}  // namespace ferry
