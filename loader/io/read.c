/* Reading a batch of records: plan each, lay their staged pieces out in one
 * page-aligned staging area, submit every piece (up to the queue depth at a
 * time), and decode each record when its last piece completes, while the
 * others are still in flight. An error stops new submissions, but what is
 * in flight is reaped before returning: no read may land in a buffer after
 * its owner got control back. */
#include "io/read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/grow.h"

typedef struct open_file {
  char *path;
  uint32_t slot;
  uint64_t batch; /* the last batch that read it */
} open_file;

struct bfdi_reader {
  bfdi_io *io;
  bfdi_decoder *dec;
  bfdi_readplan *plans;
  size_t plans_cap;
  uint64_t *base;     /* per record: where its staging starts */
  uint32_t *pending;  /* per record: pieces not landed */
  size_t base_cap, pending_cap;
  bfdi_io_req *ioq;
  size_t ioq_cap;
  uint8_t *stage;
  size_t stage_cap;
  open_file *files;
  size_t n_files, files_cap;
  unsigned max_files;
  uint64_t batch;
};

bfd_status bfdi_reader_create(const bfdi_io_opts *o, bfdi_reader **out) {
  if (!o || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_reader_create: NULL argument");
  *out = NULL;
  bfdi_reader *r = calloc(1, sizeof *r);
  if (!r) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for a reader");
  r->max_files = o->max_files ? o->max_files : 64;
  bfd_status st = bfdi_io_create(o, &r->io);
  if (st == BFD_OK) st = o->secure ? bfdi_decoder_create_secure(&r->dec) : bfdi_decoder_create(&r->dec);
  if (st != BFD_OK) {
    bfdi_reader_free(r);
    return st;
  }
  *out = r;
  return BFD_OK;
}

static void close_files(bfdi_reader *r) {
  for (size_t i = 0; i < r->n_files; i++) {
    bfdi_io_close(r->io, r->files[i].slot);
    free(r->files[i].path);
  }
  r->n_files = 0;
}

/* Makes room in a full file table by closing a file this batch does not
 * read (nothing is in flight while a batch is being prepared). */
static bfd_status evict(bfdi_reader *r, const char *path) {
  for (size_t i = 0; i < r->n_files; i++) {
    if (r->files[i].batch == r->batch) continue;
    BFD_TRY(bfdi_io_close(r->io, r->files[i].slot));
    free(r->files[i].path);
    r->files[i] = r->files[--r->n_files];
    return BFD_OK;
  }
  return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: one batch reads more than %u files; raise io.max_files or read "
                   "smaller batches", path, r->max_files);
}

void bfdi_reader_free(bfdi_reader *r) {
  if (!r) return;
  if (r->io) close_files(r);
  bfdi_io_destroy(r->io);
  bfdi_decoder_free(r->dec);
  for (size_t i = 0; i < r->plans_cap; i++) bfdi_readplan_free(&r->plans[i]);
  free(r->plans);
  free(r->base);
  free(r->pending);
  free(r->ioq);
  free(r->files);
  if (r->stage) munmap(r->stage, r->stage_cap);
  free(r);
}

bfdi_io *bfdi_reader_engine(bfdi_reader *r) { return r->io; }

static bfd_status plan_one(const bfdi_read *q, bfdi_readplan *p, uint32_t align) {
  if (!q->x) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_reader_run: a read without an extent table");
  if (q->x->kind == BFD_KIND_SEQUENCE) return bfdi_readplan_window(p, q->x, q->part, q->record, q->lo, q->hi);
  return bfdi_readplan_sample(p, q->x, q->part, q->record, q->box, align);
}

bfd_status bfdi_read_size(const bfdi_read *q, uint64_t *bytes) {
  bfdi_readplan p = {0};
  bfd_status st = plan_one(q, &p, 1);
  *bytes = st == BFD_OK ? p.out_bytes : 0;
  bfdi_readplan_free(&p);
  return st;
}

/* The engine slot of file k of an extent table, opening it on first use. */
static bfd_status slot_of(bfdi_reader *r, const bfdi_extents *x, uint32_t k, uint32_t *slot) {
  const char *path = x->files[k];
  for (size_t i = 0; i < r->n_files; i++)
    if (!strcmp(r->files[i].path, path)) {
      r->files[i].batch = r->batch;
      *slot = r->files[i].slot;
      return BFD_OK;
    }
  if (r->n_files >= r->max_files) BFD_TRY(evict(r, path));
  if (!bfdi_grow((void **)&r->files, &r->files_cap, r->n_files + 1, sizeof *r->files))
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  char *copy = strdup(path);
  if (!copy) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  bfd_status st = bfdi_io_open(r->io, path, slot);
  if (st != BFD_OK) {
    free(copy);
    return st;
  }
  r->files[r->n_files++] = (open_file){copy, *slot, r->batch};
  return BFD_OK;
}

static bfd_status grow_stage(bfdi_reader *r, uint64_t need) {
  if (need <= r->stage_cap) return BFD_OK;
  size_t cap = r->stage_cap ? r->stage_cap : (size_t)1 << 20;
  while (cap < need) cap *= 2;
  void *m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return bfdi_fail_errno(errno, "cannot map a %zu-byte staging buffer", cap);
  if (r->stage) munmap(r->stage, r->stage_cap);
  r->stage = m;
  r->stage_cap = cap;
  return BFD_OK;
}

/* Plans every record and builds the list of reads. Returns the number of reads in *nq. */
static bfd_status prepare(bfdi_reader *r, const bfdi_read *q, size_t n, size_t *nq) {
  uint32_t align = bfdi_io_align(r->io);
  size_t old = r->plans_cap;
  int ok = bfdi_grow((void **)&r->plans, &r->plans_cap, n, sizeof *r->plans);
  if (ok) memset(r->plans + old, 0, (r->plans_cap - old) * sizeof *r->plans);
  if (!ok || !bfdi_grow((void **)&r->base, &r->base_cap, n, sizeof *r->base) ||
      !bfdi_grow((void **)&r->pending, &r->pending_cap, n, sizeof *r->pending))
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory planning %zu reads", n);
  uint64_t stage = 0;
  size_t reads = 0;
  for (size_t k = 0; k < n; k++) {
    bfdi_readplan *p = &r->plans[k];
    BFD_TRY(plan_one(&q[k], p, align));
    if (!q[k].dst || q[k].cap < p->out_bytes)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: record %llu needs %llu bytes; its buffer holds %zu", q[k].x->path,
                       (unsigned long long)q[k].record, (unsigned long long)p->out_bytes, q[k].dst ? q[k].cap : 0);
    r->base[k] = stage;
    stage += (p->stage_bytes + 4095) / 4096 * 4096;
    for (size_t i = 0; i < p->n; i++) reads += p->pieces[i].len > 0;
  }
  BFD_TRY(grow_stage(r, stage));
  if (!bfdi_grow((void **)&r->ioq, &r->ioq_cap, reads, sizeof *r->ioq))
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory for %zu reads", reads);
  size_t m = 0;
  for (size_t k = 0; k < n; k++) {
    const bfdi_readplan *p = &r->plans[k];
    r->pending[k] = 0;
    for (size_t i = 0; i < p->n; i++) {
      const bfdi_piece *c = &p->pieces[i];
      if (!c->len) continue;
      uint32_t slot;
      BFD_TRY(slot_of(r, q[k].x, c->file, &slot));
      uint8_t *dst = p->direct ? (uint8_t *)q[k].dst + c->at : r->stage + r->base[k] + c->at;
      r->ioq[m++] = (bfdi_io_req){.offset = c->offset, .len = c->len, .dst = dst, .tag = k, .file = slot,
                                  .flags = !p->direct && align > 1 ? BFDI_IO_ROOM : 0};
      r->pending[k]++;
    }
  }
  *nq = m;
  return BFD_OK;
}

static bfd_status decode_one(bfdi_reader *r, const bfdi_read *q, size_t k) {
  /* Direct plans have nothing staged (and the stage may not exist yet). */
  const uint8_t *stage = r->stage ? r->stage + r->base[k] : NULL;
  return bfdi_decode_plan(r->dec, &r->plans[k], stage, q[k].dst);
}

bfd_status bfdi_reader_run(bfdi_reader *r, const bfdi_read *q, size_t n) {
  if (!n) return BFD_OK;
  size_t nq = 0;
  r->batch++;
  BFD_TRY(prepare(r, q, n, &nq));
  /* The first failure is the one reported; later ones (reaped while
   * draining) would overwrite the thread's message, so keep a copy. */
  bfd_status st = BFD_OK;
  char first[1024] = "";
  for (size_t k = 0; k < n && st == BFD_OK; k++)
    if (!r->pending[k]) st = decode_one(r, q, k);
  if (st != BFD_OK) snprintf(first, sizeof first, "%s", bfd_last_error());
  size_t next = 0;
  bfdi_io_done done[64];
  while (next < nq || bfdi_io_outstanding(r->io)) {
    if (st == BFD_OK && next < nq) {
      size_t acc = 0;
      st = bfdi_io_submit(r->io, r->ioq + next, nq - next, &acc);
      if (st != BFD_OK) snprintf(first, sizeof first, "%s", bfd_last_error());
      next += acc;
    }
    if (!bfdi_io_outstanding(r->io)) break;
    size_t got = 0;
    bfd_status rs = bfdi_io_reap(r->io, done, sizeof done / sizeof done[0], 1, &got);
    if (rs != BFD_OK && st == BFD_OK) {
      size_t k = 0;
      while (k < got && done[k].status == BFD_OK) k++;
      st = bfdi_wrap(rs, "record %llu", k < got ? (unsigned long long)q[done[k].tag].record : 0ull);
      snprintf(first, sizeof first, "%s", bfd_last_error());
    }
    for (size_t i = 0; i < got; i++) {
      size_t k = (size_t)done[i].tag;
      if (--r->pending[k] == 0 && st == BFD_OK && done[i].status == BFD_OK) {
        st = decode_one(r, q, k);
        if (st != BFD_OK) snprintf(first, sizeof first, "%s", bfd_last_error());
      }
    }
  }
  return st == BFD_OK ? BFD_OK : bfdi_fail(st, "%s", first);
}
