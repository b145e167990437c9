#ifndef FERRY_SERVER_JOIN_GROUP_H_
#define FERRY_SERVER_JOIN_GROUP_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/peer_links.h"
#include "server/ring_communicator.h"
#include "server/session_manager.h"

namespace ferry::server {

// Links `session`'s rank into its group's ring (proto: JoinGroupRequest): dials the next
// rank's bulk channel until it admits the link, takes the previous rank's link from
// `links`, and adds the group to the session. INVALID_ARGUMENT for a malformed request,
// ALREADY_EXISTS for a handle in use, DEADLINE_EXCEEDED or UNAVAILABLE naming the rank that
// could not be reached, CANCELLED once `cancelled` says the client gave up (another rank
// failed). With `request.device_collectives`, the ranks then find out over the ring whether
// every one's `backend` runs collectives on its own memory (NCCL between GPUs), and join
// them if so; where any cannot (or its daemon will not: `backend` null), the group stages
// through host memory (logged, not failed). Returns how the group's collectives move:
// "ring", or the device collectives' name ("nccl").
absl::StatusOr<std::string> JoinGroup(Session& session, PeerLinks& links, kernels::Backend* backend,
                                      const v1::JoinGroupRequest& request,
                                      const std::function<bool()>& cancelled);

// JoinGroup's second step, on a linked `ring`: whether every rank's backend can join the
// group's device collectives, and rank 0's id for them (backend->NewDeviceGroupId), go around
// the ring; then every rank joins, and whether all did goes around too (a group half on the
// device would wait for ever). If all did, the ring runs them (RingCommunicator::SetDevice).
// OK whether or not; a failure only when the ring itself failed. `group` names it in logs.
absl::Status JoinDevices(RingCommunicator& ring, kernels::Backend* backend,
                         absl::Duration join_within, absl::Duration call_timeout,
                         const std::string& group);

}  // namespace ferry::server

#endif  // FERRY_SERVER_JOIN_GROUP_H_
