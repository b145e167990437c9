#ifndef FERRY_SERVER_PEER_COPY_H_
#define FERRY_SERVER_PEER_COPY_H_

// Copies of buffers between daemons (feature "peer_copy"; the protocol is in ferry.proto,
// "Copies between daemons"): the bytes go from the source daemon's tensor to the
// destination's over the source's bulk channel, never through the client.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/graph.h"
#include "core/stream_socket.h"
#include "kernels/backend.h"
#include "kernels/tensor.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/peer_links.h"
#include "server/session_manager.h"

namespace ferry::server {

// How long a fetch waits for its offer to be announced at all while the source session runs
// no execute (the client sends it to the source as it sends the upload to the destination, and
// the source's stream reads it once the steps before it have run); once announced, it
// waits for as long as the steps before the offer take.
inline constexpr absl::Duration kOfferAnnounceTimeout = absl::Seconds(30);

// The destination's side (a PipelineUpload with peer_source): fetches the offer from the
// source daemon (on a connection kept from an earlier copy from there, else a new one; kept
// after for the next) and receives it into a new tensor of `session_id`, checked against the
// step's `type` and the session's quota. INVALID_ARGUMENT for a malformed source or a type
// that differs, UNAVAILABLE when the source cannot be reached or the connection breaks,
// CANCELLED once `cancelled` says so; otherwise the source's refusal (NOT_FOUND: no such
// session or offer) or the failure of the step that was to compute the buffer, with its code.
absl::StatusOr<kernels::Tensor> FetchFromPeer(PeerLinks& links, SessionManager& sessions,
                                              kernels::Backend& backend,
                                              const std::string& session_id, uint64_t buffer_id,
                                              const core::TensorType& type,
                                              const v1::PeerSource& source,
                                              const std::function<bool()>& cancelled);

// What each fetch served reports: how it went, when it began and the bytes sent.
using FetchObserver = std::function<void(const absl::Status&, absl::Time start, uint64_t sent)>;

// The source's side, on its bulk channel (a hello with `fetch`): for each fetch, admits it
// (the connection's address within the peer networks, the session open), waits for the
// offer, and sends its download answer and bytes; then serves the next PeerFetch the
// fetching daemon sends on the same connection, until it closes it, stays silent a minute,
// or `stop` says the channel is closing. `links` null: this daemon copies nothing to others.
void ServeFetches(core::ByteStream& stream, SessionManager& sessions, kernels::Backend& backend,
                  const PeerLinks* links, v1::PeerFetch fetch, const std::function<bool()>& stop,
                  const FetchObserver& observe);

}  // namespace ferry::server

#endif  // FERRY_SERVER_PEER_COPY_H_
