// Collectives across the ranks of a group of sessions (client/distributed.h): all_sum
// all_max all_min all_gather sum_scatter all_to_all, which every rank runs alike, and send and
// recv, which a pair of ranks runs. The executor moves the bytes between daemons
// (kernels/collectives.h), no backend kernel does.
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"
#include "core/shape.h"

namespace ferry::core::ops_internal {
namespace {

// The group's size as the client built the node for it (the daemon checks it against the
// group it holds).
absl::StatusOr<int64_t> GroupSize(std::string_view op, const Attrs& attrs) {
  absl::StatusOr<int64_t> group = GetAttr<int64_t>(op, attrs, "group");
  if (!group.ok()) return group.status();
  if (*group < 1) return OpError(op, absl::StrCat("group must be at least 1, got ", *group));
  absl::StatusOr<int64_t> size = GetAttr<int64_t>(op, attrs, "size");
  if (!size.ok()) return size.status();
  if (*size < 1) return OpError(op, absl::StrCat("size must be at least 1, got ", *size));
  return *size;
}

template <const char* kOp>
absl::StatusOr<TensorType> InferAllReduce(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  if (absl::StatusOr<int64_t> size = GroupSize(kOp, attrs); !size.ok()) return size.status();
  if (inputs[0].dtype == DType::kBool) {
    return OpError(kOp, "takes no bool input (astype it to a number first)");
  }
  return inputs[0];
}

absl::StatusOr<TensorType> InferAllGather(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<int64_t> size = GroupSize("all_gather", attrs);
  if (!size.ok()) return size.status();
  TensorType out = inputs[0];
  const int64_t rows = out.shape.empty() ? 1 : out.shape[0];
  if (rows > 0 && *size > kMaxElements / rows) {
    return OpError("all_gather", absl::StrCat(rows, " rows from each of ", *size, " ranks exceed ",
                                              kMaxElements, " elements"));
  }
  // MLX's: the ranks' arrays one after another along axis 0; scalars become a vector.
  if (out.shape.empty()) {
    out.shape.push_back(*size);
  } else {
    out.shape[0] *= *size;
  }
  return out;
}

absl::StatusOr<TensorType> InferAllToAll(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<int64_t> size = GroupSize("all_to_all", attrs);
  if (!size.ok()) return size.status();
  const TensorType& in = inputs[0];
  if (in.shape.empty() || in.shape[0] % *size != 0) {
    return OpError("all_to_all", absl::StrCat("needs axis 0 divisible by the group's ", *size,
                                              " ranks, got shape ", ShapeToString(in.shape)));
  }
  return in;
}

absl::StatusOr<TensorType> InferSumScatter(absl::Span<const TensorType> inputs,
                                           const Attrs& attrs) {
  absl::StatusOr<int64_t> size = GroupSize("sum_scatter", attrs);
  if (!size.ok()) return size.status();
  TensorType out = inputs[0];
  if (out.dtype == DType::kBool) {
    return OpError("sum_scatter", "takes no bool input (astype it to a number first)");
  }
  if (out.shape.empty() || out.shape[0] % *size != 0) {
    return OpError("sum_scatter", absl::StrCat("needs axis 0 divisible by the group's ", *size,
                                               " ranks, got shape ", ShapeToString(out.shape)));
  }
  out.shape[0] /= *size;
  return out;
}

// The other rank of a send or recv (`attr` dst or src): a rank of the group.
absl::Status CheckPeer(std::string_view op, const Attrs& attrs, const char* attr, int64_t size) {
  absl::StatusOr<int64_t> peer = GetAttr<int64_t>(op, attrs, attr);
  if (!peer.ok()) return peer.status();
  if (*peer < 0 || *peer >= size) {
    return OpError(op, absl::StrCat(attr, " ", *peer, " is not a rank of a group of ", size));
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorType> InferSend(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<int64_t> size = GroupSize("send", attrs);
  if (!size.ok()) return size.status();
  if (absl::Status s = CheckPeer("send", attrs, "dst", *size); !s.ok()) return s;
  return inputs[0];
}

absl::StatusOr<TensorType> InferRecv(absl::Span<const TensorType>, const Attrs& attrs) {
  absl::StatusOr<int64_t> size = GroupSize("recv", attrs);
  if (!size.ok()) return size.status();
  if (absl::Status s = CheckPeer("recv", attrs, "src", *size); !s.ok()) return s;
  absl::StatusOr<Shape> shape = GetShape("recv", attrs);
  if (!shape.ok()) return shape.status();
  absl::StatusOr<DType> dtype = GetDType("recv", attrs);
  if (!dtype.ok()) return dtype.status();
  return TensorType{*dtype, *shape};
}

constexpr char kAllSum[] = "all_sum";
constexpr char kAllMax[] = "all_max";
constexpr char kAllMin[] = "all_min";

}  // namespace

void RegisterCollectiveOps(OpTable& table) {
  table.push_back({"all_sum", 1, 1, &InferAllReduce<kAllSum>, {"group", "size"}});
  table.push_back({"all_max", 1, 1, &InferAllReduce<kAllMax>, {"group", "size"}});
  table.push_back({"all_min", 1, 1, &InferAllReduce<kAllMin>, {"group", "size"}});
  table.push_back({"all_gather", 1, 1, &InferAllGather, {"group", "size"}});
  table.push_back({"sum_scatter", 1, 1, &InferSumScatter, {"group", "size"}});
  table.push_back({"all_to_all", 1, 1, &InferAllToAll, {"group", "size"}});
  table.push_back({"send", 1, 1, &InferSend, {"dst", "group", "size"}});
  table.push_back({"recv", 0, 0, &InferRecv, {"dtype", "group", "shape", "size", "src"}});
}

}  // namespace ferry::core::ops_internal
