/* Soak: a bounded-time run of many epochs over a small image dataset while
 * the engine's read hook flips a byte in about one read in 40 (data, label,
 * replacement candidates alike), with on_corrupt: skip, two readers and two
 * workers. A second loader reads an identical, undamaged copy of the
 * dataset in step with it. Every epoch: as many rows as the clean run, the
 * rows that differ from the clean run's are exactly the rows the counters
 * say were replaced (so no sample is lost or repeated without being
 * reported), and resident memory stays flat after warm-up.
 *
 * BIOFEED_SOAK_SECONDS sets the duration (default 20, at most 600); it runs
 * at least MIN_EPOCHS epochs whatever the time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/engine.h"
#include "support/loader_util.h"

#define MIN_EPOCHS 12
#define SAMPLES 48
/* Memory is measured from the end of warm-up (the first quarter of the run,
 * and at least 4 epochs) on. Every loader buffer is allocated at open and
 * the replacement reader on the first fault, so a steady run holds the same
 * memory throughout: live heap bytes (exact under ASan) may not grow by more
 * than HEAP_SLACK. Resident memory also counts the allocators' caches (glibc
 * arenas per thread, ASan's quarantine, capped at 1 MiB here), which settle
 * during warm-up: RSS_SLACK. A buffer kept per batch or per fault exceeds
 * both within the run. */
#define WARMUP_EPOCHS 4
#define HEAP_SLACK (1u << 20)
#define RSS_SLACK (8u << 20)

#if defined(__SANITIZE_ADDRESS__)
/* ASan keeps freed memory in a quarantine (256 MiB by default) that would
 * read as growth; the environment may still override this. */
__attribute__((visibility("default"))) const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void) { return "quarantine_size_mb=1"; }
size_t __sanitizer_get_current_allocated_bytes(void);
static uint64_t heap_bytes(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
static uint64_t heap_bytes(void) { return 0; }
#endif

typedef tu_dir fx;

static _Atomic uint64_t hook_calls, hook_flips;

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void flip_hook(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)offset;
  (void)len;
  if (!strstr(path, "/faulty/") || *res <= 0) return;
  uint64_t h = mix64(hook_calls++);
  if (h % 40) return;
  buf[(h >> 32) % (uint64_t)*res] ^= 0x20;
  hook_flips++;
}

static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  unsigned long size = 0, resident = 0;
  assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
  fclose(f);
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One epoch's "sample" rows into out[0 .. *n). */
static void epoch_rows(bfd_loader *l, int64_t *out, size_t cap, size_t *n) {
  *n = 0;
  for (;;) {
    bfd_batch *b = NULL;
    bfd_status st = bfd_loader_next(l, &b);
    if (st != BFD_OK) print_message("next: %s\n", bfd_last_error());
    assert_int_equal(st, BFD_OK);
    if (!b) return;
    size_t k;
    int64_t *s = tl_i64(b, "sample", &k);
    assert_true(*n + k <= cap);
    memcpy(out + *n, s, k * sizeof *s);
    *n += k;
    free(s);
    assert_int_equal(bfd_batch_release(b), BFD_OK);
  }
}

static void test_soak(void **state) {
  fx *f = *state;
  double seconds = 20;
  const char *env = getenv("BIOFEED_SOAK_SECONDS");
  if (env && *env) seconds = atof(env);
  assert_true(seconds > 0 && seconds <= 600);
  char *dirs[2] = {strdup(tu_path("%s/clean", f->dir)), strdup(tu_path("%s/faulty", f->dir))};
  bfd_loader *l[2];
  for (int k = 0; k < 2; k++) {
    assert_int_equal(mkdir(dirs[k], 0755), 0);
    char *ds = tl_pack_images(dirs[k], "img", SAMPLES, 1, 24, 24, 6);
    char *yaml = tl_fmt("seed: 5\ndatasets: [%s]\nbatch_size: 6\nimage: {ops: [{flip: {axes: [x]}}]}\n"
                        "device: cpu\nprefetch: 3\nio: {readers: 2, workers: 2}\non_corrupt: skip\n", ds);
    l[k] = tl_open(yaml, f->dir, 0, 1);
    free(yaml);
    free(ds);
  }
  bfdi_io_set_read_hook(flip_hook);
  int64_t want[SAMPLES], got[SAMPLES];
  bfd_fault_stats before = {0};
  uint64_t base_rss = 0, max_rss = 0, base_heap = 0, max_heap = 0, replaced = 0;
  int warm = 0;
  const double t0 = now_s();
  unsigned epoch = 0;
  for (; epoch < MIN_EPOCHS || now_s() - t0 < seconds; epoch++) {
    size_t nw, ng;
    epoch_rows(l[0], want, SAMPLES, &nw);
    epoch_rows(l[1], got, SAMPLES, &ng);
    assert_int_equal(nw, SAMPLES);
    assert_int_equal(ng, nw);
    bfd_fault_stats now;
    assert_int_equal(bfd_loader_faults(l[1], &now), BFD_OK);
    uint64_t rows = now.rows_replaced - before.rows_replaced;
    uint64_t differ = 0;
    for (size_t i = 0; i < ng; i++) {
      assert_true(got[i] >= 0 && got[i] < SAMPLES);
      differ += got[i] != want[i];
    }
    if (differ != rows) print_message("epoch %u: %llu rows differ from the clean run, %llu replaced\n", epoch,
                                      (unsigned long long)differ, (unsigned long long)rows);
    assert_int_equal(differ, rows);
    assert_true(now.records_skipped - before.records_skipped >= rows);
    replaced += rows;
    before = now;
    uint64_t rss = rss_bytes(), heap = heap_bytes();
    if (!warm && epoch + 1 >= WARMUP_EPOCHS && now_s() - t0 >= seconds / 4) {
      warm = 1;
      base_rss = max_rss = rss;
      base_heap = max_heap = heap;
    }
    if (rss > max_rss) max_rss = rss;
    if (heap > max_heap) max_heap = heap;
  }
  bfdi_io_set_read_hook(NULL);
  print_message("soak: %u epochs in %.1f s, %llu bytes flipped, %llu rows replaced; after warm-up resident %.1f -> "
                "at most %.1f MiB, live heap %.2f -> at most %.2f MiB\n", epoch, now_s() - t0,
                (unsigned long long)hook_flips, (unsigned long long)replaced, (double)base_rss / 1048576.0,
                (double)max_rss / 1048576.0, (double)base_heap / 1048576.0, (double)max_heap / 1048576.0);
  assert_true(warm);
  assert_true(hook_flips > 0);
  assert_true(replaced > 0);
  assert_true(max_rss <= base_rss + RSS_SLACK);
  assert_true(max_heap <= base_heap + HEAP_SLACK);
  for (int k = 0; k < 2; k++) {
    assert_int_equal(bfd_loader_close(l[k]), BFD_OK);
    free(dirs[k]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_soak, tu_dir_setup, tu_dir_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
