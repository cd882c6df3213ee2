/* The io_uring backend (liburing): one ring per engine, reads prepared into
 * the submission queue and handed over with one io_uring_submit per batch,
 * completions matched to ops by user_data. Files go into a registered
 * (sparse) file table and the pinned pool's memory is registered, so that
 * the kernel neither looks up the fd nor pins pages on every read; when the
 * kernel or the memlock limit refuses, plain fds and buffers are used. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "io/engine_impl.h"

typedef struct reg {
  uintptr_t base;
  size_t len;
  unsigned index; /* in the registration */
} reg;

typedef struct uring_state {
  struct io_uring ring;
  int fixed_files;
  reg *regs; /* registered buffers sorted by base; NULL when none */
  unsigned n_regs;
} uring_state;

/* The registered buffer holding [p, p + n), or -1. */
static int find_reg(const uring_state *s, const uint8_t *p, uint64_t n) {
  uintptr_t a = (uintptr_t)p;
  unsigned lo = 0, hi = s->n_regs;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (s->regs[mid].base <= a)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return -1;
  const reg *r = &s->regs[lo - 1];
  return a - r->base + n <= r->len ? (int)r->index : -1;
}

static bfd_status uq_queue(bfdi_io *e, uint32_t i) {
  uring_state *s = e->bs;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
  if (!sqe) {
    /* The submission queue holds queue_depth entries and at most that many
     * reads are in flight, so handing over what is queued makes room. */
    int r = io_uring_submit(&s->ring);
    sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) return bfdi_fail_errno(r < 0 ? -r : EBUSY, "io_uring: no submission queue entry free");
  }
  const io_op *op = &e->ops[i];
  int fd = s->fixed_files ? (int)op->file : e->files[op->file].fd;
  int idx = s->regs ? find_reg(s, op->io_buf, op->io_len) : -1;
  if (idx >= 0) {
    io_uring_prep_read_fixed(sqe, fd, op->io_buf, (unsigned)op->io_len, op->io_off, idx);
    e->stats.fixed++;
  } else {
    io_uring_prep_read(sqe, fd, op->io_buf, (unsigned)op->io_len, op->io_off);
  }
  if (s->fixed_files) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data(sqe, (void *)(uintptr_t)i);
  return BFD_OK;
}

static bfd_status uq_flush(bfdi_io *e) {
  uring_state *s = e->bs;
  for (;;) {
    int r = io_uring_submit(&s->ring);
    if (r >= 0) return BFD_OK;
    if (r != -EINTR && r != -EAGAIN) return bfdi_fail_errno(-r, "io_uring_submit");
  }
}

static bfd_status uq_wait(bfdi_io *e, io_raw *out, size_t cap, int64_t timeout_ns, size_t *got) {
  uring_state *s = e->bs;
  *got = 0;
  if (timeout_ns != 0) {
    struct io_uring_cqe *cqe;
    int r;
    if (timeout_ns < 0) {
      r = io_uring_wait_cqe(&s->ring, &cqe);
    } else {
      struct __kernel_timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
      r = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
    }
    if (r == -ETIME || r == -EINTR) return BFD_OK;
    if (r < 0) return bfdi_fail_errno(-r, "io_uring: waiting for completions");
  }
  struct io_uring_cqe *cqes[64];
  unsigned n = io_uring_peek_batch_cqe(&s->ring, cqes, cap < 64 ? (unsigned)cap : 64);
  for (unsigned k = 0; k < n; k++) {
    out[k].op = (uint32_t)(uintptr_t)io_uring_cqe_get_data(cqes[k]);
    out[k].res = cqes[k]->res;
  }
  io_uring_cq_advance(&s->ring, n);
  *got = n;
  return BFD_OK;
}

static void uq_file_changed(bfdi_io *e, uint32_t slot) {
  uring_state *s = e->bs;
  if (!s->fixed_files) return;
  int fd = e->files[slot].fd;
  /* A slot that cannot be updated means the table is unusable: go back to plain fds. */
  if (io_uring_register_files_update(&s->ring, slot, &fd, 1) != 1) s->fixed_files = 0;
}

static void uq_destroy(bfdi_io *e) {
  uring_state *s = e->bs;
  io_uring_queue_exit(&s->ring);
  free(s->regs);
  free(s);
}

static const io_backend uring_backend = {uq_queue, uq_flush, uq_wait, uq_file_changed, uq_destroy};

static int by_base(const void *a, const void *b) {
  uintptr_t x = ((const reg *)a)->base, y = ((const reg *)b)->base;
  return x < y ? -1 : x > y;
}

/* Registers the caller's buffers and the bounce buffers, cut into pieces of
 * at most 1 GiB (the kernel's limit per buffer). Best effort. */
static void register_buffers(bfdi_io *e, uring_state *s, const bfdi_io_opts *o) {
  const size_t piece = 1u << 30;
  const struct iovec bounce = {e->bounce, e->bounce_bytes};
  size_t n_src = o->n_buffers + (e->bounce ? 1 : 0), n = 0;
  for (size_t i = 0; i < n_src; i++) {
    const struct iovec *v = i < o->n_buffers ? &o->buffers[i] : &bounce;
    n += (v->iov_len + piece - 1) / piece;
  }
  if (!n || n > 16384) return;
  struct iovec *iov = calloc(n, sizeof *iov);
  s->regs = calloc(n, sizeof *s->regs);
  if (!iov || !s->regs) {
    free(iov);
    free(s->regs);
    s->regs = NULL;
    return;
  }
  size_t k = 0;
  for (size_t i = 0; i < n_src; i++) {
    const struct iovec *v = i < o->n_buffers ? &o->buffers[i] : &bounce;
    for (size_t off = 0; off < v->iov_len; off += piece, k++) {
      size_t len = v->iov_len - off < piece ? v->iov_len - off : piece;
      iov[k] = (struct iovec){(uint8_t *)v->iov_base + off, len};
      s->regs[k] = (reg){(uintptr_t)v->iov_base + off, len, (unsigned)k};
    }
  }
  int r = io_uring_register_buffers(&s->ring, iov, (unsigned)k);
  free(iov);
  if (r < 0) {
    bfdi_log(BFD_LOG_DEBUG, "io: io_uring would not register %zu buffers (%s); reading into unregistered memory", k,
             strerror(-r));
    free(s->regs);
    s->regs = NULL;
    return;
  }
  qsort(s->regs, k, sizeof *s->regs, by_base);
  s->n_regs = (unsigned)k;
}

bfd_status bfdi_uring_init(bfdi_io *e, const bfdi_io_opts *o, int *err) {
  *err = 0;
  uring_state *s = calloc(1, sizeof *s);
  if (!s) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for an io_uring");
  int r = io_uring_queue_init(e->qd, &s->ring, 0);
  if (r < 0) {
    free(s);
    *err = -r;
    return bfdi_fail_errno(-r, "io.engine uring: io_uring_queue_init (queue depth %u) failed; io_uring may be "
                           "disabled here (kernel.io_uring_disabled, seccomp): use io.engine: auto or pread", e->qd);
  }
  s->fixed_files = io_uring_register_files_sparse(&s->ring, e->max_files) == 0;
  register_buffers(e, s, o);
  e->bs = s;
  e->be = &uring_backend;
  return BFD_OK;
}
