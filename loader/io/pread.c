/* The pread backend, for kernels or containers that refuse io_uring: a pool
 * of threads that each take one prepared read, pread(2) it and post the
 * result. Only the raw read happens on a worker; everything else (retries,
 * short reads, alignment) stays in the engine's core on the caller's
 * thread, so both backends behave the same. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "io/engine_impl.h"

typedef struct pread_state {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  uint32_t *sq;      /* ops to read: a ring of the engine's op count */
  unsigned sq_head, sq_n;
  io_raw *cq;        /* results */
  unsigned cq_head, cq_n;
  uint32_t *staged;  /* queued by this batch, not yet handed over */
  unsigned n_staged;
  unsigned cap;
  int stop;
  pthread_t *threads;
  unsigned n_threads;
  bfdi_io *e;
} pread_state;

static void *worker(void *arg) {
  pread_state *s = arg;
  bfdi_io *e = s->e;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->sq_n && !s->stop) pthread_cond_wait(&s->work, &s->mu);
    if (!s->sq_n) break;
    uint32_t i = s->sq[s->sq_head];
    s->sq_head = (s->sq_head + 1) % s->cap;
    s->sq_n--;
    /* The op and its file slot stay untouched while the read is in flight. */
    const io_op *op = &e->ops[i];
    int fd = e->files[op->file].fd;
    uint8_t *buf = op->io_buf;
    size_t len = (size_t)op->io_len;
    off_t off = (off_t)op->io_off;
    pthread_mutex_unlock(&s->mu);
    ssize_t r = pread(fd, buf, len, off);
    int64_t res = r < 0 ? -(int64_t)errno : (int64_t)r;
    pthread_mutex_lock(&s->mu);
    s->cq[(s->cq_head + s->cq_n++) % s->cap] = (io_raw){i, res};
    pthread_cond_signal(&s->done);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static bfd_status pr_queue(bfdi_io *e, uint32_t i) {
  pread_state *s = e->bs;
  s->staged[s->n_staged++] = i;
  return BFD_OK;
}

static bfd_status pr_flush(bfdi_io *e) {
  pread_state *s = e->bs;
  pthread_mutex_lock(&s->mu);
  for (unsigned k = 0; k < s->n_staged; k++) s->sq[(s->sq_head + s->sq_n++) % s->cap] = s->staged[k];
  pthread_mutex_unlock(&s->mu);
  if (s->n_staged == 1)
    pthread_cond_signal(&s->work);
  else
    pthread_cond_broadcast(&s->work);
  s->n_staged = 0;
  return BFD_OK;
}

static bfd_status pr_wait(bfdi_io *e, io_raw *out, size_t cap, int64_t timeout_ns, size_t *got) {
  pread_state *s = e->bs;
  pthread_mutex_lock(&s->mu);
  if (!s->cq_n && timeout_ns != 0) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ns > 0) {
      until.tv_sec += (time_t)(timeout_ns / 1000000000);
      until.tv_nsec += (long)(timeout_ns % 1000000000);
      if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
      }
    }
    while (!s->cq_n) {
      if (timeout_ns < 0)
        pthread_cond_wait(&s->done, &s->mu);
      else if (pthread_cond_timedwait(&s->done, &s->mu, &until) == ETIMEDOUT)
        break;
    }
  }
  size_t n = 0;
  for (; n < cap && s->cq_n; n++) {
    out[n] = s->cq[s->cq_head];
    s->cq_head = (s->cq_head + 1) % s->cap;
    s->cq_n--;
  }
  pthread_mutex_unlock(&s->mu);
  *got = n;
  return BFD_OK;
}

static void pr_file_changed(bfdi_io *e, uint32_t slot) {
  (void)e;
  (void)slot;
}

static void stop_threads(pread_state *s) {
  pthread_mutex_lock(&s->mu);
  s->stop = 1;
  pthread_mutex_unlock(&s->mu);
  pthread_cond_broadcast(&s->work);
  for (unsigned k = 0; k < s->n_threads; k++) pthread_join(s->threads[k], NULL);
}

static void free_state(pread_state *s) {
  pthread_cond_destroy(&s->work);
  pthread_cond_destroy(&s->done);
  pthread_mutex_destroy(&s->mu);
  free(s->sq);
  free(s->cq);
  free(s->staged);
  free(s->threads);
  free(s);
}

static void pr_destroy(bfdi_io *e) {
  pread_state *s = e->bs;
  stop_threads(s);
  free_state(s);
}

static const io_backend pread_backend = {pr_queue, pr_flush, pr_wait, pr_file_changed, pr_destroy};

bfd_status bfdi_pread_init(bfdi_io *e, const bfdi_io_opts *o) {
  pread_state *s = calloc(1, sizeof *s);
  if (!s) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for the pread pool");
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->work, NULL);
  pthread_cond_init(&s->done, NULL);
  s->e = e;
  s->cap = e->n_ops;
  unsigned want = o->threads ? o->threads : (e->qd < 32 ? e->qd : 32);
  s->sq = calloc(s->cap, sizeof *s->sq);
  s->cq = calloc(s->cap, sizeof *s->cq);
  s->staged = calloc(s->cap, sizeof *s->staged);
  s->threads = calloc(want, sizeof *s->threads);
  if (!s->sq || !s->cq || !s->staged || !s->threads) {
    free_state(s);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory for the pread pool");
  }
  for (; s->n_threads < want; s->n_threads++) {
    int r = pthread_create(&s->threads[s->n_threads], NULL, worker, s);
    if (r != 0) {
      stop_threads(s);
      free_state(s);
      return bfdi_fail_errno(r, "cannot start pread thread %u of %u", s->n_threads + 1, want);
    }
  }
  e->bs = s;
  e->be = &pread_backend;
  return BFD_OK;
}
