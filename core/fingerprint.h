#ifndef FERRY_CORE_FINGERPRINT_H_
#define FERRY_CORE_FINGERPRINT_H_

#include <string>

#include "core/graph.h"

namespace ferry::core {

// The structural identity of a graph: 16 bytes of SHA-256 over a canonical encoding of
// its ops, inputs, attributes (constant values included), dtypes, shapes and outputs.
// Equal graphs have equal fingerprints on every platform; data bound to parameters is not
// part of it, so a training step ships its graph once and then only this id.
std::string GraphFingerprint(const Graph& graph);

// Lower-case hex of a fingerprint, for logs.
std::string FingerprintToHex(const std::string& fingerprint);

}  // namespace ferry::core

#endif  // FERRY_CORE_FINGERPRINT_H_
