#ifndef FERRY_TESTS_FUZZ_MESSAGE_MUTATOR_H_
#define FERRY_TESTS_FUZZ_MESSAGE_MUTATOR_H_

// Structure-aware mutation of protobuf messages, as libprotobuf-mutator does (which Debian
// does not package): one field of the message, anywhere in its tree, is changed through
// reflection, so a mutated ExecuteRequest still parses and reaches past the codec.

#include <random>
#include <string>
#include <vector>

#include "google/protobuf/message.h"

namespace ferry::fuzz {

// Changes one field of `message` or of a message inside it, drawn at random: a number
// nudged, set to an edge (0, -1, 2^31, 2^62, the type's limits, NaN, infinity) or to random
// bits; a string set to one of `words` (op and attribute names) or edited; a repeated field
// given an element (a copy of one it has, or a default one), or one removed; an unset
// message field set to its default; a bool flipped; an enum set to any number.
void MutateMessage(google::protobuf::Message& message, const std::vector<std::string>& words,
                   std::mt19937_64& random);

}  // namespace ferry::fuzz

#endif  // FERRY_TESTS_FUZZ_MESSAGE_MUTATOR_H_
