// The same-host fast path: POSIX shared-memory regions registered with a real ferryd, raw
// (through the generated stub) and through the client library.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ferry.h"
#include "gtest/gtest.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::ferry::testing::Spec;

constexpr size_t kNonceBytes = 16;

// A region this test creates, as a client would; removed when the test ends.
class TestRegion {
 public:
  TestRegion(size_t size, const std::string& tag) : size_(size) {
    name_ = absl::StrCat("/ferry-test-", getpid(), "-", tag);
    shm_unlink(name_.c_str());
    fd_ = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd_, 0) << name_;
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(size)), 0);
    void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    EXPECT_NE(data, MAP_FAILED);
    data_ = static_cast<char*>(data);
    nonce_ = std::string(kNonceBytes, '\0');
    for (size_t i = 0; i < kNonceBytes; ++i) nonce_[i] = static_cast<char>(17 * i + size + 3);
    std::memcpy(data_, nonce_.data(), kNonceBytes);
  }
  ~TestRegion() {
    munmap(data_, size_);
    close(fd_);
    shm_unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }
  const std::string& nonce() const { return nonce_; }
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::string name_;
  std::string nonce_;
  int fd_ = -1;
  char* data_ = nullptr;
  size_t size_;
};

grpc::Status Register(v1::Ferry::Stub& stub, const std::string& session, const std::string& name,
                      uint64_t size, const std::string& nonce) {
  v1::RegisterSharedMemoryRequest request;
  request.set_session_id(session);
  request.set_name(name);
  request.set_size_bytes(size);
  request.set_nonce(nonce);
  v1::RegisterSharedMemoryResponse response;
  grpc::ClientContext context;
  return stub.RegisterSharedMemory(&context, request, &response);
}

grpc::Status Unregister(v1::Ferry::Stub& stub, const std::string& session,
                        const std::string& name) {
  v1::UnregisterSharedMemoryRequest request;
  request.set_session_id(session);
  request.set_name(name);
  v1::UnregisterSharedMemoryResponse response;
  grpc::ClientContext context;
  return stub.UnregisterSharedMemory(&context, request, &response);
}

grpc::Status SharedUpload(v1::Ferry::Stub& stub, const std::string& session, uint64_t buffer_id,
                          const v1::TensorSpec& spec, uint64_t total_bytes,
                          const std::string& region, uint64_t offset) {
  v1::UploadRequest request;
  request.set_session_id(session);
  request.set_buffer_id(buffer_id);
  *request.mutable_spec() = spec;
  request.set_total_bytes(total_bytes);
  request.set_shared_memory_name(region);
  request.set_shared_memory_offset(offset);
  v1::UploadResponse response;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientWriter<v1::UploadRequest>> writer = stub.Upload(&context, &response);
  writer->Write(request);
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status SharedDownload(v1::Ferry::Stub& stub, const std::string& session, uint64_t buffer_id,
                            const std::string& region, uint64_t offset, int* messages,
                            uint64_t* total_bytes) {
  v1::DownloadRequest request;
  request.set_session_id(session);
  request.set_buffer_id(buffer_id);
  request.set_shared_memory_name(region);
  request.set_shared_memory_offset(offset);
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::DownloadResponse>> reader =
      stub.Download(&context, request);
  v1::DownloadResponse message;
  *messages = 0;
  while (reader->Read(&message)) {
    ++*messages;
    EXPECT_TRUE(message.data().empty());
    if (message.total_bytes() != 0) *total_bytes = message.total_bytes();
  }
  return reader->Finish();
}

// Opens a session and says whether the daemon offered "shared_memory"; its id in `session`.
bool OffersSharedMemory(v1::Ferry::Stub& stub, std::string* session) {
  v1::OpenSessionRequest request;
  request.set_min_protocol_version(1);
  request.set_max_protocol_version(1);
  v1::OpenSessionResponse opened;
  grpc::ClientContext context;
  EXPECT_TRUE(stub.OpenSession(&context, request, &opened).ok());
  *session = opened.session_id();
  return std::find(opened.features().begin(), opened.features().end(), "shared_memory") !=
         opened.features().end();
}

// Whether the daemon `pid` has `name` mapped (its /proc maps name the /dev/shm file).
bool Mapped(pid_t pid, const std::string& name) {
  std::ifstream maps(absl::StrCat("/proc/", pid, "/maps"));
  std::stringstream text;
  text << maps.rdbuf();
  return text.str().find(absl::StrCat("/dev/shm", name)) != std::string::npos;
}

std::string Pattern(size_t n) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 131 + 7) ^ (i >> 9));
  return bytes;
}

class SharedMemoryTest : public testing::FerrydSuiteTest {
 protected:
  static void SetUpTestSuite() { StartDaemon({"--shared_memory"}); }
  void TearDown() override { CloseSession(); }  // some tests closed it already
};

TEST_F(SharedMemoryTest, OpenSessionAdvertisesTheFeature) {
  std::string session;
  EXPECT_TRUE(OffersSharedMemory(*stub_, &session));
  EXPECT_FALSE(session.empty());
}

TEST_F(SharedMemoryTest, UploadAndDownloadAreByteExact) {
  const size_t n = (size_t{3} << 20) + 5;  // not a multiple of any chunk
  TestRegion region(2 * n + 8192, "exact");
  ASSERT_TRUE(Register(*stub_, session_, region.name(), region.size(), region.nonce()).ok());
  EXPECT_TRUE(Mapped(daemon_->pid(), region.name()));
  const std::string data = Pattern(n);
  std::memcpy(region.data() + 4096, data.data(), n);
  grpc::Status up = SharedUpload(*stub_, session_, 1, Spec(v1::UINT8, {static_cast<int64_t>(n)}), n,
                                 region.name(), 4096);
  ASSERT_TRUE(up.ok()) << up.error_message();

  // Read back over gRPC: the bytes the region held.
  std::string streamed;
  ASSERT_TRUE(testing::Download(*stub_, session_, 1, &streamed).ok());
  EXPECT_EQ(streamed, data);

  // Read back into the region's other half: one message without data.
  int messages = 0;
  uint64_t total_bytes = 0;
  const uint64_t out = 4096 + n + 1;
  grpc::Status down =
      SharedDownload(*stub_, session_, 1, region.name(), out, &messages, &total_bytes);
  ASSERT_TRUE(down.ok()) << down.error_message();
  EXPECT_EQ(messages, 1);
  EXPECT_EQ(total_bytes, n);
  EXPECT_EQ(std::string(region.data() + out, n), data);
}

TEST_F(SharedMemoryTest, RefusesBadNamesSizesAndNonces) {
  TestRegion region(1 << 16, "refuse");
  const std::string long_name = "/" + std::string(201, 'a');
  for (const std::string& name : {std::string("no-slash"), std::string("/a/b"), std::string("/.."),
                                  std::string("/"), long_name, std::string("/bad name")}) {
    grpc::Status status = Register(*stub_, session_, name, 1 << 16, region.nonce());
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_NE(status.error_message().find("[shared_memory]"), std::string::npos);
  }
  EXPECT_EQ(Register(*stub_, session_, region.name(), 0, region.nonce()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(*stub_, session_, region.name(), 1 << 16, "short").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Larger than the region.
  EXPECT_EQ(Register(*stub_, session_, region.name(), 1 << 17, region.nonce()).error_code(),
            grpc::StatusCode::OUT_OF_RANGE);
  // A region the daemon cannot see, as from a client on another host.
  grpc::Status missing =
      Register(*stub_, session_, "/ferry-test-no-such-region", 1 << 16, region.nonce());
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(missing.error_message().find("another host"), std::string::npos);
  // A region of that name whose start is not this client's nonce (another host's client).
  std::string wrong = region.nonce();
  wrong[0] ^= 1;
  grpc::Status foreign = Register(*stub_, session_, region.name(), 1 << 16, wrong);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_FALSE(Mapped(daemon_->pid(), region.name()));
  // An unknown session.
  EXPECT_EQ(Register(*stub_, "0123", region.name(), 1 << 16, region.nonce()).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Twice.
  ASSERT_TRUE(Register(*stub_, session_, region.name(), 1 << 16, region.nonce()).ok());
  EXPECT_EQ(Register(*stub_, session_, region.name(), 1 << 16, region.nonce()).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(SharedMemoryTest, RefusesTransfersOutsideTheRegion) {
  TestRegion region(1 << 16, "bounds");
  const v1::TensorSpec spec = Spec(v1::UINT8, {1024});
  // Not registered.
  EXPECT_EQ(SharedUpload(*stub_, session_, 1, spec, 1024, region.name(), 0).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Register(*stub_, session_, region.name(), 1 << 16, region.nonce()).ok());
  // Past the end, and an offset that would wrap around.
  EXPECT_EQ(
      SharedUpload(*stub_, session_, 1, spec, 1024, region.name(), (1 << 16) - 1000).error_code(),
      grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(
      SharedUpload(*stub_, session_, 1, spec, 1024, region.name(), ~uint64_t{0} - 10).error_code(),
      grpc::StatusCode::OUT_OF_RANGE);
  ASSERT_TRUE(SharedUpload(*stub_, session_, 1, spec, 1024, region.name(), 0).ok());
  int messages = 0;
  uint64_t total_bytes = 0;
  EXPECT_EQ(
      SharedDownload(*stub_, session_, 1, region.name(), (1 << 16) - 1, &messages, &total_bytes)
          .error_code(),
      grpc::StatusCode::OUT_OF_RANGE);
  // Unregistered: gone for transfers, and unmapped.
  ASSERT_TRUE(Unregister(*stub_, session_, region.name()).ok());
  EXPECT_FALSE(Mapped(daemon_->pid(), region.name()));
  EXPECT_EQ(SharedUpload(*stub_, session_, 2, spec, 1024, region.name(), 0).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Unregister(*stub_, session_, region.name()).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SharedMemoryTest, LimitsRegionsPerSession) {
  std::vector<std::unique_ptr<TestRegion>> regions;
  for (int i = 0; i < 17; ++i) {
    regions.push_back(std::make_unique<TestRegion>(4096, absl::StrCat("many", i)));
    grpc::Status status =
        Register(*stub_, session_, regions.back()->name(), 4096, regions.back()->nonce());
    if (i < 16) {
      EXPECT_TRUE(status.ok()) << i << ": " << status.error_message();
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    }
  }
}

TEST_F(SharedMemoryTest, SessionCloseUnmapsItsRegions) {
  TestRegion region(1 << 16, "close");
  ASSERT_TRUE(Register(*stub_, session_, region.name(), 1 << 16, region.nonce()).ok());
  ASSERT_TRUE(Mapped(daemon_->pid(), region.name()));
  grpc::ClientContext context;
  v1::CloseSessionRequest request;
  request.set_session_id(session_);
  v1::CloseSessionResponse response;
  ASSERT_TRUE(stub_->CloseSession(&context, request, &response).ok());
  EXPECT_FALSE(Mapped(daemon_->pid(), region.name()));
  // The name is free to register in a new session.
  const std::string next = testing::OpenSession(*stub_);
  EXPECT_TRUE(Register(*stub_, next, region.name(), 1 << 16, region.nonce()).ok());
}

TEST(SharedMemoryLeaseTest, ExpiryUnmapsTheRegions) {
  std::unique_ptr<server::FerrydProcess> daemon =
      testing::StartFerryd({"--shared_memory", "--lease_seconds=1"});
  ASSERT_NE(daemon, nullptr);
  std::unique_ptr<v1::Ferry::Stub> stub = testing::Connect(daemon->address());
  const std::string session = testing::OpenSession(*stub);
  TestRegion region(1 << 16, "lease");
  ASSERT_TRUE(Register(*stub, session, region.name(), 1 << 16, region.nonce()).ok());
  ASSERT_TRUE(Mapped(daemon->pid(), region.name()));
  // The reaper wakes a few times per lease; wait for it rather than for a fixed time.
  for (int i = 0; i < 300 && Mapped(daemon->pid(), region.name()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(Mapped(daemon->pid(), region.name()));
  EXPECT_EQ(Unregister(*stub, session, region.name()).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(daemon->Stop(), 0);
}

// `data` uploaded from `buffer`, doubled on `device` and downloaded into `buffer` again.
void DoublesThroughBuffer(const std::string& data, HostBuffer& buffer, const Device& device) {
  std::memcpy(buffer.data(), data.data(), data.size());
  Array a = from_host_bytes(buffer.data(), data.size(), uint8, {static_cast<int64_t>(data.size())},
                            device);
  (a + a).copy_to(buffer.data(), data.size());
  for (size_t i = 0; i < data.size(); i += 4099) {
    ASSERT_EQ(buffer.data<uint8_t>()[i], static_cast<uint8_t>(2 * static_cast<uint8_t>(data[i])))
        << i;
  }
}

TEST(SharedMemoryDisabledTest, RefusedCleanlyAndNotAdvertised) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd();
  ASSERT_NE(daemon, nullptr);
  std::unique_ptr<v1::Ferry::Stub> stub = testing::Connect(daemon->address());
  std::string session;
  EXPECT_FALSE(OffersSharedMemory(*stub, &session));
  TestRegion region(4096, "off");
  grpc::Status status = Register(*stub, session, region.name(), 4096, region.nonce());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("--shared_memory"), std::string::npos);
  EXPECT_FALSE(Mapped(daemon->pid(), region.name()));

  // The client asked for shared memory; the daemon does not offer it: gRPC carries the bytes.
  ConnectOptions options;
  options.shared_memory = true;
  Device device = connect(daemon->address(), options);
  const std::string data = Pattern(3 << 20);
  Array a =
      from_host_bytes(data.data(), data.size(), uint8, {static_cast<int64_t>(data.size())}, device);
  Array b = a + a;
  std::vector<uint8_t> out = b.to_vector<uint8_t>();
  ASSERT_EQ(out.size(), data.size());
  for (size_t i = 0; i < data.size(); i += 4099) {
    EXPECT_EQ(out[i], static_cast<uint8_t>(2 * static_cast<uint8_t>(data[i])));
  }
  EXPECT_EQ(device.stats().shared_memory_transfers, 0);

  // A HostBuffer there is plain memory, and its transfers take gRPC as any other memory's.
  HostBuffer buffer(data.size(), device);
  EXPECT_FALSE(buffer.in_place());
  DoublesThroughBuffer(data, buffer, device);
  EXPECT_EQ(device.stats().in_place_transfers, 0);
  EXPECT_EQ(daemon->Stop(), 0);
}

// Regions the client library created in this process that the process whose /proc maps
// are at `maps_path` has mapped.
int OurRegionsMappedIn(const std::string& maps_path) {
  std::ifstream maps(maps_path);
  std::stringstream text;
  text << maps.rdbuf();
  const std::string all = text.str();
  const std::string prefix = absl::StrCat("/dev/shm/ferry-", getpid(), "-");
  int count = 0;
  for (size_t at = all.find(prefix); at != std::string::npos; at = all.find(prefix, at + 1)) {
    ++count;
  }
  return count;
}

// Regions the client library created still mapped here (the device is gone).
int ClientRegionsLeft() { return OurRegionsMappedIn("/proc/self/maps"); }
// Regions of this process the daemon `pid` has mapped.
int DaemonMapsOfOurRegions(pid_t pid) {
  return OurRegionsMappedIn(absl::StrCat("/proc/", pid, "/maps"));
}

TEST_F(SharedMemoryTest, ClientRoundTripsThroughTheRegion) {
  {
    ConnectOptions options;
    options.shared_memory = true;
    Device device = connect(daemon_->address(), options);
    const std::string data = Pattern((size_t{5} << 20) + 3);
    Array a = from_host_bytes(data.data(), data.size(), uint8, {static_cast<int64_t>(data.size())},
                              device);
    a.eval();
    std::vector<uint8_t> same = a.to_vector<uint8_t>();
    ASSERT_EQ(same.size(), data.size());
    EXPECT_EQ(std::memcmp(same.data(), data.data(), data.size()), 0);
    // A computed result, larger than the first region: the region grows.
    Array big = full({int64_t{80} << 20}, 3.0, uint8, device);
    std::vector<uint8_t> threes = big.to_vector<uint8_t>();
    ASSERT_EQ(threes.size(), size_t{80} << 20);
    EXPECT_EQ(threes.front(), 3);
    EXPECT_EQ(threes.back(), 3);
    // The upload and two downloads: a large host array is uploaded when made and keeps no
    // host copy, so `same` came back through the region too.
    EXPECT_EQ(device.stats().shared_memory_transfers, 3);
  }
  EXPECT_EQ(ClientRegionsLeft(), 0);
}

TEST_F(SharedMemoryTest, HostBufferTransfersInPlace) {
  {
    Device device = connect(daemon_->address());  // a HostBuffer is its own opt-in
    const std::string data = Pattern((size_t{6} << 20) + 5);
    HostBuffer buffer(data.size() + 4096, device);
    ASSERT_TRUE(buffer.in_place());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % 4096, 0u);
    EXPECT_EQ(DaemonMapsOfOurRegions(daemon_->pid()), 1);

    // From an odd offset into the buffer, and refilled at once: the array has its own copy.
    char* at = buffer.data<char>() + 4093;
    std::memcpy(at, data.data(), data.size());
    const Shape shape = {static_cast<int64_t>(data.size())};
    Array a = from_host_bytes(at, data.size(), uint8, shape, device);
    std::memset(at, 0, data.size());
    Array doubled = a + a;
    doubled.copy_to(buffer.data(), data.size());
    for (size_t i = 0; i < data.size(); i += 4099) {
      ASSERT_EQ(buffer.data<uint8_t>()[i], static_cast<uint8_t>(2 * static_cast<uint8_t>(data[i])))
          << i;
    }
    std::vector<uint8_t> same(data.size());
    a.copy_to(same.data(), same.size());  // ordinary memory still takes the usual way
    EXPECT_EQ(std::memcmp(same.data(), data.data(), data.size()), 0);
    const DeviceStats stats = device.stats();
    EXPECT_EQ(stats.in_place_transfers, 2);  // the upload and the first download
    EXPECT_GE(stats.uploads, 1);
  }
  // The buffer and the device are gone: the daemon unmapped it, and nothing is left here.
  EXPECT_EQ(DaemonMapsOfOurRegions(daemon_->pid()), 0);
  EXPECT_EQ(ClientRegionsLeft(), 0);
}

TEST_F(SharedMemoryTest, LoadAndSaveMoveLargeTensorsThroughMemoryTheDaemonMaps) {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/weights.safetensors");
  std::vector<float> large((size_t{3} << 20) + 3);  // 12 MiB: streamed
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<float>(i % 977) - 488.5f;
  const std::vector<int32_t> small = {4, -5, 6};  // inline, as ever
  save_safetensors(
      path, {{"large", from_host(large.data(), {static_cast<int64_t>(large.size())}, local())},
             {"small", from_host(small.data(), {3}, local())}});
  {
    Device device = connect(daemon_->address());
    SafetensorsLoad loaded = load_safetensors(path, device);
    EXPECT_EQ(device.stats().in_place_transfers, 1);       // the large tensor, read in place
    EXPECT_EQ(DaemonMapsOfOurRegions(daemon_->pid()), 0);  // the load's memory is gone
    Array twice = loaded.first.at("large") * 2.0f;
    std::vector<float> got(large.size());
    twice.copy_to(got.data(), got.size() * sizeof(float));
    for (size_t i = 0; i < large.size(); ++i) ASSERT_EQ(got[i], 2.0f * large[i]) << i;
    EXPECT_EQ(loaded.first.at("small").to_vector<int32_t>(), small);

    // Saved from the daemon: each large array downloaded into memory it maps, then written.
    const int64_t in_place = device.stats().in_place_transfers;
    const std::string saved = absl::StrCat(std::getenv("TEST_TMPDIR"), "/twice.safetensors");
    save_safetensors(saved, {{"twice", twice}, {"small", loaded.first.at("small")}});
    EXPECT_EQ(device.stats().in_place_transfers, in_place + 1);
    EXPECT_EQ(load_safetensors(saved, local()).first.at("twice").to_vector<float>(), got);
  }
  {
    // The first load's bytes went in place with their digest: the daemon's upload cache
    // holds them, so a new session (a program started again) loads without sending them.
    Device again = connect(daemon_->address());
    SafetensorsLoad loaded = load_safetensors(path, again);
    EXPECT_EQ(again.stats().cached_uploads, 1);
    EXPECT_EQ(again.stats().in_place_transfers, 0);
    EXPECT_EQ(loaded.first.at("large").to_vector<float>(), large);
  }
  EXPECT_EQ(ClientRegionsLeft(), 0);
}

// A ferryd with --shared_memory that sees a /dev/shm of its own, as on another host: a
// mount namespace of its own with a fresh tmpfs there. Null (the reason in `why`) where
// this process may not make one (no root, no CAP_SYS_ADMIN, no unshare).
std::unique_ptr<server::FerrydProcess> StartFerrydAsOnAnotherHost(std::string* why) {
  if (std::system("unshare -m sh -c 'mount -t tmpfs ferry-probe /dev/shm' 2>/dev/null") != 0) {
    *why = "cannot give a process a /dev/shm of its own here (unshare -m needs root)";
    return nullptr;
  }
  const std::string script = absl::StrCat(std::getenv("TEST_TMPDIR"), "/ferryd_elsewhere.sh");
  std::ofstream(script) << "#!/bin/sh\n"
                           "exec unshare -m sh -c 'mount -t tmpfs ferry-elsewhere /dev/shm && "
                           "exec \"$0\" \"$@\"' "
                        << server::FindFerryd(nullptr) << " \"$@\"\n";
  chmod(script.c_str(), 0755);
  auto process = server::FerrydProcess::Start(script, {"--shared_memory"});
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? *std::move(process) : nullptr;
}

TEST(SharedMemoryElsewhereTest, ClientFallsBackAndStopsAsking) {
  std::string why;
  std::unique_ptr<server::FerrydProcess> daemon = StartFerrydAsOnAnotherHost(&why);
  if (daemon == nullptr && !why.empty()) GTEST_SKIP() << why;
  ASSERT_NE(daemon, nullptr);
  std::string session;
  ASSERT_TRUE(OffersSharedMemory(*testing::Connect(daemon->address()), &session));
  ConnectOptions options;
  options.shared_memory = true;
  Device device = connect(daemon->address(), options);

  const std::string data = Pattern(3 << 20);
  HostBuffer buffer(data.size(), device);  // asks once, and is refused
  EXPECT_FALSE(buffer.in_place());
  DoublesThroughBuffer(data, buffer, device);
  const int64_t round_trips = device.stats().round_trips;
  HostBuffer another(data.size(), device);  // not asked again
  EXPECT_FALSE(another.in_place());
  EXPECT_EQ(device.stats().round_trips, round_trips);
  const DeviceStats stats = device.stats();
  EXPECT_EQ(stats.in_place_transfers, 0);
  EXPECT_EQ(stats.shared_memory_transfers, 0);
  EXPECT_EQ(ClientRegionsLeft(), 0);
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST(HostBufferLocalTest, PlainMemoryOnTheLocalDevice) {
  HostBuffer buffer(3 * sizeof(float), local());
  EXPECT_FALSE(buffer.in_place());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % 4096, 0u);
  float* values = buffer.data<float>();
  values[0] = 1.5f;
  values[1] = -2.0f;
  values[2] = 4.0f;
  Array x = from_host(values, {3}, local());
  (x * 2.0f).copy_to(values, 3 * sizeof(float));
  EXPECT_EQ(values[0], 3.0f);
  EXPECT_EQ(values[1], -4.0f);
  EXPECT_EQ(values[2], 8.0f);
}

}  // namespace
}  // namespace ferry
