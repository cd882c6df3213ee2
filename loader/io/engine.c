/* The engine's core, the same for io_uring and pread: requests split into
 * reads (an O_DIRECT request that is not aligned gets bounce reads for its
 * head and tail, or goes through a bounce buffer whole), completions matched
 * to requests, short reads resubmitted for the remainder, -EAGAIN/-EINTR
 * resubmitted at once, I/O errors retried after 1, 4, 16... ms and then
 * reported with the file and byte offset. Every table is sized at create:
 * submitting and reaping do not allocate. */
#include "io/engine_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OP_PLAIN = 0, OP_WINDOW, OP_BOUNCE };

#define EOF_ERR (-1)       /* a request's error: the file ended before its bytes */
#define MAX_STALLS 1000u   /* -EAGAIN/-EINTR/no-progress resubmits in a row before giving up */
#define MAX_IO (1ull << 30)

struct io_reqslot {
  uint64_t tag;
  uint64_t offset, len;
  uint32_t file;
  uint32_t pending;   /* ops not finished */
  int err;            /* first error: errno, EOF_ERR, or 0 */
  uint64_t err_off;   /* the file offset of the read that failed */
  uint32_t retries;
};

static _Atomic(bfdi_read_hook_fn) read_hook;

void bfdi_io_set_read_hook(bfdi_read_hook_fn fn) { read_hook = fn; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t floor_to(uint64_t v, uint64_t a) { return v / a * a; }
static uint64_t ceil_to(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

const char *bfdi_io_kind_name(bfdi_io_kind k) {
  switch (k) {
    case BFDI_IO_AUTO: return "auto";
    case BFDI_IO_URING: return "uring";
    case BFDI_IO_PREAD: return "pread";
  }
  return "?";
}

bfd_status bfdi_io_parse_kind(const char *s, bfdi_io_kind *k) {
  static const bfdi_io_kind all[] = {BFDI_IO_AUTO, BFDI_IO_URING, BFDI_IO_PREAD};
  for (size_t i = 0; s && i < 3; i++)
    if (!strcmp(s, bfdi_io_kind_name(all[i]))) {
      *k = all[i];
      return BFD_OK;
    }
  return bfdi_fail(BFD_ERR_INVALID_ARG, "io.engine: '%s' is not one of auto, uring, pread", s ? s : "(null)");
}

bfdi_io_kind bfdi_io_kind_of(const bfdi_io *e) { return e->kind; }
uint32_t bfdi_io_align(const bfdi_io *e) { return e->direct ? 4096u : 1u; }
size_t bfdi_io_outstanding(const bfdi_io *e) { return e->outstanding; }
void bfdi_io_get_stats(const bfdi_io *e, bfdi_io_stats *s) { *s = e->stats; }

static void free_tables(bfdi_io *e) {
  free(e->files);
  free(e->ops);
  free(e->reqs);
  free(e->free_ops);
  free(e->free_reqs);
  free(e->ready);
  free(e->delayed);
  free(e->done);
  free(e->free_bounce);
  if (e->bounce) munmap(e->bounce, e->bounce_bytes);
  free(e);
}

static bfd_status alloc_tables(bfdi_io *e) {
  unsigned q = e->qd, n = 3 * q;
  e->n_ops = n;
  e->files = calloc(e->max_files, sizeof *e->files);
  e->ops = calloc(n, sizeof *e->ops);
  e->reqs = calloc(q, sizeof *e->reqs);
  e->free_ops = calloc(n, sizeof *e->free_ops);
  e->free_reqs = calloc(q, sizeof *e->free_reqs);
  e->ready = calloc(n, sizeof *e->ready);
  e->delayed = calloc(n, sizeof *e->delayed);
  e->done = calloc(q, sizeof *e->done);
  e->free_bounce = calloc(q, sizeof *e->free_bounce);
  if (!e->files || !e->ops || !e->reqs || !e->free_ops || !e->free_reqs || !e->ready || !e->delayed || !e->done ||
      !e->free_bounce)
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory for an I/O engine of queue depth %u", q);
  for (unsigned i = 0; i < e->max_files; i++) e->files[i].fd = -1;
  for (unsigned i = 0; i < n; i++) e->free_ops[i] = n - 1 - i;
  for (unsigned i = 0; i < q; i++) e->free_reqs[i] = q - 1 - i;
  e->n_free_ops = n;
  e->n_free_reqs = q;
  if (e->direct) {
    e->bounce_bytes = (size_t)q * BFDI_IO_BOUNCE;
    void *m = mmap(NULL, e->bounce_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      e->bounce_bytes = 0;
      return bfdi_fail_errno(errno, "cannot map %u O_DIRECT bounce buffers", q);
    }
    e->bounce = m;
    for (unsigned i = 0; i < q; i++) e->free_bounce[i] = q - 1 - i;
    e->n_free_bounce = q;
  }
  return BFD_OK;
}

static void say_fallback(int err) {
  static _Atomic int said;
  if (said++) return;
  char why[160] = "";
  int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char v[8] = "";
    ssize_t n = read(fd, v, sizeof v - 1);
    close(fd);
    if (n > 0 && v[0] != '0') snprintf(why, sizeof why, "; kernel.io_uring_disabled = %c", v[0]);
  }
  if (!why[0] && err == EPERM) snprintf(why, sizeof why, "; a seccomp profile (containers) may forbid it");
  if (!why[0] && err == ENOMEM) snprintf(why, sizeof why, "; the locked-memory limit (ulimit -l) may be too low");
  bfdi_log(BFD_LOG_INFO, "io: io_uring is not available (%s%s): reading with a pread thread pool instead",
           strerror(err), why);
}

bfd_status bfdi_io_create(const bfdi_io_opts *o, bfdi_io **out) {
  if (!o || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_io_create: NULL argument");
  *out = NULL;
  if (o->kind != BFDI_IO_AUTO && o->kind != BFDI_IO_URING && o->kind != BFDI_IO_PREAD)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "io.engine: %d is not auto, uring or pread", (int)o->kind);
  if (o->queue_depth > 4096)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "io.queue_depth: %u is more than 4096", o->queue_depth);
  bfdi_io *e = calloc(1, sizeof *e);
  if (!e) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for an I/O engine");
  e->qd = o->queue_depth ? o->queue_depth : 64;
  e->direct = o->direct != 0;
  e->max_files = o->max_files ? o->max_files : 64;
  e->retries = o->retries ? o->retries : 3;
  e->delay_us = o->retry_delay_us ? o->retry_delay_us : 1000;
  bfd_status st = alloc_tables(e);
  if (st == BFD_OK && o->kind != BFDI_IO_PREAD) {
    int err = 0;
    st = bfdi_uring_init(e, o, &err);
    if (st == BFD_OK) {
      e->kind = BFDI_IO_URING;
    } else if (o->kind == BFDI_IO_AUTO && err) {
      say_fallback(err);
      st = BFD_OK;
    }
  }
  if (st == BFD_OK && !e->be) {
    st = bfdi_pread_init(e, o);
    e->kind = BFDI_IO_PREAD;
  }
  if (st != BFD_OK) {
    free_tables(e);
    return st;
  }
  *out = e;
  return BFD_OK;
}

/* ---- files ---- */

static int file_open(const io_file *f) { return f->fd >= 0 || f->mem; }

static bfd_status free_file_slot(bfdi_io *e, const char *path, unsigned *slot) {
  unsigned i = 0;
  while (i < e->max_files && file_open(&e->files[i])) i++;
  if (i == e->max_files)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: cannot open: this reader already has %u files open (io.max_files)",
                     path, e->max_files);
  *slot = i;
  return BFD_OK;
}

bfd_status bfdi_io_open(bfdi_io *e, const char *path, uint32_t *file) {
  unsigned slot;
  BFD_TRY(free_file_slot(e, path, &slot));
  int fd = open(path, O_RDONLY | O_CLOEXEC | (e->direct ? O_DIRECT : 0));
  if (fd < 0) {
    int err = errno;
    if (e->direct && err == EINVAL)
      return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: the filesystem does not support O_DIRECT; set io.direct: false",
                       path);
    return bfdi_fail_errno(err, "%s: cannot open for reading", path);
  }
  io_file *f = &e->files[slot];
  f->path = strdup(path);
  if (!f->path) {
    close(fd);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  /* The filesystem's own O_DIRECT alignment (Linux 6.1+), else the safe 4096. */
  f->align = 4096;
#ifdef STATX_DIOALIGN
  struct statx sx;
  if (e->direct && statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
      sx.stx_dio_offset_align > 0)
    f->align = sx.stx_dio_offset_align > sx.stx_dio_mem_align ? sx.stx_dio_offset_align : sx.stx_dio_mem_align;
#endif
  f->fd = fd;
  f->busy = 0;
  e->be->file_changed(e, slot);
  *file = slot;
  return BFD_OK;
}

bfd_status bfdi_io_open_memory(bfdi_io *e, const char *path, const uint8_t *bytes, uint64_t len, uint32_t *file) {
  if (!bytes) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_io_open_memory: %s: NULL bytes", path);
  unsigned slot;
  BFD_TRY(free_file_slot(e, path, &slot));
  io_file *f = &e->files[slot];
  f->path = strdup(path);
  if (!f->path) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  f->mem = bytes;
  f->mem_len = len;
  f->align = 1;
  f->busy = 0;
  *file = slot;
  return BFD_OK;
}

bfd_status bfdi_io_close(bfdi_io *e, uint32_t file) {
  if (file >= e->max_files || !file_open(&e->files[file]))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_io_close: file %u is not open", file);
  io_file *f = &e->files[file];
  if (f->busy)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: cannot close with %u reads outstanding; reap them first", f->path,
                     f->busy);
  if (f->mem) {
    f->mem = NULL;
  } else {
    close(f->fd);
    f->fd = -1;
    e->be->file_changed(e, file);
  }
  free(f->path);
  f->path = NULL;
  return BFD_OK;
}

/* ---- requests and ops ---- */

static void push_ready(bfdi_io *e, uint32_t op) {
  e->ready[(e->ready_head + e->ready_n++) % e->n_ops] = op;
}

/* Reads being asked again go first: they may hold a bounce slot that a new
 * op at the head would otherwise wait for forever. */
static void push_again(bfdi_io *e, uint32_t op) {
  e->ready_head = (e->ready_head + e->n_ops - 1) % e->n_ops;
  e->ready[e->ready_head] = op;
  e->ready_n++;
}

static void push_done(bfdi_io *e, uint32_t req) { e->done[(e->done_head + e->done_n++) % e->qd] = req; }

static void add_op(bfdi_io *e, uint32_t req, uint32_t file, int mode, uint8_t *dst, uint64_t start, uint64_t pos,
                   uint64_t end) {
  uint32_t i = e->free_ops[--e->n_free_ops];
  e->ops[i] = (io_op){.req = req, .file = file, .mode = (uint8_t)mode, .dst = dst, .start = start, .pos = pos,
                      .end = end, .bounce = UINT32_MAX};
  e->reqs[req].pending++;
  e->files[file].busy++;
  push_ready(e, i);
}

/* How an O_DIRECT request is read: straight into the caller's memory when
 * it is aligned (or the caller left room), else bounce reads for the
 * unaligned head and tail, else through a bounce buffer whole. */
static void split_direct(bfdi_io *e, uint32_t req, const bfdi_io_req *r) {
  uint64_t A = e->files[r->file].align, off = r->offset, end = off + r->len;
  uintptr_t m = (uintptr_t)r->dst;
  uint8_t *dst = r->dst;
  if ((off % A == 0 && r->len % A == 0 && m % A == 0) ||
      ((r->flags & BFDI_IO_ROOM) && 4096 % A == 0 && m % 4096 == off % 4096)) {
    add_op(e, req, r->file, OP_WINDOW, dst, off, off, end);
    return;
  }
  uint64_t a0 = ceil_to(off, A), a1 = floor_to(end, A);
  if (ceil_to(end, A) - floor_to(off, A) <= BFDI_IO_BOUNCE || m % A != off % A || a1 <= a0) {
    add_op(e, req, r->file, OP_BOUNCE, dst, off, off, end);
    return;
  }
  if (a0 > off) add_op(e, req, r->file, OP_BOUNCE, dst, off, off, a0);
  add_op(e, req, r->file, OP_WINDOW, dst, off, a0, a1);
  if (end > a1) add_op(e, req, r->file, OP_BOUNCE, dst, off, a1, end);
}

/* Prepares ops[i]'s next read; 0 when it must wait for a bounce slot. */
static int prepare(bfdi_io *e, io_op *op) {
  uint64_t A = e->files[op->file].align;
  if (op->mode == OP_PLAIN) {
    op->io_off = op->pos;
    op->io_len = op->end - op->pos < MAX_IO ? op->end - op->pos : MAX_IO;
    op->io_buf = op->dst + (op->pos - op->start);
    return 1;
  }
  uint64_t a = floor_to(op->pos, A), lim = ceil_to(op->end, A) - a;
  op->io_off = a;
  if (op->mode == OP_WINDOW) {
    op->io_len = lim < MAX_IO ? lim : MAX_IO;
    /* May point before dst: into the room the caller left, or at dst itself when aligned. */
    op->io_buf = (uint8_t *)((uintptr_t)op->dst - (uintptr_t)(op->start - a));
    return 1;
  }
  if (op->bounce == UINT32_MAX) {
    if (!e->n_free_bounce) return 0;
    op->bounce = e->free_bounce[--e->n_free_bounce];
  }
  op->io_len = lim < BFDI_IO_BOUNCE ? lim : BFDI_IO_BOUNCE;
  op->io_buf = e->bounce + (size_t)op->bounce * BFDI_IO_BOUNCE;
  e->stats.bounced++;
  return 1;
}

/* Issues ready ops while fewer than qd reads are in flight, then submits them as one batch. */
static bfd_status pump(bfdi_io *e) {
  unsigned queued = 0;
  while (e->ready_n && e->inflight < e->qd) {
    uint32_t i = e->ready[e->ready_head];
    if (!prepare(e, &e->ops[i])) break;
    bfd_status st = e->be->queue(e, i);
    if (st != BFD_OK) {
      if (queued) e->be->flush(e);
      return st;
    }
    e->ready_head = (e->ready_head + 1) % e->n_ops;
    e->ready_n--;
    e->inflight++;
    e->stats.reads++;
    queued++;
  }
  return queued ? e->be->flush(e) : BFD_OK;
}

static void finish_op(bfdi_io *e, uint32_t i) {
  io_op *op = &e->ops[i];
  if (op->bounce != UINT32_MAX) e->free_bounce[e->n_free_bounce++] = op->bounce;
  e->files[op->file].busy--;
  io_reqslot *r = &e->reqs[op->req];
  if (op->retries > r->retries) r->retries = op->retries;
  e->free_ops[e->n_free_ops++] = i;
  if (--r->pending == 0) push_done(e, op->req);
}

static void fail_op(bfdi_io *e, uint32_t i, int err) {
  io_op *op = &e->ops[i];
  io_reqslot *r = &e->reqs[op->req];
  if (!r->err) {
    r->err = err;
    r->err_off = op->io_off;
  }
  finish_op(e, i);
}

static int retryable(int err) { return err == EIO || err == ETIMEDOUT || err == ENOMEM || err == ENOLINK; }

static void complete(bfdi_io *e, uint32_t i, int64_t res) {
  io_op *op = &e->ops[i];
  e->inflight--;
  bfdi_read_hook_fn hook = read_hook;
  if (hook) hook(e->files[op->file].path, op->io_off, op->io_buf, op->io_len, &res);
  if (res < 0) {
    int err = (int)-res;
    if (err == EAGAIN || err == EINTR) {
      e->stats.resubmits++;
      if (++op->stalls > MAX_STALLS)
        fail_op(e, i, err);
      else
        push_again(e, i);
    } else if (!retryable(err) || op->retries >= e->retries) {
      fail_op(e, i, err);
    } else {
      op->retries++;
      e->stats.retries++;
      op->due_ns = now_ns() + (uint64_t)e->delay_us * 1000u * (1ull << (2 * (op->retries - 1)));
      e->delayed[e->n_delayed++] = i;
    }
    return;
  }
  e->stats.bytes += (uint64_t)res;
  uint64_t got = op->io_off + (uint64_t)res, was = op->pos;
  if (op->mode == OP_BOUNCE) {
    uint64_t lo = op->pos > op->io_off ? op->pos : op->io_off, hi = got < op->end ? got : op->end;
    if (hi > lo) {
      memcpy(op->dst + (lo - op->start), op->io_buf + (lo - op->io_off), hi - lo);
      op->pos = hi;
    }
  } else if (got > op->pos) {
    op->pos = got < op->end ? got : op->end;
  }
  if (op->pos == op->end) {
    finish_op(e, i);
  } else if (res == 0) {
    fail_op(e, i, EOF_ERR);
  } else if (op->pos == was && ++op->stalls > MAX_STALLS) {
    fail_op(e, i, EIO);
  } else {
    /* A short read: ask again for what is missing. */
    if (op->pos != was) op->stalls = 0;
    e->stats.resubmits++;
    push_again(e, i);
  }
}

static uint64_t release_due(bfdi_io *e) {
  uint64_t t = now_ns(), next = UINT64_MAX;
  for (unsigned k = 0; k < e->n_delayed;) {
    uint32_t i = e->delayed[k];
    if (e->ops[i].due_ns <= t) {
      push_again(e, i);
      e->delayed[k] = e->delayed[--e->n_delayed];
      continue;
    }
    if (e->ops[i].due_ns < next) next = e->ops[i].due_ns;
    k++;
  }
  return next == UINT64_MAX ? 0 : next - t;
}

bfd_status bfdi_io_submit(bfdi_io *e, const bfdi_io_req *r, size_t n, size_t *accepted) {
  size_t k = 0;
  bfd_status st = BFD_OK;
  for (; k < n && e->n_free_reqs; k++) {
    const bfdi_io_req *q = &r[k];
    if (q->file >= e->max_files || !file_open(&e->files[q->file])) {
      st = bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_io_submit: file %u is not open", q->file);
      break;
    }
    if (!q->dst && q->len) {
      st = bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_io_submit: %s: NULL destination", e->files[q->file].path);
      break;
    }
    if (q->offset > UINT64_MAX - q->len) {
      st = bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_io_submit: %s: offset %llu + length %llu overflows",
                     e->files[q->file].path, (unsigned long long)q->offset, (unsigned long long)q->len);
      break;
    }
    uint32_t s = e->free_reqs[--e->n_free_reqs];
    e->reqs[s] = (io_reqslot){.tag = q->tag, .offset = q->offset, .len = q->len, .file = q->file};
    e->outstanding++;
    e->stats.requests++;
    const io_file *f = &e->files[q->file];
    if (q->len == 0) {
      push_done(e, s);
    } else if (f->mem) {
      if (q->offset + q->len > f->mem_len) {
        e->reqs[s].err = EOF_ERR;
        e->reqs[s].err_off = f->mem_len;
      } else {
        memcpy(q->dst, f->mem + q->offset, q->len);
      }
      e->stats.memory++;
      push_done(e, s);
    } else if (e->direct)
      split_direct(e, s, q);
    else
      add_op(e, s, q->file, OP_PLAIN, q->dst, q->offset, q->offset, q->offset + q->len);
  }
  *accepted = k;
  bfd_status ps = pump(e);
  return st != BFD_OK ? st : ps;
}

static bfd_status report(bfdi_io *e, const io_reqslot *r) {
  const char *path = e->files[r->file].path ? e->files[r->file].path : "(closed file)";
  char tries[48] = "";
  if (r->retries) snprintf(tries, sizeof tries, " after %u retries", r->retries);
  if (r->err == EOF_ERR)
    return bfdi_fail(BFD_ERR_IO, "%s: the file ends before byte %llu (reading %llu bytes at byte offset %llu); it is "
                     "truncated or changed after it was opened", path, (unsigned long long)(r->offset + r->len),
                     (unsigned long long)r->len, (unsigned long long)r->offset);
  return bfdi_fail_errno(r->err, "%s: read of %llu bytes at byte offset %llu failed at byte offset %llu%s (check "
                         "the disk or filesystem: dmesg)", path, (unsigned long long)r->len,
                         (unsigned long long)r->offset, (unsigned long long)r->err_off, tries);
}

bfd_status bfdi_io_reap(bfdi_io *e, bfdi_io_done *out, size_t cap, size_t min, size_t *got) {
  *got = 0;
  if (min > e->outstanding) min = e->outstanding;
  if (min > cap) min = cap;
  io_raw raw[64];
  const size_t nraw = sizeof raw / sizeof raw[0];
  for (;;) {
    uint64_t wait_ns = release_due(e);
    BFD_TRY(pump(e));
    size_t n = 0;
    if (e->inflight) BFD_TRY(e->be->wait(e, raw, nraw, 0, &n));
    for (size_t k = 0; k < n; k++) complete(e, raw[k].op, raw[k].res);
    if (n) continue;
    if (e->done_n >= min) break;
    if (e->inflight) {
      BFD_TRY(e->be->wait(e, raw, nraw, e->n_delayed ? (int64_t)wait_ns : -1, &n));
      for (size_t k = 0; k < n; k++) complete(e, raw[k].op, raw[k].res);
    } else if (e->n_delayed) {
      struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
      nanosleep(&ts, NULL);
    } else {
      return bfdi_fail(BFD_ERR_INTERNAL, "I/O engine: %zu requests outstanding but none in flight",
                       e->outstanding);
    }
  }
  bfd_status first = BFD_OK;
  size_t k = 0;
  for (; k < cap && e->done_n; k++) {
    uint32_t s = e->done[e->done_head];
    e->done_head = (e->done_head + 1) % e->qd;
    e->done_n--;
    io_reqslot *r = &e->reqs[s];
    bfd_status st = BFD_OK;
    if (r->err) {
      bfd_status rs = first == BFD_OK ? report(e, r) : (r->err == ENOMEM ? BFD_ERR_NOMEM : BFD_ERR_IO);
      if (first == BFD_OK) first = rs;
      st = rs;
    }
    out[k] = (bfdi_io_done){r->tag, st};
    e->free_reqs[e->n_free_reqs++] = s;
    e->outstanding--;
  }
  *got = k;
  return first;
}

void bfdi_io_destroy(bfdi_io *e) {
  if (!e) return;
  /* Reads in flight still write into their buffers: let them land first. */
  io_raw raw[64];
  while (e->inflight) {
    size_t n = 0;
    if (e->be->wait(e, raw, sizeof raw / sizeof raw[0], -1, &n) != BFD_OK) break;
    for (size_t k = 0; k < n; k++) {
      e->inflight--;
      finish_op(e, raw[k].op);
    }
  }
  e->be->destroy(e);
  for (unsigned i = 0; i < e->max_files; i++)
    if (file_open(&e->files[i])) {
      if (e->files[i].fd >= 0) close(e->files[i].fd);
      free(e->files[i].path);
    }
  free_tables(e);
}
