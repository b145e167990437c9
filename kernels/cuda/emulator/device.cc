// Grids run block after block on the launching thread; a block's threads are fibers
// switched round-robin, each until it reaches __syncthreads or returns, so a barrier holds
// for every thread of the block as on a GPU. Passes between barriers alternate between
// ascending and descending thread order, so that a missing barrier shows whichever way the
// kernel's threads depend on each other.
//
// On x86-64 a switch is a few instructions of our own (swapcontext also saves the signal
// mask, a system call; tests make tens of millions of switches); elsewhere, and under ASan
// (which must see stack switches), it is ucontext.

#include "kernels/cuda/emulator/device.h"

#include <ucontext.h>

#include <memory>
#include <mutex>
#include <vector>

#include "kernels/cuda/emulator/runtime.h"

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define FERRY_EMULATOR_OWN_SWITCH 1
// ferry_emulator_switch(&from_sp, to_sp): saves the callee-saved registers, MXCSR and the
// x87 control word on the current stack and its pointer in *from_sp, then resumes to_sp.
extern "C" void ferry_emulator_switch(void** from_sp, void* to_sp);
asm(R"(
  .text
  .globl ferry_emulator_switch
  .hidden ferry_emulator_switch
  .type ferry_emulator_switch, @function
ferry_emulator_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ferry_emulator_switch, .-ferry_emulator_switch
)");
#endif

namespace ferry::cuda_emulator {
namespace {

constexpr size_t kStackBytes = size_t{128} << 10;
constexpr unsigned kMaxBlockThreads = 1024;

// A fiber runs one emulated thread after another: started once, it loops, so a thread
// costs two context switches, not a new context.
struct Fiber {
#ifdef FERRY_EMULATOR_OWN_SWITCH
  void* sp = nullptr;
#else
  ucontext_t context;
#endif
  std::unique_ptr<char[]> stack = std::make_unique<char[]>(kStackBytes);
  ThreadIndex index;
  bool done = true;
  bool started = false;
};

struct Scheduler {
#ifdef FERRY_EMULATOR_OWN_SWITCH
  void* sp = nullptr;
#else
  ucontext_t context;
#endif
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  std::vector<std::unique_ptr<Fiber>> fibers;
  unsigned passes = 0;  // barrier passes so far, for the alternating thread order
};

// __shared__ arrays are statics and a block's fibers share one thread: one grid at a time.
std::mutex& GridMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}

thread_local Scheduler* scheduler = nullptr;

// From the running fiber back to the scheduler, and from the scheduler into fiber `f`.
void ToScheduler() {
#ifdef FERRY_EMULATOR_OWN_SWITCH
  ferry_emulator_switch(&scheduler->current->sp, scheduler->sp);
#else
  swapcontext(&scheduler->current->context, &scheduler->context);
#endif
}

void ToFiber(Scheduler& s, Fiber& f) {
  s.current = &f;
#ifdef FERRY_EMULATOR_OWN_SWITCH
  ferry_emulator_switch(&s.sp, f.sp);
#else
  swapcontext(&s.context, &f.context);
#endif
}

[[noreturn]] void FiberMain() {
  for (;;) {
    (*scheduler->body)();
    scheduler->current->done = true;
    ToScheduler();
  }
}

void Start(Fiber& f) {
#ifdef FERRY_EMULATOR_OWN_SWITCH
  // The frame ferry_emulator_switch resumes: MXCSR and x87 control word as now, six zeroed
  // registers, then FiberMain as the return address, entered as if called (rsp = 8 mod 16).
  auto top = reinterpret_cast<uintptr_t>(f.stack.get() + kStackBytes) & ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top) - 11;
  uint32_t mxcsr;
  uint16_t fpu_control;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpu_control));
  frame[0] = mxcsr | (uint64_t{fpu_control} << 32);
  for (int r = 1; r <= 6; ++r) frame[r] = 0;
  frame[7] = reinterpret_cast<uint64_t>(&FiberMain);
  frame[8] = 0;  // FiberMain's return address: it never returns
  f.sp = frame;
#else
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = f.stack.get();
  f.context.uc_stack.ss_size = kStackBytes;
  f.context.uc_link = nullptr;  // FiberMain never returns
  makecontext(&f.context, FiberMain, 0);
#endif
  f.started = true;
}

}  // namespace

const ThreadIndex& Current() { return scheduler->current->index; }

void SyncThreads() { ToScheduler(); }

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
          if (!f.started) Start(f);
        }
        // Each pass runs every live thread to its next barrier (or its end).
        for (bool live = true; live;) {
          live = false;
          const bool descending = s.passes++ % 2 == 1;
          for (uint64_t i = 0; i < threads; ++i) {
            Fiber& f = *s.fibers[descending ? threads - 1 - i : i];
            if (f.done) continue;
            ToFiber(s, f);
            live = live || !f.done;
          }
        }
      }
    }
  }
  return true;
}

}  // namespace ferry::cuda_emulator
