#ifndef FERRY_CORE_CODEC_H_
#define FERRY_CORE_CODEC_H_

#include "absl/status/statusor.h"
#include "core/graph.h"
#include "proto/ferry/v1/ferry.pb.h"

namespace ferry::core {

// Conversions between the IR and ferry.v1 messages. Decoding refuses what the IR cannot
// hold (unknown dtype, attribute without a value, inline data of the wrong size) with
// INVALID_ARGUMENT naming the node or attribute; it does not validate the graph itself.

v1::DType DTypeToProto(DType dtype);
absl::StatusOr<DType> DTypeFromProto(int dtype);

void TypeToProto(const TensorType& type, v1::TensorSpec* spec);
absl::StatusOr<TensorType> TypeFromProto(const v1::TensorSpec& spec);

void HostTensorToProto(const HostTensor& tensor, v1::Tensor* proto);
absl::StatusOr<HostTensor> HostTensorFromProto(const v1::Tensor& proto);

void GraphToProto(const Graph& graph, v1::Graph* proto);
absl::StatusOr<Graph> GraphFromProto(const v1::Graph& proto);

}  // namespace ferry::core

#endif  // FERRY_CORE_CODEC_H_
