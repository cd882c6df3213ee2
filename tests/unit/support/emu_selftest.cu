// Test-only kernels for the CUDA emulator, each exercising one feature, and
// the host functions (emu_selftest.h) that run them for tests/unit/test_emu.c.
#include <cuda_runtime.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cuda/launch.h"
#include "emu_selftest.h"

namespace {

// Owners that free on every exit path, so the host functions can BFD_TRY.
template <class T>
struct DeviceBuffer {
  T *p = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer() { cudaFree(p); }
  bfd_status alloc(size_t n) { return BFD_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T))); }
  bfd_status upload(const T *src, size_t n) {
    return BFD_CUDA_CHECK(cudaMemcpy(p, src, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  bfd_status download(T *dst, size_t n) const {
    return BFD_CUDA_CHECK(cudaMemcpy(dst, p, n * sizeof(T), cudaMemcpyDeviceToHost));
  }
  bfd_status zero(size_t n) { return BFD_CUDA_CHECK(cudaMemset(p, 0, n * sizeof(T))); }
};

struct PinnedBuffer {
  uint8_t *p = nullptr;
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer &) = delete;
  PinnedBuffer &operator=(const PinnedBuffer &) = delete;
  ~PinnedBuffer() { cudaFreeHost(p); }
};

struct Stream {
  cudaStream_t s = nullptr;
  Stream() = default;
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;
  ~Stream() {
    if (s) cudaStreamDestroy(s);
  }
};

struct Event {
  cudaEvent_t e = nullptr;
  Event() = default;
  Event(const Event &) = delete;
  Event &operator=(const Event &) = delete;
  ~Event() {
    if (e) cudaEventDestroy(e);
  }
};

struct Registration {
  void *p = nullptr;
  Registration() = default;
  Registration(const Registration &) = delete;
  Registration &operator=(const Registration &) = delete;
  ~Registration() {
    if (p) cudaHostUnregister(p);
  }
};

__global__ void grid2d_kernel(const int32_t *__restrict__ in, int32_t *__restrict__ out, uint32_t *hits, int w,
                              int h) {
  for (int y = (int)(blockIdx.y * blockDim.y + threadIdx.y); y < h; y += (int)(blockDim.y * gridDim.y))
    for (int x = (int)(blockIdx.x * blockDim.x + threadIdx.x); x < w; x += (int)(blockDim.x * gridDim.x)) {
      size_t i = (size_t)y * (size_t)w + (size_t)x;
      out[i] = in[i] * 3 + x * 7 + y;
      atomicAdd(&hits[i], 1u);
    }
}

__global__ void block_sums_kernel(const uint32_t *in, size_t n, uint32_t *sums) {
  __shared__ uint32_t part[1024];
  unsigned t = threadIdx.x;
  uint32_t acc = 0;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + t; i < n; i += (size_t)blockDim.x * gridDim.x) acc += in[i];
  part[t] = acc;
  __syncthreads();
  for (unsigned step = 1; step < blockDim.x; step *= 2) {
    if (t % (2 * step) == 0 && t + step < blockDim.x) part[t] += part[t + step];
    __syncthreads();
  }
  if (t == 0) sums[blockIdx.x] = part[0];
}

__global__ void histogram_kernel(const int32_t *in, size_t n, uint32_t *bins, unsigned nbins, int32_t *minmax,
                                 unsigned long long *total) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x) {
    int32_t v = in[i];
    atomicAdd(&bins[(uint32_t)v % nbins], 1u);
    atomicMin(&minmax[0], v);
    atomicMax(&minmax[1], v);
    atomicAdd(total, (unsigned long long)(long long)v);
  }
}

__global__ void atomics_kernel(emu_atomics *r) {
  unsigned t = threadIdx.x;
  atomicSub(&r->sub_int, (int)t);
  atomicSub(&r->sub_uint, 1u);
  if (atomicCAS(&r->cas_owner, -1, (int)t) == -1) atomicAdd(&r->cas_wins, 1u);
  atomicAdd(&r->exch_seen, (unsigned long long)atomicExch(&r->exch, t));
  atomicMax(&r->umax, 3 * t + 1);
  atomicMin(&r->umin, 3 * t + 1);
  atomicMax(&r->ullmax, (unsigned long long)t << 40);
  atomicMin(&r->ullmin, (unsigned long long)(t + 1) << 40);
  unsigned long long seen = r->ullcas_sum, expected;
  do {
    expected = seen;
    seen = atomicCAS(&r->ullcas_sum, expected, expected + t + 1);
  } while (seen != expected);
  atomicExch(&r->ullexch, (unsigned long long)t + 100);
  if (t == 0) {
    r->min_int = min(-1, 2);
    r->max_int = max(-1, 2);
    r->min_mixed = min(-1, 2u);
    r->max_mixed = max(-1, 2u);
    r->min_float = min(1.5f, -2.5f);
    r->max_float = max(1.5f, -2.5f);
  }
}

__global__ void grid3d_kernel(uint32_t *tcoord, uint32_t *bcoord, uint32_t *hits, uint32_t *mirror) {
  __shared__ uint32_t slot[1024];
  unsigned nx = gridDim.x * blockDim.x, ny = gridDim.y * blockDim.y;
  unsigned x = blockIdx.x * blockDim.x + threadIdx.x;
  unsigned y = blockIdx.y * blockDim.y + threadIdx.y;
  unsigned z = blockIdx.z * blockDim.z + threadIdx.z;
  size_t i = ((size_t)z * ny + y) * nx + x;
  unsigned own = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
  unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  slot[own] = own | block << 10;
  __syncthreads();
  mirror[i] = slot[nthreads - 1 - own];
  tcoord[i] = threadIdx.x | threadIdx.y << 10 | threadIdx.z << 20;
  bcoord[i] = blockIdx.x | blockIdx.y << 10 | blockIdx.z << 20;
  atomicAdd(&hits[i], 1u);
}

__global__ void diverge_subset_kernel(int *out) {
  if (threadIdx.x < 5) __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void diverge_sites_kernel(int *out) {
  if (threadIdx.x % 2) {
    out[threadIdx.x] = 1;
    __syncthreads();
  } else {
    out[threadIdx.x] = 2;
    __syncthreads();
  }
}

__global__ void diverge_early_return_kernel(int *out, unsigned n) {
  __shared__ int mirror[32];
  unsigned t = threadIdx.x;
  if (t >= n) return;
  mirror[t] = (int)t;
  __syncthreads();
  out[t] = mirror[n - 1 - t];
}

__global__ void count_threads_kernel(unsigned long long *count) { atomicAdd(count, 1ull); }

__global__ void add_one_kernel(uint8_t *p, size_t n) {
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = (uint8_t)(p[i] + 1);
}

// ---- Runtime scenarios: each returns the result of the call it is about.

cudaError_t probe_free_null() { return cudaFree(nullptr); }

cudaError_t probe_free_unknown() {
  int local = 0;
  return cudaFree(&local);
}

cudaError_t probe_free_interior() {
  char *p;
  cudaError_t e = cudaMalloc(&p, 64);
  if (e != cudaSuccess) return e;
  e = cudaFree(p + 1);
  cudaFree(p);
  return e;
}

cudaError_t probe_free_twice() {
  void *p;
  cudaError_t e = cudaMalloc(&p, 64);
  if (e == cudaSuccess) e = cudaFree(p);
  return e == cudaSuccess ? cudaFree(p) : e;
}

cudaError_t probe_freehost_device() {
  void *p;
  cudaError_t e = cudaMalloc(&p, 64);
  if (e != cudaSuccess) return e;
  e = cudaFreeHost(p);
  cudaFree(p);
  return e;
}

cudaError_t probe_malloc_zero() {
  void *p = &p;
  cudaError_t e = cudaMalloc(&p, 0);
  return e == cudaSuccess && p != nullptr ? cudaErrorUnknown : e;
}

cudaError_t probe_malloc_huge() {
  void *p = nullptr;
  cudaError_t e = cudaMalloc(&p, (size_t)-1 / 2);
  if (e == cudaSuccess) cudaFree(p);
  return e;
}

cudaError_t probe_memcpy_swapped_kind() {
  char host[16] = {0};
  char *dev;
  cudaError_t e = cudaMalloc(&dev, sizeof host);
  if (e != cudaSuccess) return e;
  e = cudaMemcpy(dev, host, sizeof host, cudaMemcpyDeviceToHost);
  cudaFree(dev);
  return e;
}

cudaError_t probe_memcpy_past_end() {
  char host[32] = {0};
  char *dev;
  cudaError_t e = cudaMalloc(&dev, 16);
  if (e != cudaSuccess) return e;
  e = cudaMemcpy(dev, host, sizeof host, cudaMemcpyHostToDevice);
  cudaFree(dev);
  return e;
}

cudaError_t probe_memcpy_device_to_device() {
  char *a, *b;
  cudaError_t e = cudaMalloc(&a, 32);
  if (e != cudaSuccess) return e;
  e = cudaMalloc(&b, 32);
  if (e == cudaSuccess) {
    e = cudaMemset(a, 7, 32);
    if (e == cudaSuccess) e = cudaMemcpy(b + 8, a, 24, cudaMemcpyDeviceToDevice);
    char host[32];
    if (e == cudaSuccess) e = cudaMemcpy(host, b + 8, 24, cudaMemcpyDeviceToHost);
    if (e == cudaSuccess && (host[0] != 7 || host[23] != 7)) e = cudaErrorUnknown;
    cudaFree(b);
  }
  cudaFree(a);
  return e;
}

cudaError_t probe_memset_host() {
  char host[16];
  return cudaMemset(host, 0, sizeof host);
}

cudaError_t probe_stream_destroyed() {
  cudaStream_t s;
  cudaError_t e = cudaStreamCreate(&s);
  if (e == cudaSuccess) e = cudaStreamDestroy(s);
  char a[4] = {0}, b[4];
  return e == cudaSuccess ? cudaMemcpyAsync(b, a, sizeof a, cudaMemcpyHostToHost, s) : e;
}

cudaError_t probe_stream_destroy_twice() {
  cudaStream_t s;
  cudaError_t e = cudaStreamCreate(&s);
  if (e == cudaSuccess) e = cudaStreamDestroy(s);
  return e == cudaSuccess ? cudaStreamDestroy(s) : e;
}

cudaError_t probe_event_timing_disabled() {
  cudaEvent_t a, b;
  cudaError_t e = cudaEventCreateWithFlags(&a, cudaEventDisableTiming);
  if (e != cudaSuccess) return e;
  e = cudaEventCreateWithFlags(&b, cudaEventDisableTiming);
  if (e == cudaSuccess) {
    float ms;
    e = cudaEventRecord(a);
    if (e == cudaSuccess) e = cudaEventRecord(b);
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(b);
  }
  cudaEventDestroy(a);
  return e;
}

cudaError_t probe_event_not_recorded() {
  cudaEvent_t a, b;
  cudaError_t e = cudaEventCreate(&a);
  if (e != cudaSuccess) return e;
  e = cudaEventCreate(&b, cudaEventDefault);
  if (e == cudaSuccess) {
    float ms;
    e = cudaEventRecord(a);
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(b);
  }
  cudaEventDestroy(a);
  return e;
}

cudaError_t probe_set_device_1() { return cudaSetDevice(1); }

cudaError_t probe_register_twice() {
  static char buf[64];
  cudaError_t e = cudaHostRegister(buf, sizeof buf, cudaHostRegisterDefault);
  if (e != cudaSuccess) return e;
  e = cudaHostRegister(buf + 8, 8, cudaHostRegisterDefault);
  cudaHostUnregister(buf);
  return e;
}

cudaError_t probe_unregister_unknown() {
  static char buf[64];
  return cudaHostUnregister(buf);
}

// A failed call is what cudaGetLastError reports next, once.
cudaError_t probe_last_error() {
  int local;
  cudaFree(&local);
  if (cudaPeekAtLastError() != cudaErrorInvalidValue) return cudaErrorUnknown;
  cudaError_t e = cudaGetLastError();
  return cudaGetLastError() == cudaSuccess ? e : cudaErrorUnknown;
}

struct Probe {
  const char *name;
  cudaError_t (*run)();
};

const Probe kProbes[] = {
    {"free_null", probe_free_null},
    {"free_unknown", probe_free_unknown},
    {"free_interior", probe_free_interior},
    {"free_twice", probe_free_twice},
    {"freehost_device", probe_freehost_device},
    {"malloc_zero", probe_malloc_zero},
    {"malloc_huge", probe_malloc_huge},
    {"memcpy_swapped_kind", probe_memcpy_swapped_kind},
    {"memcpy_past_end", probe_memcpy_past_end},
    {"memcpy_device_to_device", probe_memcpy_device_to_device},
    {"memset_host", probe_memset_host},
    {"stream_destroyed", probe_stream_destroyed},
    {"stream_destroy_twice", probe_stream_destroy_twice},
    {"event_timing_disabled", probe_event_timing_disabled},
    {"event_not_recorded", probe_event_not_recorded},
    {"set_device_1", probe_set_device_1},
    {"register_twice", probe_register_twice},
    {"unregister_unknown", probe_unregister_unknown},
    {"last_error", probe_last_error},
};

}  // namespace

extern "C" bfd_status emu_selftest_grid2d(const int32_t *in, int32_t *out, uint32_t *hits, int w, int h, unsigned bx,
                                          unsigned by, unsigned gx, unsigned gy) {
  size_t n = (size_t)w * (size_t)h;
  DeviceBuffer<int32_t> din, dout;
  DeviceBuffer<uint32_t> dhits;
  BFD_TRY(din.alloc(n));
  BFD_TRY(dout.alloc(n));
  BFD_TRY(dhits.alloc(n));
  BFD_TRY(din.upload(in, n));
  BFD_TRY(dhits.zero(n));
  BFD_TRY(BFD_LAUNCH(grid2d_kernel, dim3(gx, gy), dim3(bx, by), 0, din.p, dout.p, dhits.p, w, h));
  BFD_TRY(dout.download(out, n));
  return dhits.download(hits, n);
}

extern "C" bfd_status emu_selftest_block_sums(const uint32_t *in, size_t n, unsigned block, unsigned grid,
                                              uint32_t *sums) {
  DeviceBuffer<uint32_t> din, dsums;
  BFD_TRY(din.alloc(n));
  BFD_TRY(dsums.alloc(grid));
  BFD_TRY(din.upload(in, n));
  BFD_TRY(BFD_LAUNCH(block_sums_kernel, grid, block, 0, din.p, n, dsums.p));
  return dsums.download(sums, grid);
}

extern "C" bfd_status emu_selftest_histogram(const int32_t *in, size_t n, uint32_t *bins, unsigned nbins,
                                             int32_t minmax[2], unsigned long long *total) {
  DeviceBuffer<int32_t> din, dminmax;
  DeviceBuffer<uint32_t> dbins;
  DeviceBuffer<unsigned long long> dtotal;
  const int32_t start[2] = {INT_MAX, INT_MIN};
  BFD_TRY(din.alloc(n));
  BFD_TRY(dbins.alloc(nbins));
  BFD_TRY(dminmax.alloc(2));
  BFD_TRY(dtotal.alloc(1));
  BFD_TRY(din.upload(in, n));
  BFD_TRY(dbins.zero(nbins));
  BFD_TRY(dminmax.upload(start, 2));
  BFD_TRY(dtotal.zero(1));
  BFD_TRY(BFD_LAUNCH(histogram_kernel, 5, 64, 0, din.p, n, dbins.p, nbins, dminmax.p, dtotal.p));
  BFD_TRY(dbins.download(bins, nbins));
  BFD_TRY(dminmax.download(minmax, 2));
  return dtotal.download(total, 1);
}

extern "C" bfd_status emu_selftest_atomics(unsigned nthreads, emu_atomics *out) {
  emu_atomics start;
  memset(&start, 0, sizeof start);
  start.sub_int = 1000;
  start.sub_uint = 5000;
  start.cas_owner = -1;
  start.exch = 7777;
  start.umin = UINT_MAX;
  start.ullmin = ULLONG_MAX;
  DeviceBuffer<emu_atomics> d;
  BFD_TRY(d.alloc(1));
  BFD_TRY(d.upload(&start, 1));
  BFD_TRY(BFD_LAUNCH(atomics_kernel, 1, nthreads, 0, d.p));
  return d.download(out, 1);
}

extern "C" bfd_status emu_selftest_grid3d(unsigned bx, unsigned by, unsigned bz, unsigned gx, unsigned gy,
                                          unsigned gz, uint32_t *tcoord, uint32_t *bcoord, uint32_t *hits,
                                          uint32_t *mirror) {
  size_t n = (size_t)bx * gx * by * gy * bz * gz;
  DeviceBuffer<uint32_t> dt, db, dh, dm;
  BFD_TRY(dt.alloc(n));
  BFD_TRY(db.alloc(n));
  BFD_TRY(dh.alloc(n));
  BFD_TRY(dm.alloc(n));
  BFD_TRY(dh.zero(n));
  BFD_TRY(BFD_LAUNCH(grid3d_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), 0, dt.p, db.p, dh.p, dm.p));
  BFD_TRY(dt.download(tcoord, n));
  BFD_TRY(db.download(bcoord, n));
  BFD_TRY(dh.download(hits, n));
  return dm.download(mirror, n);
}

extern "C" bfd_status emu_selftest_divergent(emu_divergence kind) {
  DeviceBuffer<int> d;
  BFD_TRY(d.alloc(32));
  switch (kind) {
    case EMU_DIVERGE_SUBSET: return BFD_LAUNCH(diverge_subset_kernel, 1, 32, 0, d.p);
    case EMU_DIVERGE_SITES: return BFD_LAUNCH(diverge_sites_kernel, 1, 32, 0, d.p);
    case EMU_DIVERGE_EARLY_RETURN: return BFD_LAUNCH(diverge_early_return_kernel, 1, 32, 0, d.p, 20u);
  }
  return bfdi_fail(BFD_ERR_INVALID_ARG, "emu_selftest_divergent: unknown kind %d", (int)kind);
}

extern "C" bfd_status emu_selftest_count_threads(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                                 unsigned bz, unsigned long long *count) {
  DeviceBuffer<unsigned long long> d;
  BFD_TRY(d.alloc(1));
  BFD_TRY(d.zero(1));
  BFD_TRY(BFD_LAUNCH(count_threads_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), 0, d.p));
  return d.download(count, 1);
}

extern "C" bfd_status emu_selftest_launch_on_destroyed_stream(void) {
  DeviceBuffer<unsigned long long> d;
  cudaStream_t s;
  BFD_TRY(d.alloc(1));
  BFD_TRY(BFD_CUDA_CHECK(cudaStreamCreate(&s)));
  BFD_TRY(BFD_CUDA_CHECK(cudaStreamDestroy(s)));
#if defined(BFD_EMU)
  return bfd_emu_launch("count_threads_kernel", dim3(1), dim3(1), s, [&]() { count_threads_kernel(d.p); });
#else
  return BFD_LAUNCH(count_threads_kernel, 1, 1, s, d.p);
#endif
}

extern "C" const char *emu_selftest_probe(const char *scenario) {
  for (const Probe &p : kProbes)
    if (strcmp(p.name, scenario) == 0) {
      cudaGetLastError();
      return cudaGetErrorName(p.run());
    }
  return nullptr;
}

extern "C" bfd_status emu_selftest_pipeline(const uint8_t *in, uint8_t *out, size_t n, float *elapsed_ms) {
  PinnedBuffer staging;
  Registration reg;
  Stream stream;
  Event start, stop, done;
  DeviceBuffer<uint8_t> dev;
  BFD_TRY(BFD_CUDA_CHECK(cudaMallocHost(&staging.p, n)));
  memcpy(staging.p, in, n);
  BFD_TRY(BFD_CUDA_CHECK(cudaHostRegister(out, n, cudaHostRegisterDefault)));
  reg.p = out;
  BFD_TRY(BFD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream.s, cudaStreamNonBlocking)));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventCreate(&start.e)));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventCreate(&stop.e)));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventCreateWithFlags(&done.e, cudaEventDisableTiming)));
  BFD_TRY(dev.alloc(n));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventRecord(start.e, stream.s)));
  BFD_TRY(BFD_CUDA_CHECK(cudaMemcpyAsync(dev.p, staging.p, n, cudaMemcpyHostToDevice, stream.s)));
  BFD_TRY(BFD_LAUNCH(add_one_kernel, (unsigned)((n + 255) / 256), 256, stream.s, dev.p, n));
  BFD_TRY(BFD_CUDA_CHECK(cudaMemsetAsync(dev.p + n / 2, 0, n - n / 2, stream.s)));
  BFD_TRY(BFD_CUDA_CHECK(cudaMemcpyAsync(out, dev.p, n, cudaMemcpyDeviceToHost, stream.s)));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventRecord(stop.e, stream.s)));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventRecord(done.e, stream.s)));
  BFD_TRY(BFD_CUDA_CHECK(cudaStreamWaitEvent(0, done.e, 0)));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventSynchronize(stop.e)));
  BFD_TRY(BFD_CUDA_CHECK(cudaEventQuery(done.e)));
  BFD_TRY(BFD_CUDA_CHECK(cudaStreamSynchronize(stream.s)));
  BFD_TRY(BFD_CUDA_CHECK(cudaDeviceSynchronize()));
  return BFD_CUDA_CHECK(cudaEventElapsedTime(elapsed_ms, start.e, stop.e));
}

extern "C" bfd_status emu_selftest_device(int *count, int *device, int *max_threads_per_block, int *major,
                                          size_t *total_global_mem, char *name, size_t name_size) {
  BFD_TRY(BFD_CUDA_CHECK(cudaGetDeviceCount(count)));
  BFD_TRY(BFD_CUDA_CHECK(cudaSetDevice(0)));
  BFD_TRY(BFD_CUDA_CHECK(cudaGetDevice(device)));
  cudaDeviceProp prop;
  BFD_TRY(BFD_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0)));
  *max_threads_per_block = prop.maxThreadsPerBlock;
  *major = prop.major;
  *total_global_mem = prop.totalGlobalMem;
  snprintf(name, name_size, "%s", prop.name);
  return BFD_OK;
}
