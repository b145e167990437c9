#ifndef FERRY_TESTS_FUZZ_BULK_RECORDS_H_
#define FERRY_TESTS_FUZZ_BULK_RECORDS_H_

// The bulk channel targets' inputs: records (fuzz_target.h) whose one-byte header says what
// the bytes are on the wire: a message, sent after its 4-byte little-endian length, as the
// bulk channel frames it (proto/ferry/v1/ferry.proto), or raw bytes, sent as they are.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/message.h"
#include "tests/fuzz/fuzz_target.h"

namespace ferry::fuzz {

constexpr size_t kMaxBulkRecords = 32;

inline std::vector<Record> SplitBulkRecords(const uint8_t* data, size_t size) {
  return SplitRecords(data, size, 1, kMaxBulkRecords);
}

inline bool IsMessage(const Record& record) { return record.header[0] == 0; }
inline Record MessageRecord(const google::protobuf::Message& message) {
  return {{'\0'}, message.SerializeAsString()};
}
inline Record RawRecord(std::string bytes) { return {{'\1'}, std::move(bytes)}; }

// Appends `record` as it goes on the wire, `bytes` in place of its own.
inline void AppendToWire(const Record& record, const std::string& bytes, std::string& wire) {
  if (IsMessage(record)) {
    const uint32_t length = static_cast<uint32_t>(bytes.size());
    wire.append(reinterpret_cast<const char*>(&length), 4);
  }
  wire += bytes;
}

}  // namespace ferry::fuzz

#endif  // FERRY_TESTS_FUZZ_BULK_RECORDS_H_
