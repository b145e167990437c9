#include "tests/fuzz/message_mutator.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "google/protobuf/descriptor.h"

namespace ferry::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// A place a mutation may land: a field of a message; `index` the element of a repeated
// field, or -1 for the field itself (a singular field, or a repeated one to grow or shrink).
struct Slot {
  Message* message;
  const FieldDescriptor* field;
  int index;
};

void CollectSlots(Message& message, std::vector<Slot>& slots) {
  const Reflection* reflection = message.GetReflection();
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const FieldDescriptor* field = descriptor->field(f);
    slots.push_back({&message, field, -1});
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(message, field);
      for (int i = 0; i < size; ++i) {
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          CollectSlots(*reflection->MutableRepeatedMessage(&message, field, i), slots);
        } else {
          slots.push_back({&message, field, i});
        }
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
               reflection->HasField(message, field)) {
      CollectSlots(*reflection->MutableMessage(&message, field), slots);
    }
  }
}

template <typename T>
T MutateNumber(T value, std::mt19937_64& random) {
  using Limits = std::numeric_limits<T>;
  switch (random() % 4) {
    case 0:
      if constexpr (Limits::is_integer) {  // in unsigned, where overflow wraps
        using U = std::make_unsigned_t<T>;
        return static_cast<T>(static_cast<U>(value) + static_cast<U>(random() % 5) - U{2});
      } else {
        return value + static_cast<T>(random() % 5) - 2;
      }
    case 1:
      return static_cast<T>(random() % 9);
    case 2: {
      const double edges[] = {0,
                              -1,
                              static_cast<double>(Limits::max()),
                              static_cast<double>(Limits::lowest()),
                              2147483648.0,
                              4611686018427387904.0,
                              Limits::has_quiet_NaN ? Limits::quiet_NaN() : 1.0,
                              Limits::has_infinity ? Limits::infinity() : 65536.0,
                              1e300};
      const double edge = edges[random() % (sizeof(edges) / sizeof(edges[0]))];
      if constexpr (Limits::is_integer) {
        if (!(edge >= static_cast<double>(Limits::lowest()) &&
              edge < static_cast<double>(Limits::max()))) {
          return Limits::max();
        }
      }
      return static_cast<T>(edge);
    }
    default: {
      const uint64_t bits = random();
      T out;
      std::memcpy(&out, &bits, sizeof(T));
      return out;
    }
  }
}

std::string MutateBytes(std::string bytes, std::mt19937_64& random) {
  switch (random() % 3) {
    case 0:
      if (!bytes.empty()) bytes[random() % bytes.size()] ^= static_cast<char>(1 << (random() % 8));
      break;
    case 1:
      bytes.resize(random() % (bytes.size() + 9));
      break;
    default:
      bytes += bytes.substr(0, random() % (bytes.size() + 1));
      break;
  }
  return bytes;
}

// Sets the singular field, or element `index` of the repeated one, to a mutation of its value.
void MutateValue(const Slot& slot, const std::vector<std::string>& words, std::mt19937_64& random) {
  Message& m = *slot.message;
  const Reflection* r = m.GetReflection();
  const FieldDescriptor* field = slot.field;
  const bool repeated = slot.index >= 0;
  const int i = slot.index;
#define FERRY_MUTATE(Type, Get, Set, GetRepeated, SetRepeated)                             \
  if (repeated) {                                                                          \
    r->SetRepeated(&m, field, i, MutateNumber<Type>(r->GetRepeated(m, field, i), random)); \
  } else {                                                                                 \
    r->Set(&m, field, MutateNumber<Type>(r->Get(m, field), random));                       \
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      FERRY_MUTATE(int32_t, GetInt32, SetInt32, GetRepeatedInt32, SetRepeatedInt32);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      FERRY_MUTATE(int64_t, GetInt64, SetInt64, GetRepeatedInt64, SetRepeatedInt64);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      FERRY_MUTATE(uint32_t, GetUInt32, SetUInt32, GetRepeatedUInt32, SetRepeatedUInt32);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      FERRY_MUTATE(uint64_t, GetUInt64, SetUInt64, GetRepeatedUInt64, SetRepeatedUInt64);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      FERRY_MUTATE(double, GetDouble, SetDouble, GetRepeatedDouble, SetRepeatedDouble);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      FERRY_MUTATE(float, GetFloat, SetFloat, GetRepeatedFloat, SetRepeatedFloat);
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      FERRY_MUTATE(int, GetEnumValue, SetEnumValue, GetRepeatedEnumValue, SetRepeatedEnumValue);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      if (repeated) {
        r->SetRepeatedBool(&m, field, i, !r->GetRepeatedBool(m, field, i));
      } else {
        r->SetBool(&m, field, !r->GetBool(m, field));
      }
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string old = repeated ? r->GetRepeatedString(m, field, i) : r->GetString(m, field);
      const bool word =
          field->type() == FieldDescriptor::TYPE_STRING && !words.empty() && random() % 4 != 0;
      const std::string value = word ? words[random() % words.size()] : MutateBytes(old, random);
      if (repeated) {
        r->SetRepeatedString(&m, field, i, value);
      } else {
        r->SetString(&m, field, value);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:  // an unset message: set it
      r->MutableMessage(&m, field);
      break;
  }
#undef FERRY_MUTATE
}

// Adds an element to a repeated field (a copy of one it holds, or a default one), or
// removes one.
void Resize(const Slot& slot, std::mt19937_64& random) {
  Message& m = *slot.message;
  const Reflection* r = m.GetReflection();
  const FieldDescriptor* field = slot.field;
  const int size = r->FieldSize(m, field);
  if (size > 0 && random() % 2 == 0) {
    r->SwapElements(&m, field, static_cast<int>(random() % size), size - 1);
    r->RemoveLast(&m, field);
    return;
  }
  const int from = size > 0 ? static_cast<int>(random() % size) : -1;
  switch (field->cpp_type()) {
#define FERRY_ADD(Get, Add, zero) r->Add(&m, field, from >= 0 ? r->Get(m, field, from) : zero);
    case FieldDescriptor::CPPTYPE_INT32:
      FERRY_ADD(GetRepeatedInt32, AddInt32, 0) break;
    case FieldDescriptor::CPPTYPE_INT64:
      FERRY_ADD(GetRepeatedInt64, AddInt64, 0) break;
    case FieldDescriptor::CPPTYPE_UINT32:
      FERRY_ADD(GetRepeatedUInt32, AddUInt32, 0) break;
    case FieldDescriptor::CPPTYPE_UINT64:
      FERRY_ADD(GetRepeatedUInt64, AddUInt64, 0) break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      FERRY_ADD(GetRepeatedDouble, AddDouble, 0) break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      FERRY_ADD(GetRepeatedFloat, AddFloat, 0) break;
    case FieldDescriptor::CPPTYPE_BOOL:
      FERRY_ADD(GetRepeatedBool, AddBool, false) break;
    case FieldDescriptor::CPPTYPE_ENUM:
      FERRY_ADD(GetRepeatedEnumValue, AddEnumValue, 0) break;
    case FieldDescriptor::CPPTYPE_STRING:
      FERRY_ADD(GetRepeatedString, AddString, std::string()) break;
#undef FERRY_ADD
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* added = r->AddMessage(&m, field);
      if (from >= 0) added->CopyFrom(r->GetRepeatedMessage(m, field, from));
      break;
    }
  }
}

}  // namespace

void MutateMessage(Message& message, const std::vector<std::string>& words,
                   std::mt19937_64& random) {
  std::vector<Slot> slots;
  CollectSlots(message, slots);
  if (slots.empty()) return;
  const Slot& slot = slots[random() % slots.size()];
  if (slot.field->is_repeated() && slot.index < 0) {
    Resize(slot, random);
  } else if (slot.field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    // A set message's own fields are slots of their own; this one clears or sets it.
    const Reflection* r = slot.message->GetReflection();
    if (r->HasField(*slot.message, slot.field)) {
      r->ClearField(slot.message, slot.field);
    } else {
      r->MutableMessage(slot.message, slot.field);
    }
  } else {
    MutateValue(slot, words, random);
  }
}

}  // namespace ferry::fuzz
