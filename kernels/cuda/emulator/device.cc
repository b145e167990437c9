// Grids run block after block on the launching thread; a block's threads are fibers
// (ucontext) switched round-robin, each until it reaches __syncthreads or returns, so a
// barrier holds for every thread of the block as on a GPU.

#include "kernels/cuda/emulator/device.h"

#include <ucontext.h>

#include <memory>
#include <mutex>
#include <vector>

#include "kernels/cuda/emulator/runtime.h"

namespace ferry::cuda_emulator {
namespace {

constexpr size_t kStackBytes = size_t{128} << 10;
constexpr unsigned kMaxBlockThreads = 1024;

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack = std::make_unique<char[]>(kStackBytes);
  ThreadIndex index;
  bool done = false;
};

struct BlockRun {
  ucontext_t scheduler;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
};

// __shared__ arrays are statics and a block's fibers share one thread: one grid at a time.
std::mutex& GridMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}

thread_local BlockRun* run = nullptr;
thread_local std::vector<std::unique_ptr<Fiber>>* fibers = nullptr;

void FiberMain() {
  (*run->body)();
  run->current->done = true;  // returns to run->scheduler (uc_link)
}

}  // namespace

const ThreadIndex& Current() { return run->current->index; }

void SyncThreads() { swapcontext(&run->current->context, &run->scheduler); }

bool RunGrid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > kMaxBlockThreads || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      block.z > 64 || grid.y > 65535 || grid.z > 65535) {
    SetLastError(cudaErrorInvalidConfiguration);
    return false;
  }
  std::lock_guard<std::mutex> lock(GridMutex());
  if (fibers == nullptr) fibers = new std::vector<std::unique_ptr<Fiber>>;
  while (fibers->size() < threads) fibers->push_back(std::make_unique<Fiber>());
  BlockRun block_run;
  block_run.body = &body;
  BlockRun* outer = run;
  run = &block_run;
  for (unsigned bz = 0; bz < grid.z; ++bz) {
    for (unsigned by = 0; by < grid.y; ++by) {
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        for (uint64_t t = 0; t < threads; ++t) {
          Fiber& f = *(*fibers)[t];
          f.index.thread = {static_cast<unsigned>(t % block.x),
                            static_cast<unsigned>(t / block.x % block.y),
                            static_cast<unsigned>(t / (uint64_t{block.x} * block.y))};
          f.index.block = {bx, by, bz};
          f.index.block_dim = block;
          f.index.grid_dim = grid;
          f.done = false;
          getcontext(&f.context);
          f.context.uc_stack.ss_sp = f.stack.get();
          f.context.uc_stack.ss_size = kStackBytes;
          f.context.uc_link = &block_run.scheduler;
          makecontext(&f.context, FiberMain, 0);
        }
        // Each pass runs every live thread to its next barrier (or its end).
        for (bool live = true; live;) {
          live = false;
          for (uint64_t t = 0; t < threads; ++t) {
            Fiber& f = *(*fibers)[t];
            if (f.done) continue;
            block_run.current = &f;
            swapcontext(&block_run.scheduler, &f.context);
            live = live || !f.done;
          }
        }
      }
    }
  }
  run = outer;
  return true;
}

}  // namespace ferry::cuda_emulator
