/* The pinned buffer pool: records are read and decoded into it, and the
 * upload stage copies from it to the device. A ring of fixed-size slabs is
 * mapped once (page aligned, mlocked when the limit allows, and pinned for
 * the device through the pin hook); a record larger than a slab gets a
 * dedicated buffer, kept for reuse once released. Memory is bounded by the
 * configuration: when it is all in use, acquire waits (back-pressure). */
#ifndef BFD_IO_POOL_H
#define BFD_IO_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/error.h"

/* Registers host memory with the device runtime (cudaHostRegister) and
 * undoes it. A failed pin leaves the memory usable, only unpinned. */
typedef bfd_status (*bfdi_pin_fn)(void *p, size_t n, void *user);
typedef void (*bfdi_unpin_fn)(void *p, void *user);

typedef struct bfdi_pool_opts {
  size_t slab_bytes;      /* 0: 4 MiB; rounded up to whole pages */
  size_t slabs;           /* 0: 32 */
  size_t dedicated_bytes; /* budget for records larger than a slab; 0: 4 slabs' worth */
  bfdi_pin_fn pin;        /* NULL: no device pinning (CPU backend) */
  bfdi_unpin_fn unpin;
  void *pin_user;
} bfdi_pool_opts;

typedef struct bfdi_buf {
  uint8_t *ptr;   /* NULL when nothing came free in time */
  size_t size;    /* at least what was asked for */
  void *owner;    /* the pool's record of it */
} bfdi_buf;

typedef struct bfdi_pool_stats {
  size_t slab_bytes, slabs, slabs_free;
  size_t dedicated_bytes;  /* mapped for large records, in use or kept */
  int locked;              /* the slabs are mlocked */
  int pinned;              /* the slabs are pinned through the pin hook */
} bfdi_pool_stats;

typedef struct bfdi_pool bfdi_pool;

bfd_status bfdi_pool_create(const bfdi_pool_opts *o, bfdi_pool **out);
/* Every buffer must have been released. */
void bfdi_pool_free(bfdi_pool *p);

/* A buffer of at least need bytes, waiting up to timeout_ms for one to come
 * free (0: do not wait). When none did, returns BFD_OK with b->ptr NULL:
 * the consumer is behind, try again. A record too large for the pool's
 * budget is BFD_ERR_INVALID_ARG. */
bfd_status bfdi_pool_acquire(bfdi_pool *p, size_t need, unsigned timeout_ms, bfdi_buf *b);
void bfdi_pool_release(bfdi_pool *p, bfdi_buf *b);

/* The slab memory, for registration with an io_uring (bfdi_io_opts.buffers). */
struct iovec bfdi_pool_region(const bfdi_pool *p);

void bfdi_pool_get_stats(bfdi_pool *p, bfdi_pool_stats *s);

#endif
