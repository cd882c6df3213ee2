/* The I/O engine and the pinned pool: io_uring and pread give the same
 * bytes; short reads, -EAGAIN, -EIO and end of file are handled through
 * the read hook with no request lost or duplicated; O_DIRECT handles any
 * alignment; registered buffers are used and their failure is survived;
 * io_uring refused by seccomp falls back to pread, said once in the log;
 * the pool bounds its memory and applies back-pressure; files in memory
 * read as the file does without the kernel, and whole files are read into
 * memory in pieces (io.cache). */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/engine.h"
#include "io/pool.h"
#include "io/whole.h"
#include "support/testutil.h"

#define FILE_BYTES (3u << 20)

typedef struct fixture {
  char *dir;
  char path[512];
  uint8_t *data; /* the file's bytes */
} fixture;

static uint8_t byte_at(uint64_t i) { return (uint8_t)((i * 2654435761u) >> 11 ^ i); }

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_mkdtemp("io-engine");
  snprintf(f->path, sizeof f->path, "%s/data.bin", f->dir);
  f->data = malloc(FILE_BYTES);
  for (uint64_t i = 0; i < FILE_BYTES; i++) f->data[i] = byte_at(i);
  if (tu_write(f->path, f->data, FILE_BYTES) != 0) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  bfdi_io_set_read_hook(NULL);
  tu_rmtree(f->dir);
  free(f->dir);
  free(f->data);
  free(f);
  return 0;
}

/* Whether this kernel lets us use io_uring; tests of the uring path skip otherwise. */
static int uring_available(void) {
  bfdi_io_opts o = {.kind = BFDI_IO_URING, .queue_depth = 4};
  bfdi_io *e = NULL;
  if (bfdi_io_create(&o, &e) != BFD_OK) return 0;
  bfdi_io_destroy(e);
  return 1;
}

#define SKIP_WITHOUT_URING(kind)                                                                   \
  do {                                                                                             \
    if ((kind) == BFDI_IO_URING && !uring_available()) {                                           \
      print_message("SKIP %s: io_uring is not available here (%s)\n", __func__, bfd_last_error()); \
      skip();                                                                                      \
    }                                                                                              \
  } while (0)

/* A deterministic set of requests: odd offsets and lengths, a few large. */
typedef struct reqset {
  size_t n;
  bfdi_io_req *r;
  uint8_t *mem;
  int *seen;
} reqset;

static reqset make_reqs(size_t n, uint32_t file, uint64_t max_len) {
  reqset s = {n, calloc(n, sizeof(bfdi_io_req)), NULL, calloc(n, sizeof(int))};
  uint64_t total = 0, x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t len = 1 + (x >> 33) % max_len;
    uint64_t off = (x >> 13) % (FILE_BYTES - len);
    s.r[i] = (bfdi_io_req){.offset = off, .len = len, .tag = 1000 + i, .file = file};
    total += len;
  }
  s.mem = malloc(total);
  uint64_t at = 0;
  for (size_t i = 0; i < n; i++) {
    s.r[i].dst = s.mem + at;
    at += s.r[i].len;
  }
  return s;
}

static void free_reqs(reqset *s) {
  free(s->r);
  free(s->mem);
  free(s->seen);
}

/* Submits every request, reaps them all; returns the first failure status
 * (its message kept in *msg) and counts each tag in s->seen. */
static bfd_status run_all(bfdi_io *e, reqset *s, char *msg, size_t msg_cap) {
  size_t next = 0;
  bfd_status first = BFD_OK;
  bfdi_io_done done[16];
  while (next < s->n || bfdi_io_outstanding(e)) {
    if (next < s->n) {
      size_t acc = 0;
      assert_int_equal(bfdi_io_submit(e, s->r + next, s->n - next, &acc), BFD_OK);
      next += acc;
    }
    size_t got = 0;
    bfd_status st = bfdi_io_reap(e, done, 16, 1, &got);
    if (st != BFD_OK && first == BFD_OK) {
      first = st;
      if (msg) snprintf(msg, msg_cap, "%s", bfd_last_error());
    }
    for (size_t k = 0; k < got; k++) {
      assert_true(done[k].tag >= 1000 && done[k].tag < 1000 + s->n);
      s->seen[done[k].tag - 1000]++;
    }
  }
  return first;
}

/* A request whose reads (widened to 4096 with O_DIRECT) cover byte `at`. */
static int covers(const bfdi_io_req *q, uint64_t at, int direct) {
  uint64_t lo = q->offset, hi = q->offset + q->len;
  if (direct) {
    lo = lo / 4096 * 4096;
    hi = (hi + 4095) / 4096 * 4096;
  }
  return at >= lo && at < hi;
}

/* Every request completed exactly once and, unless it covers the failing
 * byte, holds the file's bytes. */
static void check_bytes(const fixture *f, const reqset *s, uint64_t failing, int direct) {
  for (size_t i = 0; i < s->n; i++) {
    assert_int_equal(s->seen[i], 1);
    const bfdi_io_req *q = &s->r[i];
    if (covers(q, failing, direct)) continue;
    assert_memory_equal(q->dst, f->data + q->offset, q->len);
  }
}

static void read_random(fixture *f, bfdi_io_kind kind, int direct, unsigned qd) {
  bfdi_io_opts o = {.kind = kind, .queue_depth = qd, .direct = direct, .retry_delay_us = 20};
  bfdi_io *e = NULL;
  assert_int_equal(bfdi_io_create(&o, &e), BFD_OK);
  assert_int_equal(bfdi_io_kind_of(e), kind);
  uint32_t file;
  assert_int_equal(bfdi_io_open(e, f->path, &file), BFD_OK);
  reqset s = make_reqs(400, file, 70000);
  assert_int_equal(run_all(e, &s, NULL, 0), BFD_OK);
  check_bytes(f, &s, UINT64_MAX, direct);
  bfdi_io_stats st;
  bfdi_io_get_stats(e, &st);
  assert_int_equal(st.requests, 400);
  assert_true(st.reads >= 400);
  free_reqs(&s);
  assert_int_equal(bfdi_io_close(e, file), BFD_OK);
  bfdi_io_destroy(e);
}

static void test_uring_reads_match_file(void **state) {
  SKIP_WITHOUT_URING(BFDI_IO_URING);
  read_random(*state, BFDI_IO_URING, 0, 64);
  read_random(*state, BFDI_IO_URING, 0, 1);
}

static void test_pread_reads_match_file(void **state) {
  read_random(*state, BFDI_IO_PREAD, 0, 64);
  read_random(*state, BFDI_IO_PREAD, 0, 1);
}

/* ---- faults ---- */

enum fault { F_SHORT, F_EAGAIN, F_EIO_ONCE, F_EIO_AT };
static enum fault fault_kind;
static _Atomic unsigned fault_calls;
static uint64_t fault_at;
static uint64_t failed_once[4096];
static size_t n_failed_once;

/* 1 the first time a read at this offset is seen. */
static int first_time(uint64_t offset) {
  for (size_t i = 0; i < n_failed_once; i++)
    if (failed_once[i] == offset) return 0;
  if (n_failed_once < sizeof failed_once / sizeof failed_once[0]) failed_once[n_failed_once++] = offset;
  return 1;
}

static void fault_hook(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)path;
  (void)buf;
  unsigned n = fault_calls++;
  switch (fault_kind) {
    case F_SHORT:
      if (n % 2 == 0 && *res > 1) *res /= 2;
      break;
    case F_EAGAIN:
      if (n % 2 == 0) *res = -EAGAIN;
      break;
    case F_EIO_ONCE:
      if (first_time(offset)) *res = -EIO;
      break;
    case F_EIO_AT:
      if (fault_at >= offset && fault_at < offset + len) *res = -EIO;
      break;
  }
}

static void faults(fixture *f, bfdi_io_kind kind, int direct) {
  bfdi_io_opts o = {.kind = kind, .queue_depth = 16, .direct = direct, .retry_delay_us = 20};
  for (int k = F_SHORT; k <= F_EIO_AT; k++) {
    bfdi_io *e = NULL;
    assert_int_equal(bfdi_io_create(&o, &e), BFD_OK);
    uint32_t file;
    assert_int_equal(bfdi_io_open(e, f->path, &file), BFD_OK);
    reqset s = make_reqs(120, file, 40000);
    fault_kind = (enum fault)k;
    fault_calls = 0;
    n_failed_once = 0;
    fault_at = s.r[7].offset + s.r[7].len / 2;
    bfdi_io_set_read_hook(fault_hook);
    char msg[2048] = "";
    bfd_status st = run_all(e, &s, msg, sizeof msg);
    bfdi_io_set_read_hook(NULL);
    bfdi_io_stats stats;
    bfdi_io_get_stats(e, &stats);
    if (k == F_EIO_AT) {
      /* Retried, then reported with the file and the offset; the rest arrive. */
      assert_int_equal(st, BFD_ERR_IO);
      assert_non_null(strstr(msg, f->path));
      assert_non_null(strstr(msg, "byte offset"));
      assert_non_null(strstr(msg, "after 3 retries"));
      assert_non_null(strstr(msg, "Input/output error"));
      int named = 0;
      for (size_t i = 0; i < s.n; i++) {
        char where[96];
        snprintf(where, sizeof where, "read of %llu bytes at byte offset %llu", (unsigned long long)s.r[i].len,
                 (unsigned long long)s.r[i].offset);
        named |= covers(&s.r[i], fault_at, direct) && strstr(msg, where) != NULL;
      }
      assert_true(named);
      check_bytes(f, &s, fault_at, direct);
    } else {
      assert_int_equal(st, BFD_OK);
      check_bytes(f, &s, UINT64_MAX, direct);
      if (k == F_EIO_ONCE) assert_true(stats.retries > 0);
      if (k == F_SHORT || k == F_EAGAIN) assert_true(stats.resubmits > 0);
    }
    free_reqs(&s);
    bfdi_io_destroy(e);
  }
}

static void test_uring_faults(void **state) {
  SKIP_WITHOUT_URING(BFDI_IO_URING);
  faults(*state, BFDI_IO_URING, 0);
}

static void test_pread_faults(void **state) { faults(*state, BFDI_IO_PREAD, 0); }

/* Two requests of file, the first running past its end: that one fails,
 * named with the file and "ends before byte", and the other arrives. */
static void past_end(const fixture *f, bfdi_io *e, uint32_t file) {
  uint8_t buf[100];
  bfdi_io_req r[2] = {{.offset = FILE_BYTES - 50, .len = 100, .dst = buf, .tag = 1, .file = file},
                      {.offset = 0, .len = 10, .dst = buf, .tag = 2, .file = file}};
  size_t acc = 0, got = 0;
  assert_int_equal(bfdi_io_submit(e, r, 2, &acc), BFD_OK);
  assert_int_equal(acc, 2);
  bfdi_io_done done[2];
  bfd_status st = BFD_OK;
  size_t total = 0;
  while (bfdi_io_outstanding(e)) {
    bfd_status s = bfdi_io_reap(e, done, 2, 1, &got);
    if (s != BFD_OK) st = s;
    if (s != BFD_OK) {
      assert_non_null(strstr(bfd_last_error(), "ends before byte"));
      assert_non_null(strstr(bfd_last_error(), f->path));
    }
    for (size_t k = 0; k < got; k++) assert_int_equal(done[k].status == BFD_OK, done[k].tag == 2);
    total += got;
  }
  assert_int_equal(st, BFD_ERR_IO);
  assert_int_equal(total, 2);
}

static void truncated(fixture *f, bfdi_io_kind kind) {
  bfdi_io_opts o = {.kind = kind};
  bfdi_io *e = NULL;
  assert_int_equal(bfdi_io_create(&o, &e), BFD_OK);
  uint32_t file;
  assert_int_equal(bfdi_io_open(e, f->path, &file), BFD_OK);
  past_end(f, e, file);
  assert_int_equal(bfdi_io_close(e, 99), BFD_ERR_INVALID_ARG);
  bfdi_io_destroy(e);
}

static void test_truncated_file(void **state) {
  truncated(*state, BFDI_IO_PREAD);
  if (uring_available()) truncated(*state, BFDI_IO_URING);
}

/* ---- O_DIRECT ---- */

/* A directory whose filesystem really does direct I/O (tmpfs does not
 * report STATX_DIOALIGN), or NULL with the reason. */
static const char *direct_unsupported(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECT);
  if (fd < 0) return "the filesystem of the test directory refuses O_DIRECT (tmpfs?)";
  struct statx sx;
  int ok = statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
           sx.stx_dio_offset_align > 0;
  close(fd);
  return ok ? NULL : "the filesystem of the test directory does not do direct I/O (no STATX_DIOALIGN; tmpfs?)";
}

static void direct_cases(fixture *f, bfdi_io_kind kind) {
  bfdi_io_opts o = {.kind = kind, .queue_depth = 8, .direct = 1};
  bfdi_io *e = NULL;
  assert_int_equal(bfdi_io_create(&o, &e), BFD_OK);
  assert_int_equal(bfdi_io_align(e), 4096);
  uint32_t file;
  assert_int_equal(bfdi_io_open(e, f->path, &file), BFD_OK);
  uint8_t *mem = mmap(NULL, 8u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(mem != MAP_FAILED);
  struct {
    uint64_t off, len, dst_off;
    uint32_t flags;
  } cases[] = {
      {0, 65536, 0, 0},                           /* aligned: straight in */
      {4096 * 3 + 100, 5000, 8192 + 100, BFDI_IO_ROOM}, /* room left around: one aligned read */
      {777, 3000, 1 << 20, 0},                    /* small unaligned: one bounce read */
      {1000, 1u << 20, (2u << 20) + 1000, 0},     /* large, congruent: bounce head and tail */
      {1000, 1u << 20, (4u << 20) + 3, 0},        /* large, not congruent: through the bounce buffer */
      {FILE_BYTES - 300, 300, 6u << 20, 0},       /* tail of the file: the aligned read is short */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    memset(mem, 0xEE, 8u << 20);
    bfdi_io_req r = {.offset = cases[c].off, .len = cases[c].len, .dst = mem + cases[c].dst_off, .tag = c,
                     .file = file, .flags = cases[c].flags};
    size_t acc = 0, got = 0;
    assert_int_equal(bfdi_io_submit(e, &r, 1, &acc), BFD_OK);
    bfdi_io_done d;
    assert_int_equal(bfdi_io_reap(e, &d, 1, 1, &got), BFD_OK);
    assert_int_equal(got, 1);
    assert_int_equal(d.tag, c);
    assert_memory_equal(mem + cases[c].dst_off, f->data + cases[c].off, cases[c].len);
    if (!(cases[c].flags & BFDI_IO_ROOM) && cases[c].dst_off > 0) {
      /* Without room, nothing outside the destination is touched. */
      assert_int_equal(mem[cases[c].dst_off - 1], 0xEE);
      assert_int_equal(mem[cases[c].dst_off + cases[c].len], 0xEE);
    }
  }
  bfdi_io_stats st;
  bfdi_io_get_stats(e, &st);
  assert_true(st.bounced > 0);
  munmap(mem, 8u << 20);
  bfdi_io_destroy(e);
  read_random(f, kind, 1, 16);
  faults(f, kind, 1);
}

static void test_direct_io(void **state) {
  fixture *f = *state;
  const char *why = direct_unsupported(f->path);
  if (why) {
    print_message("SKIP test_direct_io: %s\n", why);
    skip();
  }
  direct_cases(f, BFDI_IO_PREAD);
  if (uring_available()) direct_cases(f, BFDI_IO_URING);
}

/* ---- registered buffers ---- */

static void registered(fixture *f, struct iovec region, int expect_fixed) {
  bfdi_io_opts o = {.kind = BFDI_IO_URING, .buffers = &region, .n_buffers = 1};
  bfdi_io *e = NULL;
  assert_int_equal(bfdi_io_create(&o, &e), BFD_OK);
  uint32_t file;
  assert_int_equal(bfdi_io_open(e, f->path, &file), BFD_OK);
  bfdi_io_req r[4];
  for (int i = 0; i < 4; i++)
    r[i] = (bfdi_io_req){.offset = 100000u * (uint64_t)i + 7, .len = 65536, .dst = (uint8_t *)region.iov_base +
                         (size_t)i * 70000, .tag = (uint64_t)i, .file = file};
  size_t acc = 0, got = 0, total = 0;
  assert_int_equal(bfdi_io_submit(e, r, 4, &acc), BFD_OK);
  bfdi_io_done d[4];
  while (total < 4) {
    assert_int_equal(bfdi_io_reap(e, d, 4, 1, &got), BFD_OK);
    total += got;
  }
  for (int i = 0; i < 4; i++) assert_memory_equal(r[i].dst, f->data + r[i].offset, 65536);
  bfdi_io_stats st;
  bfdi_io_get_stats(e, &st);
  if (expect_fixed)
    assert_int_equal(st.fixed, 4);
  else
    assert_int_equal(st.fixed, 0);
  bfdi_io_destroy(e);
}

static void test_registered_buffers(void **state) {
  SKIP_WITHOUT_URING(BFDI_IO_URING);
  fixture *f = *state;
  struct rlimit rl;
  if (geteuid() != 0 && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < (4u << 20)) {
    print_message("SKIP test_registered_buffers: the locked-memory limit (%llu bytes) is too low to register "
                  "buffers\n", (unsigned long long)rl.rlim_cur);
    skip();
  }
  bfdi_pool_opts po = {.slab_bytes = 1 << 20, .slabs = 2};
  bfdi_pool *p = NULL;
  assert_int_equal(bfdi_pool_create(&po, &p), BFD_OK);
  registered(f, bfdi_pool_region(p), 1);
  bfdi_pool_free(p);
  /* File-backed memory cannot be registered: reads still work, unregistered. */
  const char *scratch = tu_path("%s/scratch", f->dir);
  int fd = open(scratch, O_RDWR | O_CREAT, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, 1 << 20), 0);
  void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  assert_true(m != MAP_FAILED);
  registered(f, (struct iovec){m, 1 << 20}, 0);
  munmap(m, 1 << 20);
  close(fd);
}

/* ---- engine choice ---- */

static int log_lines;
static char log_last[1024];
static void capture_log(bfd_log_level l, const char *msg, void *user) {
  (void)l;
  (void)user;
  log_lines++;
  snprintf(log_last, sizeof log_last, "%s", msg);
}

/* Makes io_uring_setup fail with EPERM in this process, as a container's seccomp profile does. */
static int forbid_io_uring(void) {
  struct sock_filter prog[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog fp = {sizeof prog / sizeof prog[0], prog};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp);
}

/* Runs in a child: exit codes say what went wrong. */
static int fallback_child(const char *path, const uint8_t *want) {
  if (forbid_io_uring() != 0) return 10;
  bfd_set_log(capture_log, NULL, BFD_LOG_DEBUG);
  bfdi_io_opts o = {.kind = BFDI_IO_AUTO};
  for (int round = 0; round < 2; round++) {
    bfdi_io *e = NULL;
    if (bfdi_io_create(&o, &e) != BFD_OK) return 11;
    if (bfdi_io_kind_of(e) != BFDI_IO_PREAD) return 12;
    uint32_t file;
    uint8_t buf[4096];
    size_t acc, got;
    bfdi_io_done d;
    if (bfdi_io_open(e, path, &file) != BFD_OK) return 13;
    bfdi_io_req r = {.offset = 5, .len = sizeof buf, .dst = buf, .file = file};
    if (bfdi_io_submit(e, &r, 1, &acc) != BFD_OK ||
        bfdi_io_reap(e, &d, 1, 1, &got) != BFD_OK || got != 1 || memcmp(buf, want + 5, sizeof buf))
      return 13;
    bfdi_io_destroy(e);
  }
  if (log_lines != 1 || !strstr(log_last, "io_uring is not available") || !strstr(log_last, "pread")) return 14;
  o.kind = BFDI_IO_URING;
  bfdi_io *e = NULL;
  if (bfdi_io_create(&o, &e) != BFD_ERR_IO || !strstr(bfd_last_error(), "io.engine")) return 15;
  return 0;
}

static void test_fallback_when_uring_forbidden(void **state) {
  fixture *f = *state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(fallback_child(f->path, f->data));
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 10) {
    print_message("SKIP test_fallback_when_uring_forbidden: cannot install a seccomp filter here\n");
    skip();
  }
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_engine_kinds_and_arguments(void **state) {
  (void)state;
  bfdi_io_kind k;
  assert_int_equal(bfdi_io_parse_kind("pread", &k), BFD_OK);
  assert_int_equal(k, BFDI_IO_PREAD);
  assert_int_equal(bfdi_io_parse_kind("uring", &k), BFD_OK);
  assert_int_equal(k, BFDI_IO_URING);
  assert_int_equal(bfdi_io_parse_kind("auto", &k), BFD_OK);
  assert_int_equal(k, BFDI_IO_AUTO);
  assert_int_equal(bfdi_io_parse_kind("aio", &k), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "io.engine"));
  bfdi_io_opts o = {.kind = BFDI_IO_PREAD, .max_files = 1};
  bfdi_io *e = NULL;
  assert_int_equal(bfdi_io_create(&o, &e), BFD_OK);
  uint32_t file;
  assert_int_equal(bfdi_io_open(e, "/nonexistent/file", &file), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "/nonexistent/file"));
  fixture *f = *state;
  assert_int_equal(bfdi_io_open(e, f->path, &file), BFD_OK);
  assert_int_equal(bfdi_io_open(e, f->path, &file), BFD_ERR_INVALID_ARG); /* max_files */
  bfdi_io_req r = {.offset = 0, .len = 10, .dst = NULL, .file = file};
  size_t acc = 9;
  assert_int_equal(bfdi_io_submit(e, &r, 1, &acc), BFD_ERR_INVALID_ARG);
  assert_int_equal(acc, 0);
  r.file = 5;
  assert_int_equal(bfdi_io_submit(e, &r, 1, &acc), BFD_ERR_INVALID_ARG);
  bfdi_io_destroy(e);
  o.queue_depth = 100000;
  assert_int_equal(bfdi_io_create(&o, &e), BFD_ERR_INVALID_ARG);
}

/* ---- files in memory, and whole files into memory (io.cache) ---- */

static _Atomic unsigned hook_calls;
static void count_hook(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)path, (void)offset, (void)buf, (void)len, (void)res;
  hook_calls++;
}

/* A memory file gives the same bytes as the file, with no kernel read
 * (stats, and the read hook never called), beside a file read from disk;
 * past its end it fails as a truncated file does. */
static void memory_file(fixture *f, bfdi_io_kind kind, int direct) {
  bfdi_io_opts o = {.kind = kind, .queue_depth = 16, .direct = direct, .max_files = 2};
  bfdi_io *e = NULL;
  assert_int_equal(bfdi_io_create(&o, &e), BFD_OK);
  uint32_t disk, mem, extra;
  assert_int_equal(bfdi_io_open_memory(e, f->path, f->data, FILE_BYTES, &mem), BFD_OK);
  assert_int_equal(bfdi_io_open(e, f->path, &disk), BFD_OK);
  assert_int_equal(bfdi_io_open_memory(e, f->path, f->data, FILE_BYTES, &extra), BFD_ERR_INVALID_ARG); /* max_files */
  hook_calls = 0;
  bfdi_io_set_read_hook(count_hook);
  reqset s = make_reqs(300, mem, 70000);
  assert_int_equal(run_all(e, &s, NULL, 0), BFD_OK);
  check_bytes(f, &s, UINT64_MAX, 0);
  bfdi_io_stats st;
  bfdi_io_get_stats(e, &st);
  assert_int_equal(st.requests, 300);
  assert_int_equal(st.memory, 300);
  assert_int_equal(st.reads, 0);
  assert_int_equal(hook_calls, 0);
  free_reqs(&s);
  s = make_reqs(50, disk, 9000);
  assert_int_equal(run_all(e, &s, NULL, 0), BFD_OK);
  check_bytes(f, &s, UINT64_MAX, direct);
  assert_true(hook_calls >= 50);
  free_reqs(&s);
  bfdi_io_set_read_hook(NULL);

  past_end(f, e, mem);

  assert_int_equal(bfdi_io_close(e, mem), BFD_OK);
  assert_int_equal(bfdi_io_close(e, mem), BFD_ERR_INVALID_ARG);
  uint8_t buf[10];
  bfdi_io_req r = {.offset = 0, .len = 10, .dst = buf, .file = mem};
  size_t acc = 0;
  assert_int_equal(bfdi_io_submit(e, &r, 1, &acc), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_io_open_memory(e, f->path, NULL, 10, &mem), BFD_ERR_INVALID_ARG);
  /* its slot is free again */
  assert_int_equal(bfdi_io_open_memory(e, f->path, f->data, 100, &mem), BFD_OK);
  bfdi_io_destroy(e);
}

/* fn with the pread engine, io_uring when the kernel allows it, and pread
 * with O_DIRECT when the file system does it. */
static void each_engine(fixture *f, void (*fn)(fixture *, bfdi_io_kind, int)) {
  fn(f, BFDI_IO_PREAD, 0);
  if (uring_available()) fn(f, BFDI_IO_URING, 0);
  if (!direct_unsupported(f->path)) fn(f, BFDI_IO_PREAD, 1);
}

static void test_memory_files(void **state) { each_engine(*state, memory_file); }

/* A whole file of `len` bytes in a mapping with room to the next 4096. */
static uint8_t *whole_dst(uint64_t len) {
  uint8_t *m = mmap(NULL, (len + 4095) / 4096 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(m != MAP_FAILED);
  return m;
}

static void read_whole(fixture *f, bfdi_io_kind kind, int direct) {
  /* two files: the fixture's, and one of several 4 MiB pieces and a ragged tail */
  const uint64_t big_len = (9u << 20) + 123;
  char big[600];
  snprintf(big, sizeof big, "%s/big.bin", f->dir);
  uint8_t *want = malloc(big_len);
  for (uint64_t i = 0; i < big_len; i++) want[i] = byte_at(i * 7 + 3);
  assert_int_equal(tu_write(big, want, big_len), 0);
  const char *paths[2] = {big, f->path};
  uint64_t len[2] = {big_len, FILE_BYTES};
  uint8_t *dst[2] = {whole_dst(len[0]), whole_dst(len[1])};
  bfdi_io_opts o = {.kind = kind, .queue_depth = 4, .direct = direct, .retry_delay_us = 20};
  assert_int_equal(bfdi_io_read_whole(&o, 2, paths, dst, len), BFD_OK);
  assert_memory_equal(dst[0], want, big_len);
  assert_memory_equal(dst[1], f->data, FILE_BYTES);

  /* a read that keeps failing: the file and offset named, after the retries */
  memset(dst[0], 0, big_len);
  fault_kind = F_EIO_AT;
  fault_at = (5u << 20) + 17;
  bfdi_io_set_read_hook(fault_hook);
  assert_int_equal(bfdi_io_read_whole(&o, 2, paths, dst, len), BFD_ERR_IO);
  bfdi_io_set_read_hook(NULL);
  assert_non_null(strstr(bfd_last_error(), big));
  assert_non_null(strstr(bfd_last_error(), "after 3 retries"));

  /* a file shorter than asked for, and one that is not there */
  len[1] = FILE_BYTES + 10;
  assert_int_equal(bfdi_io_read_whole(&o, 2, paths, dst, len), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "ends before byte"));
  assert_non_null(strstr(bfd_last_error(), f->path));
  paths[1] = "/nonexistent/shard.h5";
  assert_int_equal(bfdi_io_read_whole(&o, 2, paths, dst, len), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "/nonexistent/shard.h5"));
  munmap(dst[0], (len[0] + 4095) / 4096 * 4096);
  munmap(dst[1], (FILE_BYTES + 4095) / 4096 * 4096);
  free(want);
}

static void test_read_whole_files(void **state) { each_engine(*state, read_whole); }

/* ---- pool ---- */

static int pins, unpins;
static bfd_status count_pin(void *p, size_t n, void *user) {
  (void)p;
  (void)n;
  (void)user;
  pins++;
  return BFD_OK;
}
static void count_unpin(void *p, void *user) {
  (void)p;
  (void)user;
  unpins++;
}

typedef struct releaser {
  bfdi_pool *p;
  bfdi_buf b;
} releaser;

static void *release_later(void *arg) {
  releaser *r = arg;
  usleep(20000);
  bfdi_pool_release(r->p, &r->b);
  return NULL;
}

static void test_pool(void **state) {
  (void)state;
  pins = unpins = 0;
  bfdi_pool_opts o = {.slab_bytes = 100000, .slabs = 3, .dedicated_bytes = 600000, .pin = count_pin,
                      .unpin = count_unpin};
  bfdi_pool *p = NULL;
  assert_int_equal(bfdi_pool_create(&o, &p), BFD_OK);
  bfdi_pool_stats s;
  bfdi_pool_get_stats(p, &s);
  assert_int_equal(s.slab_bytes % 4096, 0); /* whole pages */
  assert_true(s.slab_bytes >= 100000);
  assert_int_equal(s.slabs_free, 3);
  assert_true(s.pinned);
  struct iovec region = bfdi_pool_region(p);
  assert_int_equal((uintptr_t)region.iov_base % 4096, 0);
  bfdi_buf b[3], extra;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(bfdi_pool_acquire(p, 5000, 0, &b[i]), BFD_OK);
    assert_non_null(b[i].ptr);
    memset(b[i].ptr, i, b[i].size);
  }
  assert_true(b[0].ptr != b[1].ptr && b[1].ptr != b[2].ptr);
  /* Full: no wait gives nothing, a bounded wait gives nothing after it. */
  assert_int_equal(bfdi_pool_acquire(p, 5000, 0, &extra), BFD_OK);
  assert_null(extra.ptr);
  assert_int_equal(bfdi_pool_acquire(p, 5000, 10, &extra), BFD_OK);
  assert_null(extra.ptr);
  /* A release from another thread wakes a waiting acquire. */
  releaser r = {p, b[1]};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, release_later, &r), 0);
  assert_int_equal(bfdi_pool_acquire(p, 5000, 5000, &extra), BFD_OK);
  assert_true(extra.ptr == b[1].ptr);
  pthread_join(t, NULL);
  /* Larger than a slab: a dedicated buffer, kept and reused after release. */
  bfdi_buf big, big2, big3;
  assert_int_equal(bfdi_pool_acquire(p, 300000, 0, &big), BFD_OK);
  assert_non_null(big.ptr);
  assert_true(big.size >= 300000);
  memset(big.ptr, 7, 300000);
  assert_int_equal(bfdi_pool_acquire(p, 250000, 0, &big2), BFD_OK);
  assert_non_null(big2.ptr);
  /* The budget (600000) is spent: no third one until one comes back. */
  assert_int_equal(bfdi_pool_acquire(p, 200000, 0, &big3), BFD_OK);
  assert_null(big3.ptr);
  uint8_t *first = big.ptr;
  bfdi_pool_release(p, &big);
  assert_null(big.ptr);
  assert_int_equal(bfdi_pool_acquire(p, 200000, 0, &big3), BFD_OK);
  assert_true(big3.ptr == first);
  assert_int_equal(bfdi_pool_acquire(p, 700000, 0, &big), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "700000"));
  bfdi_pool_get_stats(p, &s);
  assert_int_equal(s.slabs_free, 0);
  assert_true(s.dedicated_bytes >= 550000 && s.dedicated_bytes <= 600000);
  bfdi_pool_release(p, &big2);
  bfdi_pool_release(p, &big3);
  bfdi_pool_release(p, &extra);
  bfdi_pool_release(p, &b[0]);
  bfdi_pool_release(p, &b[2]);
  bfdi_pool_get_stats(p, &s);
  assert_int_equal(s.slabs_free, 3);
  bfdi_pool_free(p);
  assert_int_equal(pins, 3);
  assert_int_equal(unpins, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_uring_reads_match_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pread_reads_match_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uring_faults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pread_faults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_direct_io, setup, teardown),
      cmocka_unit_test_setup_teardown(test_registered_buffers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fallback_when_uring_forbidden, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_kinds_and_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memory_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_whole_files, setup, teardown),
      cmocka_unit_test(test_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
