#ifndef FERRY_CLIENT_REMOTE_DEVICE_H_
#define FERRY_CLIENT_REMOTE_DEVICE_H_

// Internal to the client library: a session on a ferryd daemon as a device. Graphs go out
// as Execute steps (or just their id once the daemon holds them), large host arrays are
// uploaded once and stay resident, small ones ride inline unless evaluated explicitly, and
// results come back inline when small or by Download when read. The device face and
// evaluation are in remote_device.cc, uploads in remote_uploads.cc, downloads in
// remote_downloads.cc.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/device_impl.h"
#include "client/remote_buffer.h"
#include "client/remote_session.h"
#include "core/graph.h"
#include "grpcpp/grpcpp.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"

namespace ferry::detail {

class RemoteDevice : public DeviceImpl {
 public:
  explicit RemoteDevice(std::shared_ptr<RemoteSession> session) : session_(std::move(session)) {}

  // Closing the session frees every buffer still resident, so no Release is needed.
  ~RemoteDevice() override;

  std::string description() const override;
  DeviceInfo info() const override;
  DeviceStats stats() const override { return session_->stats(); }
  MemoryInfo Memory(bool reset_peak) override;
  std::shared_ptr<Buffer> FromHostBytes(const core::TensorType& type, const void* data) override;

  // A region the daemon maps, where it can (same host and user, ferryd --shared_memory);
  // else plain memory.
  std::shared_ptr<HostMemory> AllocateHost(size_t bytes) override;

  // The large arrays the upload cache may hold are read and hashed first and asked for
  // together; only the others are read again and sent. Arrays that stream are read into
  // host memory the daemon maps where it can (a HostBuffer's), so a load on the daemon's
  // host costs the read and the daemon's copy alone.
  std::vector<std::shared_ptr<Buffer>> FromHostReader(const std::vector<core::TensorType>& types,
                                                      const HostReader& read) override;

  void MakeResident(const std::vector<std::shared_ptr<Buffer>>& buffers) override;
  void Wait(const std::vector<std::shared_ptr<Buffer>>& buffers) override;

  // Host bytes not uploaded yet (a small array): here already.
  const void* HostBytes(Buffer& buffer) override;

  std::string PeerAddress() const override;
  bool OffersDeviceCollectives() const override;

  // Straight from the source daemon when both daemons copy between themselves and both
  // sessions pipeline (the offer and the fetch then go out without waiting, in order with
  // the steps that compute the source); else through this process.
  std::shared_ptr<Buffer> CopyFrom(DeviceImpl& source,
                                   const std::shared_ptr<Buffer>& buffer) override;

  std::string JoinGroup(const GroupJoin& join) override;
  bool ExecuteReturnsAtOnce() const override { return session_->pipeline() != nullptr; }
  void Cancel() override;
  void Synchronize() override;

  std::vector<std::shared_ptr<Buffer>> Execute(
      std::shared_ptr<const core::Graph> shared_graph,
      const std::vector<std::shared_ptr<Buffer>>& parameters, const ExecuteHints& hints) override;

  void Read(Buffer& buffer, void* dst) override;

 private:
  // Evaluation (remote_device.cc).

  // Where other daemons reach this session's daemon: ConnectOptions::peer_address, else
  // its bulk_address, else the bulk port on the host of the gRPC address ("" when none).
  std::string AddressForPeers() const;

  // Where another daemon fetches a copy from this one; "" when it cannot (or must not).
  std::string CopyAddress() const;

  // Offers `buffer` to another daemon under `ticket`: a pipeline step, after the one that
  // computes it. Throws when the step computing it is known lost.
  void Offer(RemoteBuffer& buffer, const std::string& ticket);

  // Sends the execute on the pipeline and returns at once: the outputs are named by the
  // handles chosen here, so later evals can use them before the daemon has answered.
  std::vector<std::shared_ptr<Buffer>> ExecuteOnPipeline(
      std::shared_ptr<const core::Graph> shared_graph, const std::string& graph_id,
      v1::ExecuteRequest request, int64_t inline_bytes, size_t first_held);

  // Throws, without waiting, when the stream broke before the step computing `buffer` was
  // answered (the daemon may never have run it), rather than let a later step bind a
  // handle the daemon may not hold. Caller holds buffer.mu().
  void ThrowIfLost(RemoteBuffer& buffer);

  // The stream broke before the step computing `buffer` was answered (`error` says how):
  // the buffer is lost for good, even once the pipeline has reconnected.
  static void MarkLost(RemoteBuffer& buffer, const Error& error);

  // Takes in the answer of the step that computes `buffer`, waiting for it if need be:
  // its inline bytes, or its failure, thrown now and on every later use. Throws, too, an
  // earlier step's failure not raised yet. Caller holds buffer.mu().
  void Resolve(RemoteBuffer& buffer);

  // Each output under a new handle, returned inline when small where `read` says the
  // program read it since the graph's eval before (output_reads.h) or, up to
  // kUnreadInlineBytes in all, where it is tiny (a loss read now and then, the last of a
  // chain of evals read only at the end) and a target: outputs from `first_held` on
  // (ExecuteHints) only where read.
  void SetOutputs(const core::Graph& graph, const std::vector<bool>& read, size_t first_held,
                  v1::ExecuteRequest& request);

  // One Execute; `missing_graph` gets the graph_id the daemon said it lacks, if any.
  grpc::Status Call(const v1::ExecuteRequest& request, bool ships_graph,
                    v1::ExecuteResponse* response, std::string* missing_graph);

  // One control call of the session, `method` (`call` makes it on the context given, which
  // carries ConnectOptions::control_timeout), counted as a round trip; its failure thrown.
  void UnaryCall(const char* method, const std::function<grpc::Status(grpc::ClientContext*)>& call);

  // Uploads (remote_uploads.cc).

  // The first message of an upload of `nbytes` of `type`, under a new buffer id.
  v1::UploadRequest NewUpload(const core::TensorType& type, size_t nbytes,
                              const std::string& digest);

  // A small array is kept here until an eval needs it (bound inline, or one pipeline
  // step); a large one is uploaded now, straight from `data`: no host copy is made or kept
  // (reading it back downloads it). `digest`: see UploadBytes.
  std::shared_ptr<Buffer> FromHost(const core::TensorType& type, const char* data,
                                   const std::string& digest);

  // Puts the buffer's host bytes on the daemon; the buffer is resident after. Small
  // buffers go as one pipeline step, without waiting; large ones stream on their own call
  // (so they never hold up the steps behind them).
  void Upload(RemoteBuffer& buffer);

  // Frees the buffers dropped since the last execute before a large upload adds to the
  // daemon's memory (a loop of uploads alone would otherwise pile them up): a pipeline
  // step that needs no answer, or a Release call.
  void SendReleases();

  // Makes `nbytes` at `data` the daemon's copy of `buffer` (its type), under a new id: on
  // the bulk channel, through the shared region when in use, else an Upload stream whose
  // messages carry `data` itself (no copy on this side). One whose connection breaks goes
  // on where it stopped (ResumeUpload).
  // `known_digest`: the bytes' content digest, already asked of the upload cache in vain
  // (FromHostReader); they are offered to it without asking again.
  void UploadBytes(RemoteBuffer& buffer, const char* data, size_t nbytes,
                   const std::string& known_digest = "");

  // One Upload stream of `header`'s buffer: the bytes at `data` from its resume_offset on.
  absl::Status UploadStream(const v1::UploadRequest& header, const char* data);

  // The upload `header` describes broke (UNAVAILABLE): asks the daemon how many of its
  // bytes it kept and sends the rest, on the bulk channel when it can be dialled again,
  // else gRPC; up to kTransferAttempts tries in all. `*to_pipeline` (when given) says
  // whether a pipeline step is to take the buffer: it goes unanswered on the bulk channel
  // then, and stays true only if it did (else it is resident already).
  absl::Status ResumeUpload(v1::UploadRequest header, const char* data, bool* to_pipeline = nullptr,
                            const RemoteSession::Transfer* transfer = nullptr);

  // The answer to the query `query` (resume_query or cache_query): how many bytes of the
  // upload the daemon holds now; an Upload call.
  absl::StatusOr<uint64_t> HeldBytes(const v1::UploadRequest& query);

  // Asks the daemon's upload cache for arrays of `types` whose bytes have `digests`, all at
  // once (back to back on the bulk channel: one round trip; else an Upload call each): the
  // id of each made resident from the cache, 0 for a miss (a failed query is one: the
  // upload that follows meets the same trouble and reports it).
  std::vector<uint64_t> FromCache(const std::vector<core::TensorType>& types,
                                  const std::vector<std::string>& digests);

  // An Upload call of the one message `request`, its data not on the stream; the answer.
  absl::StatusOr<v1::UploadResponse> UploadCall(v1::UploadRequest request);

  // A call of `method` (Upload or Download) on the transfers' channel that sends the one
  // message `request` and hands each reply to `take` as it comes; counts the round trip
  // and the bytes both ways.
  grpc::Status OneMessageCall(const std::string& method,
                              const google::protobuf::MessageLite& request,
                              const std::function<void(grpc::ByteBuffer&)>& take);

  // Same host: the bytes go through the session's shared region (one memcpy here, one
  // copy into the tensor there). Nothing when shared memory is not in use.
  std::optional<uint64_t> UploadShared(const core::TensorType& type, const char* data,
                                       size_t nbytes);

  // One Upload call naming the bytes' place in a region the daemon has mapped; the daemon
  // copies them into the new buffer, whose id this returns. A `digest` (bytes a load asked
  // the upload cache for) lets the daemon's cache keep them.
  uint64_t UploadFromRegion(const core::TensorType& type, size_t nbytes,
                            const RemoteSession::SharedPlace& place,
                            const std::string& digest = "");

  // The bulk channel: from `data` to the socket. With a pipeline nothing waits: the bytes
  // go unanswered and an upload step names them, in order with the steps around it;
  // without one, the daemon answers. A connection that breaks during the upload is dialled
  // again and the upload goes on where it stopped (ResumeUpload). Nothing when there is no
  // bulk channel (or the caller asked for shared memory and has it), or when the daemon
  // cannot resume (gRPC then carries the whole upload again).
  // On a pipeline the buffer is pending until its step answers: a read waits for that, so
  // it never asks for the bytes before the step has made them resident.
  bool UploadBulk(RemoteBuffer& buffer, const char* data, size_t nbytes,
                  const RemoteSession::Transfer& transfer, const std::string& digest);

  // Downloads (remote_downloads.cc).

  // What a transfer stopped by ferry::cancel throws.
  Error TransferCancelled() const;

  // The bulk channel: from the socket straight into `dst`. False when there is no bulk
  // channel, or its connection broke during this download: gRPC then reads the rest, from
  // `*done` (the bytes in place) where the daemon can start part way, else all of it.
  bool DownloadBulk(RemoteBuffer& buffer, char* dst, size_t* done);

  // Reads one Download stream of the buffer, handing each message's header and payload
  // pieces to `take`. Throws the call's failure.
  template <typename Take>
  void DownloadMessages(const v1::DownloadRequest& request, Take take);

  // Same host: the daemon copies the buffer into the session's shared region and this
  // copies it on into `dst` (nbytes of the buffer's size). False when shared memory is not
  // in use.
  bool DownloadShared(RemoteBuffer& buffer, void* dst);

  // One Download call that has the daemon copy the buffer (`nbytes`) to its place in a
  // region it has mapped.
  void DownloadToRegion(RemoteBuffer& buffer, size_t nbytes,
                        const RemoteSession::SharedPlace& place);

  // Streams the buffer into `dst` (its type's size) from byte `done` on: each payload piece
  // is copied once, from the slice gRPC read it into. A stream that breaks goes on where it
  // stopped, up to kTransferAttempts streams in all, where the daemon can start part way.
  void Download(RemoteBuffer& buffer, char* dst, size_t done,
                const RemoteSession::Transfer& transfer);

  // Tries of a large transfer whose connection breaks: each goes on where the last stopped.
  static constexpr int kTransferAttempts = 3;

  std::shared_ptr<RemoteSession> session_;
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_REMOTE_DEVICE_H_
