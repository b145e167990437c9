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

// A fiber runs one emulated thread after another: started once, it loops, so a thread
// costs two context switches, not a new context.
struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack = std::make_unique<char[]>(kStackBytes);
  ThreadIndex index;
  bool done = true;
  bool started = false;
};

struct Scheduler {
  ucontext_t context;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  std::vector<std::unique_ptr<Fiber>> fibers;
};

// __shared__ arrays are statics and a block's fibers share one thread: one grid at a time.
std::mutex& GridMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}

thread_local Scheduler* scheduler = nullptr;

void FiberMain() {
  for (;;) {
    (*scheduler->body)();
    scheduler->current->done = true;
    swapcontext(&scheduler->current->context, &scheduler->context);
  }
}

}  // namespace

const ThreadIndex& Current() { return scheduler->current->index; }

void SyncThreads() { swapcontext(&scheduler->current->context, &scheduler->context); }

bool RunGrid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > kMaxBlockThreads || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      block.z > 64 || grid.y > 65535 || grid.z > 65535) {
    SetLastError(cudaErrorInvalidConfiguration);
    return false;
  }
  std::lock_guard<std::mutex> lock(GridMutex());
  if (scheduler == nullptr) scheduler = new Scheduler;  // one per thread, kept
  Scheduler& s = *scheduler;
  s.body = &body;
  while (s.fibers.size() < threads) s.fibers.push_back(std::make_unique<Fiber>());
  for (unsigned bz = 0; bz < grid.z; ++bz) {
    for (unsigned by = 0; by < grid.y; ++by) {
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        for (uint64_t t = 0; t < threads; ++t) {
          Fiber& f = *s.fibers[t];
          f.index.thread = {static_cast<unsigned>(t % block.x),
                            static_cast<unsigned>(t / block.x % block.y),
                            static_cast<unsigned>(t / (uint64_t{block.x} * block.y))};
          f.index.block = {bx, by, bz};
          f.index.block_dim = block;
          f.index.grid_dim = grid;
          f.done = false;
          if (!f.started) {
            getcontext(&f.context);
            f.context.uc_stack.ss_sp = f.stack.get();
            f.context.uc_stack.ss_size = kStackBytes;
            f.context.uc_link = nullptr;  // FiberMain never returns
            makecontext(&f.context, FiberMain, 0);
            f.started = true;
          }
        }
        // Each pass runs every live thread to its next barrier (or its end).
        for (bool live = true; live;) {
          live = false;
          for (uint64_t t = 0; t < threads; ++t) {
            Fiber& f = *s.fibers[t];
            if (f.done) continue;
            s.current = &f;
            swapcontext(&s.context, &f.context);
            live = live || !f.done;
          }
        }
      }
    }
  }
  return true;
}

}  // namespace ferry::cuda_emulator
