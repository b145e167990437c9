#ifndef FERRY_SERVER_EXECUTE_H_
#define FERRY_SERVER_EXECUTE_H_

#include "absl/status/statusor.h"
#include "kernels/executor.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/graph_cache.h"
#include "server/server_options.h"
#include "server/session_manager.h"

namespace ferry::server {

// Runs one ExecuteRequest in `session`, in this order:
//  1. frees release_buffer_ids (handles not resident are ignored);
//  2. finds the graph: the request's graph, validated and stored in `graphs` by
//     fingerprint, or the stored graph named by graph_id (MissingGraphError: NOT_FOUND
//     "unknown graph_id <hex>: send the graph", with the id as its payload);
//  3. binds parameter i to bindings[i], a resident buffer or an inline tensor; the count
//     and each type must match (INVALID_ARGUMENT "parameter 1: bound to float32(3,) but
//     the graph declares float32(2, 3)");
//  4. checks the requested output handles are new (ALREADY_EXISTS) before running;
//  5. runs, keeps each output whose request names a handle, and returns an output's
//     bytes inline when it is at most min(inline_up_to_bytes, max_inline_bytes).
// Outputs beyond the sent OutputRequests come back inline when at most max_inline_bytes,
// and are not kept. Nothing is kept when any step fails. The run stops, CANCELLED, once the
// session is closed or `cancelled` (when set) says so: nobody is left to read its results.
absl::StatusOr<v1::ExecuteResponse> Execute(Session& session, kernels::Executor& executor,
                                            GraphCache& graphs, const ServerOptions& options,
                                            const v1::ExecuteRequest& request,
                                            const kernels::CancelCheck& cancelled = nullptr);

}  // namespace ferry::server

#endif  // FERRY_SERVER_EXECUTE_H_
