// The CUDA emulator's grid scheduler: validates a launch like the CUDA
// runtime, then runs the blocks one after another on the calling OS thread.
// Within a block, threads start in CUDA's linear order (x fastest) on a
// coroutine ("fiber") that runs one thread after another as plain calls; only
// a thread that reaches __syncthreads keeps its fiber, suspended, and the next
// thread starts on a fresh one. When every thread has either finished or
// arrived, the arrived ones resume in order. So a kernel without barriers
// costs one context switch per block, and one with barriers one fiber (and
// stack) per thread. Threads that disagree at a barrier (some exited, or
// waiting at different __syncthreads) are reported instead of hanging.
//
// Launches hold one process-wide mutex: __shared__ is static storage, so two
// kernels must never interleave, even when launched from different threads.
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <mutex>

#include "core/error.h"
#include "emu/cuda_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#if defined(EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace {

// Kernel frames are small, but a sanitizer report raised inside a kernel is
// printed from the fiber's stack, and that needs room. Pages are committed
// only when touched; a PROT_NONE guard page below each stack turns an
// overflow into a fault instead of silent corruption.
constexpr size_t kStackSize = 256 * 1024;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockX = 1024, kMaxBlockY = 1024, kMaxBlockZ = 64;
constexpr unsigned kMaxGridX = 2147483647u, kMaxGridYZ = 65535;

struct Fiber {
  ucontext_t ctx;
  char *stack;          // lowest usable byte
  unsigned thread;      // linear index of the thread it runs now
  bool waiting;         // suspended at __syncthreads (else finished)
  const char *wait_file;
  int wait_line;
  void *fake_stack;     // AddressSanitizer's, while switched out
  bool abandoned;       // dropped mid-kernel: its stack may hold ASan poison
};

// A block never needs more fibers than threads, so fixed arrays suffice; and
// having no destructor, they still reference the pooled fibers when
// LeakSanitizer looks at exit.
struct FiberList {
  Fiber *at[kMaxThreadsPerBlock];
  unsigned n;
  void push(Fiber *f) { at[n++] = f; }
};

// The block being run. One instance, used only under g_launch_mutex.
struct Block {
  void (*body)(const void *);
  const void *ctx;
  dim3 dim;
  unsigned nthreads;
  unsigned next;        // next thread to start
  unsigned exited;      // threads that returned from the kernel
  unsigned last_exited;
  Fiber *cur;
  ucontext_t sched;
  FiberList waiting;             // in arrival order, which is thread order
  FiberList arrived;             // the barrier being released
  const void *sched_stack;       // the launching thread's stack, for ASan
  size_t sched_stack_size;
  void *sched_fake_stack;
};

std::mutex g_launch_mutex;
Block g_block;
FiberList g_free;  // fibers (with their stacks) kept for reuse
// The block whose threads this OS thread is running; null outside launches.
thread_local Block *t_block;

uint3 thread_index(const dim3 &d, unsigned t) {
  return uint3{t % d.x, (t / d.x) % d.y, t / (d.x * d.y)};
}

// swapcontext, but without ASan's interceptor for it, which prints a warning
// about possible false positives at the first switch of every test binary:
// the switches here are annotated for ASan (start/finish_switch_fiber), and
// start_fiber clears stale stack poison, which the interceptor would do.
void swap_context(ucontext_t *from, const ucontext_t *to) {
  volatile bool resumed = false;
  getcontext(from);
  if (!resumed) {
    resumed = true;
    setcontext(to);
  }
}

// Fiber → scheduler. A finished fiber passes no fake-stack slot, which tells
// ASan to drop that fiber's fake stack.
void switch_to_scheduler(Block *b, Fiber *f) {
#if defined(EMU_ASAN)
  __sanitizer_start_switch_fiber(f->waiting ? &f->fake_stack : nullptr, b->sched_stack, b->sched_stack_size);
#endif
  swap_context(&f->ctx, &b->sched);
#if defined(EMU_ASAN)
  __sanitizer_finish_switch_fiber(f->fake_stack, nullptr, nullptr);
#endif
}

// A fiber's whole life: start threads until one waits at a barrier (it then
// stays with this fiber) or none is left. No local has its address taken,
// so the frame leaves no ASan poison behind on the reused stack.
void fiber_main() {
  Block *b = t_block;
#if defined(EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &b->sched_stack, &b->sched_stack_size);
#endif
  Fiber *f = b->cur;
  while (b->next < b->nthreads) {
    f->thread = b->next++;
    threadIdx = thread_index(b->dim, f->thread);
    b->body(b->ctx);
    b->exited++;
    b->last_exited = f->thread;
  }
  f->waiting = false;
  switch_to_scheduler(b, f);
}

bfd_status get_fiber(const char *kernel, Fiber **out) {
  if (g_free.n > 0) {
    *out = g_free.at[--g_free.n];
    return BFD_OK;
  }
  long page = sysconf(_SC_PAGESIZE);
  void *map = mmap(nullptr, kStackSize + (size_t)page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return bfdi_fail_errno(errno, "CUDA emulator: kernel %s: cannot map a thread stack", kernel);
  if (mprotect(map, (size_t)page, PROT_NONE) != 0) {
    int err = errno;
    munmap(map, kStackSize + (size_t)page);
    return bfdi_fail_errno(err, "CUDA emulator: kernel %s: cannot protect a stack guard page", kernel);
  }
  Fiber *f = new Fiber();
  f->stack = static_cast<char *>(map) + page;
  *out = f;
  return BFD_OK;
}

// Scheduler → fiber, until the fiber waits or finishes.
void run_fiber(Block *b, Fiber *f) {
  b->cur = f;
#if defined(EMU_ASAN)
  __sanitizer_start_switch_fiber(&b->sched_fake_stack, f->stack, kStackSize);
#endif
  swap_context(&b->sched, &f->ctx);
#if defined(EMU_ASAN)
  __sanitizer_finish_switch_fiber(b->sched_fake_stack, nullptr, nullptr);
#endif
  if (!f->waiting) g_free.push(f);
}

bfd_status start_fiber(Block *b, const char *kernel) {
  Fiber *f;
  BFD_TRY(get_fiber(kernel, &f));
  if (getcontext(&f->ctx) != 0) {
    g_free.push(f);
    return bfdi_fail_errno(errno, "CUDA emulator: kernel %s: getcontext", kernel);
  }
  f->ctx.uc_stack.ss_sp = f->stack;
  f->ctx.uc_stack.ss_size = kStackSize;
  f->ctx.uc_link = nullptr;
  makecontext(&f->ctx, fiber_main, 0);
#if defined(EMU_ASAN)
  // A fiber that ran to the end leaves its stack's shadow clean (every frame
  // returned, and fiber_main has none of its own); one dropped mid-kernel
  // does not.
  if (f->abandoned) ASAN_UNPOISON_MEMORY_REGION(f->stack, kStackSize);
#endif
  f->abandoned = false;
  f->waiting = false;
  f->fake_stack = nullptr;
  run_fiber(b, f);
  return BFD_OK;
}

// The waiting threads must be all the block's threads, at one call site.
bfd_status check_barrier(const Block *b, const char *kernel, const char *file, int line) {
  const Fiber *w = b->waiting.at[0];
  uint3 bi = blockIdx, wt = thread_index(b->dim, w->thread);
  for (unsigned i = 1; i < b->waiting.n; i++) {
    const Fiber *o = b->waiting.at[i];
    if (o->wait_line == w->wait_line && strcmp(o->wait_file, w->wait_file) == 0) continue;
    uint3 ot = thread_index(b->dim, o->thread);
    return bfdi_fail(BFD_ERR_INTERNAL,
                     "%s:%d: kernel %s, block (%u,%u,%u): thread (%u,%u,%u) waits at __syncthreads at %s:%d but "
                     "thread (%u,%u,%u) at %s:%d; all threads of a block must reach the same barriers (on a GPU "
                     "this hangs or corrupts data)",
                     file, line, kernel, bi.x, bi.y, bi.z, wt.x, wt.y, wt.z, w->wait_file, w->wait_line, ot.x, ot.y,
                     ot.z, o->wait_file, o->wait_line);
  }
  if (b->exited == 0) return BFD_OK;
  uint3 et = thread_index(b->dim, b->last_exited);
  return bfdi_fail(BFD_ERR_INTERNAL,
                   "%s:%d: kernel %s, block (%u,%u,%u): thread (%u,%u,%u) waits at __syncthreads at %s:%d but "
                   "thread (%u,%u,%u) returned without reaching it (%u of %u threads did); all threads of a block "
                   "must reach the same barriers (on a GPU this hangs or corrupts data)",
                   file, line, kernel, bi.x, bi.y, bi.z, wt.x, wt.y, wt.z, w->wait_file, w->wait_line, et.x, et.y,
                   et.z, b->waiting.n, b->nthreads);
}

// Fibers of a failed block are dropped mid-kernel: their stacks go back to
// the pool (start_fiber clears stale poison before reuse).
void abandon_waiting(Block *b) {
  for (unsigned i = 0; i < b->waiting.n; i++) {
    Fiber *f = b->waiting.at[i];
    f->waiting = false;
    f->abandoned = true;
    g_free.push(f);
  }
  b->waiting.n = 0;
}

bfd_status run_block(Block *b, const char *kernel, const char *file, int line) {
  b->next = 0;
  b->exited = 0;
  bfd_status s = BFD_OK;
  while (b->next < b->nthreads && s == BFD_OK) s = start_fiber(b, kernel);
  while (b->waiting.n > 0) {
    if (s == BFD_OK) s = check_barrier(b, kernel, file, line);
    if (s != BFD_OK) {
      abandon_waiting(b);
      return s;
    }
    b->arrived = b->waiting;
    b->waiting.n = 0;
    for (unsigned i = 0; i < b->arrived.n; i++) {
      Fiber *f = b->arrived.at[i];
      threadIdx = thread_index(b->dim, f->thread);
      f->waiting = false;
      run_fiber(b, f);
    }
  }
  return s;
}

bfd_status check_config(const char *kernel, dim3 grid, dim3 block, const char *file, int line) {
  unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  bool block_ok = block.x >= 1 && block.y >= 1 && block.z >= 1 && block.x <= kMaxBlockX && block.y <= kMaxBlockY &&
                  block.z <= kMaxBlockZ && threads <= kMaxThreadsPerBlock;
  bool grid_ok = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= kMaxGridX && grid.y <= kMaxGridYZ &&
                 grid.z <= kMaxGridYZ;
  if (block_ok && grid_ok) return BFD_OK;
  return bfdi_fail(BFD_ERR_CUDA,
                   "%s:%d: launch of %s failed: %s: grid (%u,%u,%u), block (%u,%u,%u); CUDA allows blocks of at "
                   "most %u threads with x,y <= %u and z <= %u, and grids of 1..%u x 1..%u x 1..%u blocks (fix the "
                   "launch configuration)",
                   file, line, kernel, cudaGetErrorString(cudaErrorInvalidConfiguration), grid.x, grid.y, grid.z,
                   block.x, block.y, block.z, kMaxThreadsPerBlock, kMaxBlockX, kMaxBlockZ, kMaxGridX, kMaxGridYZ,
                   kMaxGridYZ);
}

}  // namespace

void bfd_emu_syncthreads(const char *file, int line) {
  Block *b = t_block;
  if (!b) return;  // host code outside a launch is a block of one thread
  Fiber *f = b->cur;
  f->waiting = true;
  f->wait_file = file;
  f->wait_line = line;
  b->waiting.push(f);
  switch_to_scheduler(b, f);
}

bfd_status bfd_emu_run(const char *kernel, dim3 grid, dim3 block, cudaStream_t stream, void (*body)(const void *),
                       const void *ctx, const char *file, int line) {
  BFD_TRY(check_config(kernel, grid, block, file, line));
  // Synchronizing a stream checks its handle; a launch reports its error
  // through the status only, as BFD_LAUNCH consumes it under nvcc.
  cudaError_t e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return bfdi_fail(BFD_ERR_CUDA,
                     "%s:%d: launch of %s failed: %s (the stream was destroyed or never created; pass 0 or a "
                     "live stream)",
                     file, line, kernel, cudaGetErrorString(e));
  }
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  Block *b = &g_block;
  b->body = body;
  b->ctx = ctx;
  b->dim = block;
  b->nthreads = block.x * block.y * block.z;
  gridDim = grid;
  blockDim = block;
  t_block = b;
  bfd_status s = BFD_OK;
  for (unsigned z = 0; z < grid.z && s == BFD_OK; z++)
    for (unsigned y = 0; y < grid.y && s == BFD_OK; y++)
      for (unsigned x = 0; x < grid.x && s == BFD_OK; x++) {
        blockIdx = uint3{x, y, z};
        s = run_block(b, kernel, file, line);
      }
  t_block = nullptr;
  return s;
}
