/* Read plans: which byte ranges a record, a sequence window or an image crop
 * needs, and where each lands. Contiguous data is read as runs of rows (near
 * runs merged); chunked data chunk by chunk, only the chunks the box
 * touches. A piece that is exactly the output (an uncompressed whole sample
 * in one chunk, a sequence window, a contiguous sample) is read straight
 * into the output. */
#include "io/readplan.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"

void bfdi_readplan_free(bfdi_readplan *p) {
  if (!p) return;
  free(p->pieces);
  p->pieces = NULL;
  p->n = p->cap = 0;
}

static bfd_status push(bfdi_readplan *p, uint32_t file, uint64_t offset, uint64_t len, uint32_t mask, uint64_t chunk) {
  if (!bfdi_grow((void **)&p->pieces, &p->cap, p->n + 1, sizeof *p->pieces))
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory planning record %llu", p->x->path,
                     (unsigned long long)p->record);
  p->pieces[p->n++] = (bfdi_piece){.offset = offset, .len = len, .chunk = chunk, .file = file, .mask = mask};
  return BFD_OK;
}

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/* Staging layout: with align A each piece gets its own A-aligned window
 * and sits at its file offset modulo A, so the aligned read that covers it
 * lands in place. */
static void place(bfdi_readplan *p) {
  uint64_t A = p->align, end = 0;
  for (size_t k = 0; k < p->n; k++) {
    bfdi_piece *q = &p->pieces[k];
    if (!q->len) continue;
    q->at = A > 1 ? round_up(end, A) + q->offset % A : end;
    end = A > 1 ? round_up(q->at + q->len, A) : q->at + q->len;
  }
  p->stage_bytes = end;
}

static void reset(bfdi_readplan *p, const bfdi_extents *x, bfdi_part part, uint64_t i, uint32_t align) {
  p->x = x;
  p->a = NULL;
  p->part = part;
  p->record = i;
  p->whole = p->direct = 0;
  p->align = align > 1 ? align : 1;
  p->out_bytes = p->stage_bytes = 0;
  p->n = 0;
  memset(p->lo, 0, sizeof p->lo);
  memset(p->hi, 0, sizeof p->hi);
}

void bfdi_readplan_runs(const bfdi_readplan *p, bfdi_run_fn fn, void *user) {
  const bfdi_array *a = p->a;
  int r = a->rank;
  uint64_t stride[BFDI_MAX_RANK];
  stride[r - 1] = 1;
  for (int j = r - 2; j >= 0; j--) stride[j] = stride[j + 1] * a->dims[j + 1];
  /* A run spans axis k and every full axis after it. */
  int k = r - 1;
  while (k > 0 && p->lo[k] == 0 && p->hi[k] == a->dims[k]) k--;
  uint64_t run = (p->hi[k] - p->lo[k]) * stride[k];
  uint64_t c[BFDI_MAX_RANK];
  for (int j = 0; j < k; j++) c[j] = p->lo[j];
  for (;;) {
    uint64_t e = p->lo[k] * stride[k];
    for (int j = 0; j < k; j++) e += c[j] * stride[j];
    fn(e, run, user);
    int j = k - 1;
    while (j >= 0 && ++c[j] == p->hi[j]) {
      c[j] = p->lo[j];
      j--;
    }
    if (j < 0) return;
  }
}

typedef struct merge_state {
  bfdi_readplan *p;
  bfd_status st;
} merge_state;

static void merge_run(uint64_t elem, uint64_t n, void *user) {
  merge_state *m = user;
  bfdi_readplan *p = m->p;
  if (m->st != BFD_OK) return;
  const bfdi_extent *e = &p->a->ext[0];
  uint64_t off = e->offset + elem * p->a->esize, len = n * p->a->esize;
  if (p->n > 0) {
    bfdi_piece *last = &p->pieces[p->n - 1];
    if (off <= last->offset + last->len + BFDI_READPLAN_MERGE_GAP) {
      last->len = off + len - last->offset;
      return;
    }
  }
  m->st = push(p, e->file, off, len, 0, 0);
}

static bfd_status plan_contiguous(bfdi_readplan *p) {
  if (p->a->ext[0].length == 0) return BFD_OK; /* never written: all fill */
  merge_state m = {p, BFD_OK};
  bfdi_readplan_runs(p, merge_run, &m);
  BFD_TRY(m.st);
  if (p->n == 1 && p->pieces[0].len == p->out_bytes) p->direct = 1;
  return BFD_OK;
}

static bfd_status plan_chunked(bfdi_readplan *p) {
  const bfdi_array *a = p->a;
  int r = a->rank;
  uint64_t c0[BFDI_MAX_RANK], c1[BFDI_MAX_RANK], c[BFDI_MAX_RANK];
  for (int j = 0; j < r; j++) {
    c0[j] = p->lo[j] / a->chunk[j];
    c1[j] = (p->hi[j] + a->chunk[j] - 1) / a->chunk[j];
    c[j] = c0[j];
  }
  for (;;) {
    uint64_t k = 0;
    for (int j = 0; j < r; j++) k = k * a->grid[j] + c[j];
    const bfdi_extent *e = &a->ext[k];
    BFD_TRY(push(p, e->file, e->offset, e->length, e->mask, k));
    int j = r - 1;
    while (j >= 0 && ++c[j] == c1[j]) {
      c[j] = c0[j];
      j--;
    }
    if (j < 0) break;
  }
  uint32_t all = a->n_filters ? (1u << a->n_filters) - 1 : 0;
  const bfdi_piece *q = &p->pieces[0];
  if (p->n == 1 && !p->x->restricted && a->chunk_bytes == p->out_bytes && q->len == p->out_bytes &&
      (q->mask & all) == all)
    p->direct = 1;
  return BFD_OK;
}

bfd_status bfdi_readplan_sample(bfdi_readplan *p, const bfdi_extents *x, bfdi_part part, uint64_t i,
                                const bfdi_box *box, uint32_t align) {
  reset(p, x, part, i, align);
  const bfdi_array *a = bfdi_extents_array(x, part);
  if (!a)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: no %s to read as samples", x->path,
                     x->kind == BFD_KIND_SEQUENCE ? "images (it is a sequence shard)" : "/label/data");
  if (i >= x->n_records)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: sample %llu is past the end (%llu samples)", x->path,
                     (unsigned long long)i, (unsigned long long)x->n_records);
  p->a = a;
  p->whole = 1;
  p->out_bytes = a->esize;
  for (int j = 0, k = 0; j < a->rank; j++) {
    if (j == a->axis) {
      p->lo[j] = i;
      p->hi[j] = i + 1;
      continue;
    }
    uint64_t lo = box ? box->lo[k] : 0, hi = box ? box->hi[k] : a->dims[j];
    if (lo >= hi || hi > a->dims[j])
      return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: crop [%llu, %llu) on sample axis %d is empty or outside 0..%llu",
                       x->path, (unsigned long long)lo, (unsigned long long)hi, k, (unsigned long long)a->dims[j]);
    p->whole &= lo == 0 && hi == a->dims[j];
    p->lo[j] = lo;
    p->hi[j] = hi;
    p->out_bytes *= hi - lo;
    k++;
  }
  BFD_TRY(a->chunked ? plan_chunked(p) : plan_contiguous(p));
  if (p->direct)
    p->pieces[0].at = 0;
  else
    place(p);
  return BFD_OK;
}

bfd_status bfdi_readplan_window(bfdi_readplan *p, const bfdi_extents *x, bfdi_part part, uint64_t i, uint64_t lo,
                                uint64_t hi) {
  reset(p, x, part, i, 1);
  if (x->kind != BFD_KIND_SEQUENCE)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: byte windows are for sequence shards; this one holds images", x->path);
  if (part != BFDI_PART_DATA && (part != BFDI_PART_QUALITY || x->qual_base == UINT64_MAX))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: has no %s", x->path,
                     part == BFDI_PART_QUALITY ? "/seq/quality (not packed from FASTQ)" : "such part");
  if (i >= x->n_records)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: record %llu is past the end (%llu records)", x->path,
                     (unsigned long long)i, (unsigned long long)x->n_records);
  const bfdi_extent *e = &x->rec[i];
  if (hi == UINT64_MAX) hi = e->length;
  if (lo > hi || hi > e->length)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: window [%llu, %llu) is outside record %llu (%llu bytes)", x->path,
                     (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)i,
                     (unsigned long long)e->length);
  p->lo[0] = lo;
  p->hi[0] = hi;
  p->whole = lo == 0 && hi == e->length;
  p->direct = 1;
  p->out_bytes = hi - lo;
  uint64_t base = part == BFDI_PART_DATA ? e->offset : x->qual_base + (e->offset - x->data_base);
  if (x->restricted) {
    /* Sealed segments authenticate only whole: stage those the window
     * covers, the decoder opens them and cuts the window. */
    p->direct = 0;
    if (hi > lo) {
      const uint64_t seg = BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD, g0 = lo / BFDI_SEAL_SEGMENT;
      const uint64_t g1 = (hi - 1) / BFDI_SEAL_SEGMENT, end = bfdi_sealed_size(e->length);
      uint64_t to = (g1 + 1) * seg < end ? (g1 + 1) * seg : end;
      BFD_TRY(push(p, e->file, base + g0 * seg, to - g0 * seg, 0, g0));
    }
    place(p);
    return BFD_OK;
  }
  if (hi > lo) BFD_TRY(push(p, e->file, base + lo, hi - lo, 0, 0));
  return BFD_OK;
}
