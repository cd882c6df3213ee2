/* The pinned pool: one anonymous mapping cut into slabs (anonymous memory
 * stays registrable with io_uring after cudaHostRegister, which memory from
 * cudaHostAlloc may not be), handed out in ring order from a queue of free
 * slabs under one mutex. Acquiring a slab never allocates. Dedicated
 * buffers for oversized records are mapped on first need and kept after
 * release, so a dataset of large records settles into reuse as well. */
#include "io/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef struct dedicated {
  uint8_t *ptr;
  size_t size;
  int in_use;
  int locked, pinned;
  struct dedicated *next;
} dedicated;

struct bfdi_pool {
  pthread_mutex_t mu;
  pthread_cond_t freed;
  bfdi_pool_opts o;
  uint8_t *base;
  size_t bytes;
  uint32_t *ring; /* free slab indices, oldest first */
  size_t head, n_free;
  int locked, pinned;
  dedicated *ded;          /* every dedicated buffer, in use or kept */
  size_t ded_bytes;        /* mapped */
  size_t ded_reserved;     /* being mapped by an acquire, not yet on the list */
};

static size_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* mlock and device pinning are best effort: without them reads still work,
 * page faults or staged device copies just cost more. */
static void lock_and_pin(bfdi_pool *p, void *m, size_t n, int *locked, int *pinned) {
  *locked = mlock(m, n) == 0;
  if (!*locked) bfdi_log(BFD_LOG_DEBUG, "io pool: mlock of %zu bytes failed (%s); raise ulimit -l", n, strerror(errno));
  *pinned = 0;
  if (p->o.pin) {
    bfd_status st = p->o.pin(m, n, p->o.pin_user);
    *pinned = st == BFD_OK;
    if (!*pinned) bfdi_log(BFD_LOG_WARN, "io pool: pinning %zu bytes for the device failed: %s", n, bfd_last_error());
  }
}

static void unlock_and_unpin(bfdi_pool *p, void *m, size_t n, int locked, int pinned) {
  if (pinned && p->o.unpin) p->o.unpin(m, p->o.pin_user);
  if (locked) munlock(m, n);
}

bfd_status bfdi_pool_create(const bfdi_pool_opts *o, bfdi_pool **out) {
  if (!o || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_pool_create: NULL argument");
  *out = NULL;
  size_t pg = page_size();
  bfdi_pool_opts c = *o;
  c.slab_bytes = round_up(c.slab_bytes ? c.slab_bytes : (size_t)4 << 20, pg);
  c.slabs = c.slabs ? c.slabs : 32;
  if (c.slabs > UINT32_MAX || c.slab_bytes > SIZE_MAX / c.slabs)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "io pool: %zu slabs of %zu bytes is too much", c.slabs, c.slab_bytes);
  c.dedicated_bytes = c.dedicated_bytes ? round_up(c.dedicated_bytes, pg) : 4 * c.slab_bytes;
  bfdi_pool *p = calloc(1, sizeof *p);
  if (!p) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for the io pool");
  p->o = c;
  p->bytes = c.slab_bytes * c.slabs;
  p->ring = calloc(c.slabs, sizeof *p->ring);
  void *m = p->ring ? mmap(NULL, p->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
  if (m == MAP_FAILED) {
    int err = p->ring ? errno : ENOMEM;
    free(p->ring);
    free(p);
    return bfdi_fail_errno(err, "io pool: cannot map %zu slabs of %zu bytes (lower io.pool_bytes)", c.slabs,
                           c.slab_bytes);
  }
  p->base = m;
  /* Huge pages, where the kernel gives them: fewer TLB misses, and O_DIRECT
   * transfers into physically contiguous memory need fewer DMA segments.
   * Asked for before the pages exist; mlock (or touching) then faults them in. */
  madvise(m, p->bytes, MADV_HUGEPAGE);
  for (size_t i = 0; i < c.slabs; i++) p->ring[i] = (uint32_t)i;
  p->n_free = c.slabs;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->freed, NULL);
  lock_and_pin(p, p->base, p->bytes, &p->locked, &p->pinned);
  if (!p->locked)
    for (size_t off = 0; off < p->bytes; off += pg) p->base[off] = 0;
  *out = p;
  return BFD_OK;
}

static void unmap_dedicated(bfdi_pool *p, dedicated *d) {
  unlock_and_unpin(p, d->ptr, d->size, d->locked, d->pinned);
  munmap(d->ptr, d->size);
  p->ded_bytes -= d->size;
  free(d);
}

void bfdi_pool_free(bfdi_pool *p) {
  if (!p) return;
  while (p->ded) {
    dedicated *d = p->ded;
    p->ded = d->next;
    unmap_dedicated(p, d);
  }
  unlock_and_unpin(p, p->base, p->bytes, p->locked, p->pinned);
  munmap(p->base, p->bytes);
  pthread_cond_destroy(&p->freed);
  pthread_mutex_destroy(&p->mu);
  free(p->ring);
  free(p);
}

/* Waits on the condition until the deadline; 0 when it has passed. */
static int wait_until(bfdi_pool *p, const struct timespec *until) {
  return pthread_cond_timedwait(&p->freed, &p->mu, until) != ETIMEDOUT;
}

/* A kept dedicated buffer that fits (the smallest), or one mapped now if
 * the budget allows (evicting kept ones that do not fit). Called locked;
 * mapping happens unlocked. 1: got one; 0: wait. */
static int take_dedicated(bfdi_pool *p, size_t need, bfdi_buf *b, bfd_status *st) {
  dedicated *best = NULL;
  for (dedicated *d = p->ded; d; d = d->next)
    if (!d->in_use && d->size >= need && (!best || d->size < best->size)) best = d;
  if (best) {
    best->in_use = 1;
    *b = (bfdi_buf){best->ptr, best->size, best};
    return 1;
  }
  size_t want = round_up(need, page_size());
  for (dedicated **pp = &p->ded; *pp && p->ded_bytes + p->ded_reserved + want > p->o.dedicated_bytes;) {
    dedicated *d = *pp;
    if (d->in_use) {
      pp = &d->next;
      continue;
    }
    *pp = d->next;
    unmap_dedicated(p, d);
  }
  if (p->ded_bytes + p->ded_reserved + want > p->o.dedicated_bytes) return 0;
  p->ded_reserved += want;
  pthread_mutex_unlock(&p->mu);
  dedicated *d = calloc(1, sizeof *d);
  void *m = d ? mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
  if (m == MAP_FAILED) {
    int err = d ? errno : ENOMEM;
    free(d);
    pthread_mutex_lock(&p->mu);
    p->ded_reserved -= want;
    *st = bfdi_fail_errno(err, "io pool: cannot map a %zu-byte buffer for a large record", want);
    return 1;
  }
  *d = (dedicated){.ptr = m, .size = want, .in_use = 1};
  lock_and_pin(p, m, want, &d->locked, &d->pinned);
  pthread_mutex_lock(&p->mu);
  p->ded_reserved -= want;
  p->ded_bytes += want;
  d->next = p->ded;
  p->ded = d;
  *b = (bfdi_buf){d->ptr, d->size, d};
  return 1;
}

bfd_status bfdi_pool_acquire(bfdi_pool *p, size_t need, unsigned timeout_ms, bfdi_buf *b) {
  *b = (bfdi_buf){0};
  int big = need > p->o.slab_bytes;
  if (big && round_up(need, page_size()) > p->o.dedicated_bytes)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "io pool: a record of %zu bytes is larger than the budget for large "
                     "records (%zu bytes); raise io.pool_large_bytes", need, p->o.dedicated_bytes);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(timeout_ms / 1000);
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  bfd_status st = BFD_OK;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (big ? take_dedicated(p, need, b, &st) : p->n_free > 0) break;
    if (!timeout_ms || !wait_until(p, &until)) break;
  }
  if (!big && p->n_free > 0 && !b->ptr) {
    uint32_t i = p->ring[p->head];
    p->head = (p->head + 1) % p->o.slabs;
    p->n_free--;
    *b = (bfdi_buf){p->base + (size_t)i * p->o.slab_bytes, p->o.slab_bytes, NULL};
  }
  pthread_mutex_unlock(&p->mu);
  return st;
}

void bfdi_pool_release(bfdi_pool *p, bfdi_buf *b) {
  if (!b->ptr) return;
  pthread_mutex_lock(&p->mu);
  if (b->owner) {
    ((dedicated *)b->owner)->in_use = 0;
  } else {
    uint32_t i = (uint32_t)((size_t)(b->ptr - p->base) / p->o.slab_bytes);
    p->ring[(p->head + p->n_free++) % p->o.slabs] = i;
  }
  pthread_cond_broadcast(&p->freed);
  pthread_mutex_unlock(&p->mu);
  *b = (bfdi_buf){0};
}

struct iovec bfdi_pool_region(const bfdi_pool *p) { return (struct iovec){p->base, p->bytes}; }

void bfdi_pool_get_stats(bfdi_pool *p, bfdi_pool_stats *s) {
  pthread_mutex_lock(&p->mu);
  *s = (bfdi_pool_stats){p->o.slab_bytes, p->o.slabs, p->n_free, p->ded_bytes, p->locked, p->pinned};
  pthread_mutex_unlock(&p->mu);
}
