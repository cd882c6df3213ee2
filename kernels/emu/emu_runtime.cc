// The CUDA emulator's runtime: one device whose memory is host memory, and
// streams and events that complete on the spot (every call is synchronous).
// It keeps the checks the real runtime makes that catch bugs before a GPU
// does: unknown or interior pointers to cudaFree, copies whose device side is
// not device memory or runs past its allocation (a swapped cudaMemcpyKind),
// destroyed streams and events, double host registration. Failures set the
// calling thread's last error, as in CUDA.
//
// The tables keep addresses bit-inverted so that LeakSanitizer does not see
// them as references: device memory, streams and events a test forgets to
// free are reported as leaks, as they would leak on a GPU.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <mutex>

#include "emu/cuda_emu.h"

struct CUstream_st {
  unsigned int flags;
};

struct CUevent_st {
  unsigned int flags;
  bool recorded;
  double ms;  // CLOCK_MONOTONIC at the last record
};

namespace {

constexpr size_t kDeviceAlign = 256;  // cudaMalloc's guarantee

// Address ranges by inverted base: lower_bound(~p) finds the highest base <= p.
class Ranges {
 public:
  void add(const void *p, size_t n) { map_[~reinterpret_cast<uintptr_t>(p)] = n; }
  bool remove(const void *p) { return map_.erase(~reinterpret_cast<uintptr_t>(p)) == 1; }
  bool has_base(const void *p) const { return map_.count(~reinterpret_cast<uintptr_t>(p)) == 1; }
  // Whether [p, p+n) lies inside one range.
  bool holds(const void *p, size_t n) const {
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = map_.lower_bound(~a);
    if (it == map_.end()) return false;
    uintptr_t off = a - ~it->first;
    return off < it->second && n <= it->second - off;
  }
  // Whether [p, p+n) shares a byte with a range.
  bool overlaps(const void *p, size_t n) const {
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = map_.lower_bound(~(a + n - 1));
    return it != map_.end() && ~it->first + it->second > a;
  }

 private:
  std::map<uintptr_t, size_t> map_;
};

std::mutex g_mutex;
Ranges g_device;      // cudaMalloc
Ranges g_pinned;      // cudaHostAlloc / cudaMallocHost
Ranges g_registered;  // cudaHostRegister
Ranges g_streams;     // live streams (size 1)
Ranges g_events;      // live events (size 1)
thread_local cudaError_t t_last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

// What the device can address: its memory, and pinned or registered host
// memory (mapped into the device's address space, as with UVA).
bool device_accessible(const void *p, size_t n) {
  return g_device.holds(p, n) || g_pinned.holds(p, n) || g_registered.holds(p, n);
}

bool stream_ok(cudaStream_t s) { return s == nullptr || g_streams.has_base(s); }

double now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

size_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)1 << 32;
}

cudaError_t alloc(Ranges *table, void **ptr, size_t size) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  void *p = nullptr;
  // More than the machine has fails like an exhausted GPU, rather than
  // tripping the sanitizer's allocation-size abort.
  if (size > physical_memory() || posix_memalign(&p, kDeviceAlign, size) != 0) return fail(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(g_mutex);
  table->add(p, size);
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(Ranges *table, void *p) {
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!table->remove(p)) return fail(cudaErrorInvalidValue);
  }
  free(p);
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaGetLastError(void) {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return t_last_error; }

const char *cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorHostMemoryAlreadyRegistered: return "cudaErrorHostMemoryAlreadyRegistered";
    case cudaErrorHostMemoryNotRegistered: return "cudaErrorHostMemoryNotRegistered";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorHostMemoryAlreadyRegistered: return "part or all of the requested memory range is already mapped";
    case cudaErrorHostMemoryNotRegistered: return "pointer does not correspond to a registered memory region";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

cudaError_t cudaGetDeviceCount(int *count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaGetDevice(int *device) {
  if (!device) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device) {
  if (!prop) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  memset(prop, 0, sizeof *prop);
  snprintf(prop->name, sizeof prop->name, "biofeed CUDA emulator (CPU)");
  prop->totalGlobalMem = physical_memory();
  prop->sharedMemPerBlock = 48 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  // The oldest architecture the production build targets (sm_80).
  prop->major = 8;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaMalloc(void **devPtr, size_t size) { return alloc(&g_device, devPtr, size); }

cudaError_t cudaFree(void *devPtr) { return release(&g_device, devPtr); }

cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags) {
  if (flags & ~(unsigned)(cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined))
    return fail(cudaErrorInvalidValue);
  return alloc(&g_pinned, pHost, size);
}

cudaError_t cudaMallocHost(void **ptr, size_t size) { return alloc(&g_pinned, ptr, size); }

cudaError_t cudaFreeHost(void *ptr) { return release(&g_pinned, ptr); }

cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags) {
  if (!ptr || size == 0 ||
      (flags & ~(unsigned)(cudaHostRegisterPortable | cudaHostRegisterMapped | cudaHostRegisterIoMemory |
                           cudaHostRegisterReadOnly)))
    return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_registered.overlaps(ptr, size)) return fail(cudaErrorHostMemoryAlreadyRegistered);
  g_registered.add(ptr, size);
  return cudaSuccess;
}

cudaError_t cudaHostUnregister(void *ptr) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_registered.remove(ptr) ? cudaSuccess : fail(cudaErrorHostMemoryNotRegistered);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  if ((unsigned)kind > cudaMemcpyDefault) return fail(cudaErrorInvalidMemcpyDirection);
  bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind != cudaMemcpyDefault) {
    std::lock_guard<std::mutex> lock(g_mutex);
    bool ok = (dst_dev ? device_accessible(dst, count) : !g_device.holds(dst, 1)) &&
              (src_dev ? device_accessible(src, count) : !g_device.holds(src, 1));
    if (!ok) return fail(cudaErrorInvalidValue);
  }
  memcpy(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!stream_ok(stream)) return fail(cudaErrorInvalidResourceHandle);
  }
  return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count) {
  if (count == 0) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!device_accessible(devPtr, count)) return fail(cudaErrorInvalidValue);
  }
  memset(devPtr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!stream_ok(stream)) return fail(cudaErrorInvalidResourceHandle);
  }
  return cudaMemset(devPtr, value, count);
}

cudaError_t cudaStreamCreate(cudaStream_t *pStream) { return cudaStreamCreateWithFlags(pStream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags) {
  if (!pStream || (flags & ~(unsigned)cudaStreamNonBlocking)) return fail(cudaErrorInvalidValue);
  cudaStream_t s = new CUstream_st{flags};
  std::lock_guard<std::mutex> lock(g_mutex);
  g_streams.add(s, 1);
  *pStream = s;
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!stream || !g_streams.remove(stream)) return fail(cudaErrorInvalidResourceHandle);
  }
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return stream_ok(stream) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!stream_ok(stream) || !g_events.has_base(event)) return fail(cudaErrorInvalidResourceHandle);
  return flags == 0 ? cudaSuccess : fail(cudaErrorInvalidValue);
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
  if (!event || (flags & ~(unsigned)(cudaEventBlockingSync | cudaEventDisableTiming)))
    return fail(cudaErrorInvalidValue);
  cudaEvent_t e = new CUevent_st{flags, false, 0.0};
  std::lock_guard<std::mutex> lock(g_mutex);
  g_events.add(e, 1);
  *event = e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_events.has_base(event) || !stream_ok(stream)) return fail(cudaErrorInvalidResourceHandle);
  event->recorded = true;
  event->ms = now_ms();
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_events.has_base(event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) { return cudaEventQuery(event); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_events.remove(event)) return fail(cudaErrorInvalidResourceHandle);
  }
  delete event;
  return cudaSuccess;
}

// As in CUDA: both events recorded and timed, or an invalid handle.
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_events.has_base(start) || !g_events.has_base(end) || !start->recorded || !end->recorded ||
      ((start->flags | end->flags) & cudaEventDisableTiming))
    return fail(cudaErrorInvalidResourceHandle);
  *ms = (float)(end->ms - start->ms);
  return cudaSuccess;
}
