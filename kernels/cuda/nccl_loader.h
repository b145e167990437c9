#ifndef FERRY_KERNELS_CUDA_NCCL_LOADER_H_
#define FERRY_KERNELS_CUDA_NCCL_LOADER_H_

// NCCL, loaded with dlopen on first use as cuBLASLt is (cublas_loader.h): a daemon without it
// still runs its groups' collectives, through host memory.

#include <nccl.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::kernels::cuda {

// The NCCL entry points ferry calls.
struct Nccl {
  std::string path;  // the library that was loaded
  decltype(&ncclGetVersion) GetVersion;
  decltype(&ncclGetErrorString) GetErrorString;
  decltype(&ncclGetLastError) GetLastError;
  decltype(&ncclGetUniqueId) GetUniqueId;
  decltype(&ncclCommInitRankConfig) CommInitRankConfig;
  decltype(&ncclCommGetAsyncError) CommGetAsyncError;
  decltype(&ncclCommAbort) CommAbort;
  decltype(&ncclCommDestroy) CommDestroy;
  decltype(&ncclAllReduce) AllReduce;
  decltype(&ncclAllGather) AllGather;
  decltype(&ncclReduceScatter) ReduceScatter;
  decltype(&ncclSend) Send;
  decltype(&ncclRecv) Recv;
  decltype(&ncclGroupStart) GroupStart;
  decltype(&ncclGroupEnd) GroupEnd;
};

// The places LoadNccl tries: LibraryCandidates("libnccl.so.2").
std::vector<std::string> NcclCandidates();

// NCCL loaded from the first candidate that opens and has every entry point, or
// FAILED_PRECONDITION listing each candidate and why it failed. Loaded once per process.
absl::StatusOr<const Nccl*> LoadNccl();

// As LoadNccl, from `candidates`, without caching (the library stays loaded).
absl::StatusOr<Nccl> LoadNcclFrom(const std::vector<std::string>& candidates);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_NCCL_LOADER_H_
