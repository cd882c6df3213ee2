/* The read stage: each reader thread owns an I/O engine (io_uring, or pread
 * threads) and keeps the shard files open across batches. A batch's reads
 * are planned (bfdi_readplan: which byte ranges, landing straight in the
 * batch buffers or in the slot's staging area), all submitted up to the
 * queue depth, and reaped; the decode stage undoes filters and checks CRCs.
 * With N rejection a row's later candidate windows are read in a second
 * round, only for rows whose first candidate was rejected.
 * Also the per-thread state of the read and decode stages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "ops/seq_window.h"
#include "pipeline/pipe_impl.h"

/* Files a reader keeps open; the least recently used one not read by the
 * current batch is closed to open another. */
#define MAX_OPEN 64

bfd_status bfdi_worker_init(bfdi_pipe *p, bfdi_worker *w) {
  if (w->stage == S_READ || w->whole) {
    bfdi_io_opts o = {.kind = p->job.engine, .queue_depth = p->job.queue_depth, .direct = p->job.direct,
                      .max_files = MAX_OPEN};
    BFD_TRY(bfdi_io_create(&o, &w->io));
    uint32_t n = p->src->n_files;
    w->file_slot = malloc((n ? n : 1) * sizeof *w->file_slot);
    w->file_stamp = calloc(n ? n : 1, sizeof *w->file_stamp);
    if (!w->file_slot || !w->file_stamp) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) w->file_slot[i] = -1;
  }
  if (w->stage == S_DECODE || w->whole) {
    /* a whole-batch thread decodes on its own: the other threads run other batches */
    const uint32_t n = w->whole ? 1 : p->job.workers;
    w->dec = calloc(n, sizeof *w->dec);
    if (!w->dec) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    for (; w->n_dec < n; w->n_dec++)
      BFD_TRY(p->secure ? bfdi_decoder_create_secure(&w->dec[w->n_dec]) : bfdi_decoder_create(&w->dec[w->n_dec]));
    if (p->job.on_corrupt == BFDI_CORRUPT_SKIP) {
      w->corrupt = calloc(p->cap_rd ? p->cap_rd : 1, 1);
      if (!w->corrupt) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    }
  }
  return BFD_OK;
}

void bfdi_worker_fini(bfdi_worker *w) {
  bfdi_io_destroy(w->io);
  w->io = NULL;
  free(w->file_slot);
  free(w->file_stamp);
  free(w->ioq);
  for (uint32_t i = 0; i < w->n_dec; i++) bfdi_decoder_free(w->dec[i]);
  free(w->dec);
  bfdi_skip_fini(w);
  w->file_slot = NULL;
  w->file_stamp = NULL;
  w->ioq = NULL;
  w->dec = NULL;
  w->n_dec = 0;
}

static bfd_status file_slot(bfdi_pipe *p, bfdi_worker *w, uint32_t id, uint32_t *slot) {
  w->file_stamp[id] = w->batches;
  if (w->file_slot[id] >= 0) {
    *slot = (uint32_t)w->file_slot[id];
    return BFD_OK;
  }
  if (w->open_files >= MAX_OPEN) {
    uint32_t victim = UINT32_MAX;
    for (uint32_t i = 0; i < p->src->n_files; i++)
      if (w->file_slot[i] >= 0 && w->file_stamp[i] < w->batches &&
          (victim == UINT32_MAX || w->file_stamp[i] < w->file_stamp[victim]))
        victim = i;
    if (victim == UINT32_MAX)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "one batch reads more than %d shard files; lower batch_size or use "
                       "sampling.order: shards", MAX_OPEN);
    BFD_TRY(bfdi_io_close(w->io, (uint32_t)w->file_slot[victim]));
    w->file_slot[victim] = -1;
    w->open_files--;
  }
  if (p->cache && p->cache[id])
    BFD_TRY(bfdi_io_open_memory(w->io, p->src->files[id], p->cache[id], p->cache_len[id], slot));
  else
    BFD_TRY(bfdi_io_open(w->io, p->src->files[id], slot));
  w->file_slot[id] = (int32_t)*slot;
  w->open_files++;
  return BFD_OK;
}

uint8_t *bfdi_rd_dst(bfdi_slot *s, const bfdi_rd *rd) {
  uint8_t *base = rd->buf == BUF_IN ? s->in : (rd->buf == BUF_LAB ? s->lab : s->raw);
  return base + rd->dst;
}

/* Plans read j, its staging at *stage. */
static bfd_status plan_read(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s, size_t j, uint64_t *stage) {
  const uint32_t align = bfdi_io_align(w->io);
  const uint64_t round = align > 1 ? 4096 : 64;
  const bfdi_rd *rd = &s->rd[j];
  bfdi_readplan *pl = &s->plans[j];
  const bfdi_extents *x = rd->shard->x;
  if (x->kind == BFD_KIND_SEQUENCE)
    BFD_TRY(bfdi_readplan_window(pl, x, (bfdi_part)rd->part, rd->record, rd->lo, rd->hi));
  else
    BFD_TRY(bfdi_readplan_sample(pl, x, (bfdi_part)rd->part, rd->record, rd->boxed ? &rd->box : NULL, align));
  if (pl->out_bytes != rd->cap)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: record %llu holds %llu bytes, but the shard's header says %llu; the shard "
                     "is inconsistent: check it with `biofeed verify`", x->path, (unsigned long long)rd->record,
                     (unsigned long long)pl->out_bytes, (unsigned long long)rd->cap);
  s->stage_at[j] = *stage;
  *stage += (pl->stage_bytes + round - 1) / round * round;
  if (*stage > p->stage_cap)
    return bfdi_fail(BFD_ERR_INTERNAL, "a batch stages %llu bytes; its buffer holds %zu", (unsigned long long)*stage,
                     p->stage_cap);
  return BFD_OK;
}

/* Read j is a row's first candidate whose later ones are not drawn yet
 * (they follow it, marked pending). */
static int later_pending(const bfdi_slot *s, size_t j) {
  return j + 1 < s->n_rd && s->rd[j + 1].pending;
}

/* Queues read j's pieces at w->ioq[*m]. */
static bfd_status queue_read(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s, size_t j, size_t *m, uint64_t *bytes) {
  const bfdi_readplan *pl = &s->plans[j];
  if (!bfdi_grow((void **)&w->ioq, &w->ioq_cap, *m + pl->n, sizeof *w->ioq))
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory for %zu reads", *m + pl->n);
  for (size_t k = 0; k < pl->n; k++) {
    const bfdi_piece *c = &pl->pieces[k];
    if (!c->len) continue;
    uint32_t slot;
    BFD_TRY(file_slot(p, w, s->rd[j].shard->file_base + c->file, &slot));
    uint8_t *dst = pl->direct ? bfdi_rd_dst(s, &s->rd[j]) + c->at : s->stage_buf + s->stage_at[j] + c->at;
    w->ioq[(*m)++] = (bfdi_io_req){.offset = c->offset, .len = c->len, .dst = dst, .tag = j, .file = slot,
                                   .flags = !pl->direct && pl->align > 1 ? BFDI_IO_ROOM : 0};
    *bytes += c->len;
  }
  return BFD_OK;
}

/* Submits the nq queued reads and reaps them. Everything submitted is
 * reaped before returning, even after a failure: no read may land in the
 * slot once the stage has let go of it. The first failure is reported;
 * later ones would overwrite the thread's message. */
static bfd_status run_queue(bfdi_worker *w, bfdi_slot *s, size_t nq) {
  bfd_status st = BFD_OK;
  char first[1024] = "";
  size_t next = 0;
  bfdi_io_done done[64];
  while (next < nq || bfdi_io_outstanding(w->io)) {
    if (st == BFD_OK && next < nq) {
      size_t acc = 0;
      st = bfdi_io_submit(w->io, w->ioq + next, nq - next, &acc);
      if (st != BFD_OK) snprintf(first, sizeof first, "%s", bfd_last_error());
      next += acc;
    }
    if (!bfdi_io_outstanding(w->io)) break;
    size_t got = 0;
    bfd_status rs = bfdi_io_reap(w->io, done, sizeof done / sizeof done[0], 1, &got);
    if (rs != BFD_OK && st == BFD_OK) {
      size_t k = 0;
      while (k < got && done[k].status == BFD_OK) k++;
      const bfdi_rd *rd = k < got ? &s->rd[done[k].tag] : NULL;
      st = bfdi_wrap(rs, "%s: record %llu", rd ? rd->shard->x->path : "?", rd ? (unsigned long long)rd->record : 0ull);
      snprintf(first, sizeof first, "%s", bfd_last_error());
    }
  }
  if (st != BFD_OK) return bfdi_fail(st, "%s", first);
  return BFD_OK;
}

bfd_status bfdi_stage_read(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s) {
  w->batches++;
  uint64_t stage = 0, bytes = 0;
  size_t m = 0;
  int later = 0;
  for (size_t j = 0; j < s->n_rd; j++) {
    bfdi_rd *rd = &s->rd[j];
    if (rd->pending) {
      later = 1;
      continue;
    }
    BFD_TRY(plan_read(p, w, s, j, &stage));
    /* a first candidate that is not read in place (its CRC checked, or
     * staged): the decode stage looks at it, so the row's later ones are
     * read with it; one read in place reads them only if it is rejected */
    if (later_pending(s, j) && !bfdi_readplan_in_place(&s->plans[j])) bfdi_plan_later(p, s, rd->row);
    BFD_TRY(queue_read(p, w, s, j, &m, &bytes));
  }
  BFD_TRY(run_queue(w, s, m));
  if (later) {
    /* N rejection: rows whose first candidate has too many Ns */
    m = 0;
    for (uint32_t b = 0; b < s->n; b++) {
      const size_t j = s->first_rd[b];
      if (!later_pending(s, j)) continue;
      int64_t span;
      const int64_t c = bfdi_seq_cand_n(p, s, &s->rd[j], &span);
      if (bfd_seq_n_ok(&p->job.seq.params, c, span)) continue;
      bfdi_plan_later(p, s, b);
      for (size_t a = 1; a < (size_t)p->attempts; a++) {
        BFD_TRY(plan_read(p, w, s, j + a, &stage));
        BFD_TRY(queue_read(p, w, s, j + a, &m, &bytes));
      }
    }
    BFD_TRY(run_queue(w, s, m));
  }
  s->bytes[S_READ] = bytes;
  return BFD_OK;
}
