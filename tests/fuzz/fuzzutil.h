/* Helpers shared by the libFuzzer harnesses: most readers take a path, so a
 * harness writes each input to a file in a private temporary directory
 * (under $TMPDIR, else /tmp), made on first use and removed with everything
 * in it when the process exits normally. A failure of the harness's own
 * plumbing (no temp space) aborts: it is not a finding about the library.
 * Library code runs between fz_quiet_begin and fz_quiet_end, which fail
 * the input if anything was printed. */
#ifndef BFD_FUZZUTIL_H
#define BFD_FUZZUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "biofeed/biofeed.h"
#include "ingest/image.h"

static char fz_root[4096];

/* While a harness runs library code, stdout and stderr point here: the
 * library must never print (it reports through bfd_last_error and the log
 * callback), nor may the libraries it wraps. Swapping the FILE pointers
 * rather than file descriptor 2 keeps libFuzzer's and the sanitizers' own
 * reports (a separate FILE, and raw writes to fd 2) visible. */
static FILE *fz_cap, *fz_out, *fz_err;

/* Harnesses fold what they read into this so the reads are not optimized away. */
static volatile uint64_t fz_sink;

static inline void fz_restore(void) {
  if (!fz_err) return;
  stdout = fz_out;
  stderr = fz_err;
  fz_err = fz_out = NULL;
}

/* A finding of the harness's own: says what and stops. */
static inline void fz_bug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fz_bug(const char *fmt, ...) {
  fz_restore();
  va_list ap;
  va_start(ap, fmt);
  fputs("fuzz: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

static inline void fz_die(const char *what) { fz_bug("%s: %s", what, strerror(errno)); }

static inline void fz_quiet_begin(void) {
  if (!fz_cap && !(fz_cap = tmpfile())) fz_die("tmpfile");
  rewind(fz_cap);
  if (ftruncate(fileno(fz_cap), 0) != 0) fz_die("ftruncate");
  fz_out = stdout;
  fz_err = stderr;
  stdout = stderr = fz_cap;
}

static inline void fz_quiet_end(const char *what) {
  FILE *cap = fz_cap;
  fflush(cap);
  fz_restore();
  long n = ftell(cap);
  if (n <= 0) return;
  char text[2048];
  rewind(cap);
  size_t got = fread(text, 1, sizeof text - 1, cap);
  text[got] = '\0';
  fz_bug("%s printed %ld bytes (the library must not print):\n%s", what, n, text);
}

/* Removes every plain file in the directory, then the directory. Harnesses
 * only ever create plain files there. */
static inline void fz_cleanup(void) {
  if (!fz_root[0]) return;
  DIR *d = opendir(fz_root);
  if (d) {
    struct dirent *e;
    char p[8192];
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      snprintf(p, sizeof p, "%s/%s", fz_root, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(fz_root);
  fz_root[0] = '\0';
}

/* The harness's directory. */
static inline const char *fz_dir(void) {
  if (fz_root[0]) return fz_root;
  const char *tmp = getenv("TMPDIR");
  snprintf(fz_root, sizeof fz_root, "%s/bfd-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (!mkdtemp(fz_root)) fz_die("mkdtemp");
  atexit(fz_cleanup);
  return fz_root;
}

/* dir/name in one of a few rotating static buffers. */
static inline const char *fz_path(const char *name) {
  static char bufs[4][8192];
  static unsigned next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", fz_dir(), name);
  return b;
}

/* Writes n bytes to dir/name (replacing it) and returns its path. */
static inline const char *fz_write(const char *name, const void *data, size_t n) {
  const char *path = fz_path(name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fz_die("open");
  const uint8_t *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) fz_die("write");
    p += w;
    n -= (size_t)w;
  }
  if (close(fd) != 0) fz_die("close");
  return path;
}

static inline void fz_remove(const char *name) { unlink(fz_path(name)); }

/* Product of n sizes, or 0 when it would pass limit: harnesses size their
 * own buffers from what a (hostile) file claims, and must not be the ones
 * making huge allocations. */
static inline uint64_t fz_bytes(const uint64_t *dims, int n, uint64_t esize, uint64_t limit) {
  uint64_t b = esize;
  for (int i = 0; i < n; i++) {
    if (dims[i] && b > limit / dims[i]) return 0;
    b *= dims[i];
  }
  return b <= limit ? b : 0;
}

/* Every failure must come with a message (the library's error model). */
static inline void fz_check(bfd_status st, const char *call) {
  if (st == BFD_OK) return;
  const char *m = bfd_last_error();
  if (!m || !m[0]) fz_bug("%s failed with %s and no message", call, bfd_status_name(st));
}

/* What an image reader returned: a failure with its message, or an image
 * exactly as large as its shape says, every byte of which is read (so that
 * ASan sees a short buffer); the image is freed. */
static inline void fz_check_image(bfd_status st, const char *call, bfdi_image *im) {
  fz_check(st, call);
  if (st != BFD_OK) return;
  if (fz_bytes(im->shape, im->ndim, bfd_dtype_size(im->dtype), UINT64_MAX) != im->nbytes)
    fz_bug("%s: the image's shape does not match its %zu bytes", call, im->nbytes);
  uint64_t sum = 0;
  for (size_t i = 0; i < im->nbytes; i++) sum += ((const uint8_t *)im->data)[i];
  fz_sink = sum;
  bfdi_image_free(im);
}

#endif
