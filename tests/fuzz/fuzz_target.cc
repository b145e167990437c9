#include "tests/fuzz/fuzz_target.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tests/random_graphs.h"

namespace ferry::fuzz {

void Check(bool holds, const std::string& what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", what.c_str());
  std::abort();
}

void CheckClientError(const absl::Status& status, const std::string& stage) {
  Check(testing::IsClientError(status.code()),
        absl::StrCat(stage, " answered ", status.ToString()));
}

size_t WriteMutation(const std::string& mutated, uint8_t* data, size_t size, size_t max_size) {
  if (mutated.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, mutated.data(), mutated.size());
  return mutated.size();
}

std::vector<Record> SplitRecords(const uint8_t* data, size_t size, size_t header_bytes,
                                 size_t max_records) {
  std::vector<Record> records;
  size_t at = 0;
  while (size - at >= header_bytes + 4 && records.size() < max_records) {
    Record record;
    record.header.assign(reinterpret_cast<const char*>(data + at), header_bytes);
    uint32_t length = 0;
    std::memcpy(&length, data + at + header_bytes, 4);
    at += header_bytes + 4;
    if (length > size - at) break;
    record.bytes.assign(reinterpret_cast<const char*>(data + at), length);
    at += length;
    records.push_back(std::move(record));
  }
  return records;
}

std::string JoinRecords(const std::vector<Record>& records) {
  std::string out;
  for (const Record& record : records) {
    const uint32_t length = static_cast<uint32_t>(record.bytes.size());
    out += record.header;
    out.append(reinterpret_cast<const char*>(&length), 4);
    out += record.bytes;
  }
  return out;
}

}  // namespace ferry::fuzz
