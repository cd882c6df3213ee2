/* The CUDA grid emulator that test builds run kernels on: index variables
 * in 2D and 3D grids, __shared__ with __syncthreads, atomics, barrier
 * divergence and launch configurations reported as errors, the runtime's
 * error checks and a stream pipeline, launches from two threads at once, and
 * the device query (tests/unit/support/emu_selftest.cu has the kernels). */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "biofeed/biofeed.h"
#include "support/emu_selftest.h"

/* Deterministic test data. */
static uint32_t lcg(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8;
}

static void check_grid2d(int w, int h, unsigned bx, unsigned by, unsigned gx, unsigned gy) {
  size_t n = (size_t)w * (size_t)h;
  int32_t *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
  uint32_t *hits = malloc(n * sizeof *hits);
  uint32_t seed = 7;
  for (size_t i = 0; i < n; i++) in[i] = (int32_t)(lcg(&seed) % 2001) - 1000;
  assert_int_equal(emu_selftest_grid2d(in, out, hits, w, h, bx, by, gx, gy), BFD_OK);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      size_t i = (size_t)y * (size_t)w + (size_t)x;
      assert_int_equal(out[i], in[i] * 3 + x * 7 + y);
      assert_int_equal(hits[i], 1);
    }
  free(in);
  free(out);
  free(hits);
}

static void test_grid2d_all_index_variables(void **state) {
  (void)state;
  check_grid2d(100, 37, 16, 8, 3, 2);  /* fewer threads than elements: grid-stride */
  check_grid2d(128, 40, 32, 4, 4, 10); /* one thread per element */
  check_grid2d(5, 3, 32, 32, 2, 2);    /* more threads than elements */
}

static void expect_block_sums(const uint32_t *in, size_t n, unsigned block, unsigned grid, uint32_t *expect) {
  memset(expect, 0, grid * sizeof *expect);
  for (size_t i = 0; i < n; i++) expect[(i / block) % grid] += in[i];
}

static void check_block_sums(size_t n, unsigned block, unsigned grid, uint32_t seed) {
  uint32_t *in = malloc(n * sizeof *in), *sums = malloc(grid * sizeof *sums), *expect = malloc(grid * sizeof *expect);
  for (size_t i = 0; i < n; i++) in[i] = lcg(&seed) % 1000;
  expect_block_sums(in, n, block, grid, expect);
  assert_int_equal(emu_selftest_block_sums(in, n, block, grid, sums), BFD_OK);
  assert_memory_equal(sums, expect, grid * sizeof *sums);
  free(in);
  free(sums);
  free(expect);
}

static void test_block_reduction_shared_and_barriers(void **state) {
  (void)state;
  check_block_sums(10000, 256, 7, 1);
  check_block_sums(999, 100, 3, 2); /* block size not a power of two */
  check_block_sums(5000, 1024, 2, 3);
  check_block_sums(1, 1, 1, 4);
}

static void test_atomic_histogram(void **state) {
  (void)state;
  enum { N = 5000, BINS = 17 };
  int32_t *in = malloc(N * sizeof *in);
  uint32_t bins[BINS], expect[BINS] = {0};
  int32_t minmax[2], lo = INT_MAX, hi = INT_MIN;
  unsigned long long total, expect_total = 0;
  uint32_t seed = 11;
  for (size_t i = 0; i < N; i++) {
    in[i] = (int32_t)(lcg(&seed) % 1001) - 500;
    expect[(uint32_t)in[i] % BINS]++;
    lo = in[i] < lo ? in[i] : lo;
    hi = in[i] > hi ? in[i] : hi;
    expect_total += (unsigned long long)(long long)in[i];
  }
  assert_int_equal(emu_selftest_histogram(in, N, bins, BINS, minmax, &total), BFD_OK);
  assert_memory_equal(bins, expect, sizeof bins);
  assert_int_equal(minmax[0], lo);
  assert_int_equal(minmax[1], hi);
  assert_true(total == expect_total);
  free(in);
}

static void check_atomics(unsigned n) {
  emu_atomics r;
  assert_int_equal(emu_selftest_atomics(n, &r), BFD_OK);
  unsigned long long tri = (unsigned long long)n * (n - 1) / 2; /* sum of t */
  assert_int_equal(r.sub_int, 1000 - (int32_t)tri);
  assert_int_equal(r.sub_uint, 5000 - n);
  assert_int_equal(r.cas_wins, 1);
  assert_in_range(r.cas_owner, 0, n - 1);
  assert_true(r.exch_seen + r.exch == 7777 + tri);
  assert_int_equal(r.umax, 3 * (n - 1) + 1);
  assert_int_equal(r.umin, 1);
  assert_true(r.ullmax == (unsigned long long)(n - 1) << 40);
  assert_true(r.ullmin == 1ull << 40);
  assert_true(r.ullcas_sum == tri + n);
  assert_in_range(r.ullexch, 100, 100 + n - 1);
  assert_int_equal(r.min_int, -1);
  assert_int_equal(r.max_int, 2);
  assert_int_equal(r.min_mixed, 2);
  assert_int_equal(r.max_mixed, UINT32_MAX);
  assert_true(r.min_float == -2.5f && r.max_float == 1.5f);
}

static void test_atomics_and_minmax_overloads(void **state) {
  (void)state;
  check_atomics(1);
  check_atomics(64);
  check_atomics(1024);
}

static void check_grid3d(unsigned bx, unsigned by, unsigned bz, unsigned gx, unsigned gy, unsigned gz) {
  unsigned nx = bx * gx, ny = by * gy, nz = bz * gz;
  size_t n = (size_t)nx * ny * nz;
  uint32_t *tc = malloc(n * 4), *bc = malloc(n * 4), *hits = malloc(n * 4), *mirror = malloc(n * 4);
  assert_int_equal(emu_selftest_grid3d(bx, by, bz, gx, gy, gz, tc, bc, hits, mirror), BFD_OK);
  unsigned nthreads = bx * by * bz;
  for (unsigned z = 0; z < nz; z++)
    for (unsigned y = 0; y < ny; y++)
      for (unsigned x = 0; x < nx; x++) {
        size_t i = ((size_t)z * ny + y) * nx + x;
        unsigned tx = x % bx, ty = y % by, tz = z % bz;
        unsigned block = ((z / bz) * gy + y / by) * gx + x / bx;
        unsigned own = (tz * by + ty) * bx + tx;
        assert_int_equal(tc[i], tx | ty << 10 | tz << 20);
        assert_int_equal(bc[i], x / bx | (y / by) << 10 | (z / bz) << 20);
        assert_int_equal(hits[i], 1);
        assert_int_equal(mirror[i], (nthreads - 1 - own) | block << 10);
      }
  free(tc);
  free(bc);
  free(hits);
  free(mirror);
}

static void test_grid3d_blocks_and_grids(void **state) {
  (void)state;
  check_grid3d(4, 3, 2, 2, 3, 4);
  check_grid3d(8, 8, 16, 1, 1, 2); /* 1024 threads a block */
  check_grid3d(1, 1, 64, 3, 1, 1);
}

static void expect_divergence(emu_divergence kind, const char *kernel, const char *detail) {
  assert_int_equal(emu_selftest_divergent(kind), BFD_ERR_INTERNAL);
  const char *msg = bfd_last_error();
  assert_non_null(strstr(msg, kernel));
  assert_non_null(strstr(msg, "__syncthreads at "));
  assert_non_null(strstr(msg, "emu_selftest.cu:"));
  assert_non_null(strstr(msg, detail));
}

static void test_divergent_syncthreads_is_an_error(void **state) {
  (void)state;
  expect_divergence(EMU_DIVERGE_SUBSET, "kernel diverge_subset_kernel, block (0,0,0)", "returned without reaching it");
  expect_divergence(EMU_DIVERGE_SITES, "kernel diverge_sites_kernel", "but thread (1,0,0) at ");
  expect_divergence(EMU_DIVERGE_EARLY_RETURN, "kernel diverge_early_return_kernel", "(20 of 32 threads did)");
  /* The emulator recovers: barriers work in the next launch. */
  check_block_sums(3000, 128, 5, 9);
}

static void test_launch_configuration(void **state) {
  (void)state;
  static const unsigned ok[][7] = {
      /* gx, gy, gz, bx, by, bz, threads */
      {1, 1, 1, 1024, 1, 1, 1024},  {1, 1, 1, 1, 1, 64, 64},   {1, 1, 1, 2, 8, 64, 1024},
      {3, 2, 2, 8, 4, 2, 768},      {70000, 1, 1, 1, 1, 1, 70000}, {1, 65535, 1, 1, 1, 1, 65535},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    const unsigned *c = ok[i];
    unsigned long long count = 0;
    assert_int_equal(emu_selftest_count_threads(c[0], c[1], c[2], c[3], c[4], c[5], &count), BFD_OK);
    assert_true(count == c[6]);
  }
  static const unsigned bad[][6] = {
      {1, 1, 1, 1025, 1, 1}, {1, 1, 1, 1, 1025, 1}, {1, 1, 1, 1, 1, 65}, {1, 1, 1, 32, 32, 2},
      {1, 1, 1, 0, 1, 1},    {0, 1, 1, 32, 1, 1},   {1, 0, 1, 32, 1, 1}, {1, 1, 0, 32, 1, 1},
      {1, 65536, 1, 1, 1, 1}, {1, 1, 65536, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const unsigned *c = bad[i];
    unsigned long long count = 0;
    assert_int_equal(emu_selftest_count_threads(c[0], c[1], c[2], c[3], c[4], c[5], &count), BFD_ERR_CUDA);
    const char *msg = bfd_last_error();
    assert_non_null(strstr(msg, "launch of count_threads_kernel failed: invalid configuration argument"));
    assert_non_null(strstr(msg, "emu_selftest.cu:"));
  }
}

static void test_launch_on_destroyed_stream(void **state) {
  (void)state;
  assert_int_equal(emu_selftest_launch_on_destroyed_stream(), BFD_ERR_CUDA);
  assert_non_null(strstr(bfd_last_error(), "launch of count_threads_kernel failed: invalid resource handle"));
}

static void test_runtime_error_checks(void **state) {
  (void)state;
  static const char *const probes[][2] = {
      {"free_null", "cudaSuccess"},
      {"free_unknown", "cudaErrorInvalidValue"},
      {"free_interior", "cudaErrorInvalidValue"},
      {"free_twice", "cudaErrorInvalidValue"},
      {"freehost_device", "cudaErrorInvalidValue"},
      {"malloc_zero", "cudaSuccess"},
      {"malloc_huge", "cudaErrorMemoryAllocation"},
      {"memcpy_swapped_kind", "cudaErrorInvalidValue"},
      {"memcpy_past_end", "cudaErrorInvalidValue"},
      {"memcpy_device_to_device", "cudaSuccess"},
      {"memset_host", "cudaErrorInvalidValue"},
      {"stream_destroyed", "cudaErrorInvalidResourceHandle"},
      {"stream_destroy_twice", "cudaErrorInvalidResourceHandle"},
      {"event_timing_disabled", "cudaErrorInvalidResourceHandle"},
      {"event_not_recorded", "cudaErrorInvalidResourceHandle"},
      {"set_device_1", "cudaErrorInvalidDevice"},
      {"register_twice", "cudaErrorHostMemoryAlreadyRegistered"},
      {"unregister_unknown", "cudaErrorHostMemoryNotRegistered"},
      {"last_error", "cudaErrorInvalidValue"},
  };
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    const char *got = emu_selftest_probe(probes[i][0]);
    if (!got || strcmp(got, probes[i][1]) != 0)
      fail_msg("probe %s: expected %s, got %s", probes[i][0], probes[i][1], got ? got : "(no such probe)");
  }
}

static void test_stream_pipeline(void **state) {
  (void)state;
  enum { N = 1000 };
  uint8_t in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = (uint8_t)(i * 37);
  memset(out, 0xAA, sizeof out);
  float ms = -1;
  assert_int_equal(emu_selftest_pipeline(in, out, N, &ms), BFD_OK);
  for (int i = 0; i < N; i++) assert_int_equal(out[i], i < N / 2 ? (uint8_t)(in[i] + 1) : 0);
  assert_true(ms >= 0);
}

/* Each thread checks many reductions; __shared__ is static storage, so
 * interleaved launches would corrupt each other's partial sums. */
typedef struct reducer {
  uint32_t seed;
  int failures;
} reducer;

static void *reduce_many(void *arg) {
  reducer *r = arg;
  enum { N = 20000, BLOCK = 256, GRID = 9, ROUNDS = 15 };
  uint32_t *in = malloc(N * sizeof *in), sums[GRID], expect[GRID];
  for (int round = 0; round < ROUNDS; round++) {
    for (size_t i = 0; i < N; i++) in[i] = lcg(&r->seed) % 100000;
    expect_block_sums(in, N, BLOCK, GRID, expect);
    if (emu_selftest_block_sums(in, N, BLOCK, GRID, sums) != BFD_OK || memcmp(sums, expect, sizeof sums) != 0)
      r->failures++;
  }
  free(in);
  return NULL;
}

static void test_launches_from_two_threads(void **state) {
  (void)state;
  reducer r[2] = {{1, 0}, {2, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, reduce_many, &r[i]), 0);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  assert_int_equal(r[0].failures, 0);
  assert_int_equal(r[1].failures, 0);
}

static void test_device_query(void **state) {
  (void)state;
  int count = 0, device = -1, max_threads = 0, major = 0;
  size_t mem = 0;
  char name[256];
  assert_int_equal(emu_selftest_device(&count, &device, &max_threads, &major, &mem, name, sizeof name), BFD_OK);
  assert_int_equal(count, 1);
  assert_int_equal(device, 0);
  assert_int_equal(max_threads, 1024);
  assert_int_equal(major, 8);
  assert_true(mem > 0);
  assert_non_null(strstr(name, "emulator"));
  /* kernels/cuda/device.cu, built against the emulator. */
  int n = -1;
  assert_int_equal(bfd_cuda_device_count(&n), BFD_OK);
  assert_int_equal(n, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grid2d_all_index_variables),
      cmocka_unit_test(test_block_reduction_shared_and_barriers),
      cmocka_unit_test(test_atomic_histogram),
      cmocka_unit_test(test_atomics_and_minmax_overloads),
      cmocka_unit_test(test_grid3d_blocks_and_grids),
      cmocka_unit_test(test_divergent_syncthreads_is_an_error),
      cmocka_unit_test(test_launch_configuration),
      cmocka_unit_test(test_launch_on_destroyed_stream),
      cmocka_unit_test(test_runtime_error_checks),
      cmocka_unit_test(test_stream_pipeline),
      cmocka_unit_test(test_launches_from_two_threads),
      cmocka_unit_test(test_device_query),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
