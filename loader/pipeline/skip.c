/* on_corrupt: skip. The decode stage marks each read whose record failed
 * its CRC32C or did not decode; here every row holding such a read is given
 * the next sample of its dataset in manifest order (wrapping, and for images
 * of the row's shape group) that reads back whole. The choice depends on the
 * data alone, not on threads, ranks or where a run resumed, so every rank
 * sees the same batches. Replacements are read on the decode thread through
 * a reader of its own, made on the first corrupt record, so a clean run
 * pays nothing. Counts travel with the batch and are added to the loader's
 * when the consumer takes it: they describe what was delivered, not what
 * the stages ahead of the consumer happened to prepare. */
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/secure.h"
#include "pipeline/pipe_impl.h"

void bfdi_skip_mark(bfdi_worker *w, size_t rd) { w->corrupt[rd] = 1; }

void bfdi_skip_fini(bfdi_worker *w) {
  bfdi_reader_free(w->repair);
  free(w->corrupt);
  if (w->p->secure)
    bfdi_secure_free(w->repair_buf, w->repair_cap);
  else
    free(w->repair_buf);
  w->repair = NULL;
  w->corrupt = NULL;
  w->repair_buf = NULL;
  w->repair_cap = 0;
}

void bfdi_skip_take(bfdi_pipe *p, const bfdi_slot *s) {
  const bfd_fault_stats *f = &s->faults;
  p->faults.records_skipped += f->records_skipped;
  p->faults.rows_replaced += f->rows_replaced;
  if (f->last_shard) {
    p->faults.last_shard = f->last_shard;
    p->faults.last_record = f->last_record;
    p->faults.last_offset = f->last_offset;
  }
}

void bfdi_pipe_faults(bfdi_pipe *p, bfd_fault_stats *f) {
  pthread_mutex_lock(&p->mu);
  *f = p->faults;
  pthread_mutex_unlock(&p->mu);
}

/* Where record `record`'s data starts in its shard file, for the counters. */
static uint64_t data_offset(const bfdi_extents *x, uint64_t record) {
  bfdi_readplan pl = {0};
  bfd_status st = x->kind == BFD_KIND_SEQUENCE ? bfdi_readplan_window(&pl, x, BFDI_PART_DATA, record, 0, UINT64_MAX)
                                               : bfdi_readplan_sample(&pl, x, BFDI_PART_DATA, record, NULL, 1);
  uint64_t at = st == BFD_OK && pl.n ? pl.pieces[0].offset : 0;
  bfdi_readplan_free(&pl);
  return at;
}

static void count_corrupt(bfdi_slot *s, const bfdi_extents *x, uint64_t record, uint64_t offset) {
  s->faults.records_skipped++;
  s->faults.last_shard = x->path;
  s->faults.last_record = record;
  s->faults.last_offset = offset;
}

/* Room for need bytes in w->repair_buf; restricted data is decrypted into
 * it, so it is locked memory then (zeroed when replaced or freed). */
static bfd_status repair_room(bfdi_pipe *p, bfdi_worker *w, size_t need) {
  if (!p->secure) {
    if (!bfdi_grow((void **)&w->repair_buf, &w->repair_cap, need, 1))
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory reading a %zu-byte replacement sample", need);
    return BFD_OK;
  }
  if (need <= w->repair_cap) return BFD_OK;
  void *b;
  BFD_TRY(bfdi_secure_alloc(need, "a replacement sample (on_corrupt: skip)", &b));
  bfdi_secure_free(w->repair_buf, w->repair_cap);
  w->repair_buf = b;
  w->repair_cap = need;
  return BFD_OK;
}

/* Reads sample loc whole (data, and label when the job has labels) into
 * w->repair_buf: data first, then label. BFD_ERR_CORRUPT when it is corrupt
 * too; any other failure (an I/O error) stops the run. */
static bfd_status read_candidate(bfdi_pipe *p, bfdi_worker *w, const bfdi_src_loc *loc, int labels,
                                 uint64_t *data_bytes, uint64_t *label_bytes) {
  if (!w->repair) {
    bfdi_io_opts o = {.kind = p->job.engine, .queue_depth = 8, .direct = p->job.direct, .secure = p->secure};
    BFD_TRY(bfdi_reader_create(&o, &w->repair));
  }
  bfdi_read q[2] = {{.x = loc->shard->x, .part = BFDI_PART_DATA, .record = loc->record, .hi = UINT64_MAX},
                    {.x = loc->shard->x, .part = BFDI_PART_LABEL, .record = loc->record, .hi = UINT64_MAX}};
  size_t nq = labels ? 2 : 1;
  *label_bytes = 0;
  BFD_TRY(bfdi_read_size(&q[0], data_bytes));
  if (labels) BFD_TRY(bfdi_read_size(&q[1], label_bytes));
  size_t need = (size_t)(*data_bytes + *label_bytes);
  BFD_TRY(repair_room(p, w, need ? need : 1));
  q[0].dst = w->repair_buf;
  q[0].cap = (size_t)*data_bytes;
  q[1].dst = w->repair_buf + *data_bytes;
  q[1].cap = (size_t)*label_bytes;
  return bfdi_reader_run(w->repair, q, nq);
}

/* Puts the replacement's bytes where row b's were. A sequence row may change
 * length: the rows after it move, and the buffer holds max_batch records of
 * the longest length, so they always fit. */
static bfd_status place(bfdi_pipe *p, bfdi_slot *s, uint32_t b, const uint8_t *buf, uint64_t data_bytes,
                        uint64_t label_bytes) {
  if (p->src->kind == BFD_KIND_SEQUENCE) {
    uint64_t at = s->offsets[b], old = s->offsets[b + 1] - at;
    if (s->in_used - old + data_bytes > p->in_cap)
      return bfdi_fail(BFD_ERR_INTERNAL, "a replacement of %llu bytes overflows the batch input (%zu bytes)",
                       (unsigned long long)data_bytes, p->in_cap);
    memmove(s->in + at + data_bytes, s->in + at + old, s->in_used - at - old);
    memcpy(s->in + at, buf, data_bytes);
    for (uint32_t r = b + 1; r <= s->n; r++) s->offsets[r] = s->offsets[r] - old + data_bytes;
    s->in_used = s->in_used - old + data_bytes;
    return BFD_OK;
  }
  const bfdi_src_group *g = &p->src->groups[s->group[b]];
  if (data_bytes != g->sample_bytes || label_bytes != (g->has_labels ? g->label_bytes : 0))
    return bfdi_fail(BFD_ERR_INTERNAL, "a replacement sample holds %llu bytes; its row holds %llu",
                     (unsigned long long)data_bytes, (unsigned long long)g->sample_bytes);
  memcpy(s->in + s->offsets[b], buf, data_bytes);
  if (g->has_labels) memcpy(s->lab + s->lab_off[b], buf + data_bytes, label_bytes);
  return BFD_OK;
}

/* Row b's sample is corrupt: walk its dataset from the next sample on. */
static bfd_status replace_row(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s, uint32_t b) {
  const bfdi_source *src = p->src;
  const bfdi_sample_ref *ref = &s->refs_buf[b];
  const bfdi_src_ds *ds = &src->ds[ref->dataset];
  const int image = src->kind == BFD_KIND_IMAGE;
  const int labels = image && src->groups[s->group[b]].has_labels;
  for (uint64_t k = 1; k < ds->n_samples; k++) {
    uint64_t cand = (ref->sample + k) % ds->n_samples;
    bfdi_src_loc loc;
    bfdi_source_locate(src, ref->dataset, cand, &loc);
    if (image && loc.shard->group != s->group[b]) continue;
    uint64_t data_bytes, label_bytes;
    bfd_status st = read_candidate(p, w, &loc, labels, &data_bytes, &label_bytes);
    if (st == BFD_ERR_CORRUPT) {
      bfdi_log(BFD_LOG_WARN, "on_corrupt: skip: %s", bfd_last_error());
      count_corrupt(s, loc.shard->x, loc.record, data_offset(loc.shard->x, loc.record));
      continue;
    }
    BFD_TRY(st);
    BFD_TRY(place(p, s, b, w->repair_buf, data_bytes, label_bytes));
    if (image && s->boxed) bfdi_img_whole_box(&src->groups[s->group[b]], &s->box[b]);
    uint64_t was = (uint64_t)s->h_sample[b], gidx = ds->base + cand;
    s->h_sample[b] = (int64_t)gidx;
    s->key[b] = src->n_ds > 1 ? gidx + src->total * ref->pass : gidx;
    if (s->h_class) s->h_class[b] = ds->classes[loc.ds_record];
    s->faults.rows_replaced++;
    bfdi_log(BFD_LOG_WARN, "on_corrupt: skip: epoch %u step %llu row %u: sample %llu is corrupt; sample %llu (%s "
             "record %llu) takes its place", s->c.epoch, (unsigned long long)s->step, b, (unsigned long long)was,
             (unsigned long long)gidx, loc.shard->x->path, (unsigned long long)loc.record);
    return BFD_OK;
  }
  return bfdi_fail(BFD_ERR_CORRUPT, "%s: on_corrupt: skip found no sample of dataset %s to replace corrupt sample "
                   "%llu: every other one is corrupt too (or of another shape); check it with `biofeed verify`",
                   p->job.file, ds->path, (unsigned long long)s->h_sample[b]);
}

bfd_status bfdi_skip_repair(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s) {
  for (uint32_t b = 0; b < s->n; b++) {
    size_t end = b + 1 < s->n ? s->first_rd[b + 1] : s->n_rd;
    size_t bad = SIZE_MAX;
    for (size_t j = s->first_rd[b]; j < end && bad == SIZE_MAX; j++)
      if (w->corrupt[j]) bad = j;
    if (bad == SIZE_MAX) continue;
    const bfdi_rd *rd = &s->rd[bad];
    const bfdi_readplan *pl = &s->plans[bad];
    count_corrupt(s, rd->shard->x, rd->record, pl->n ? pl->pieces[0].offset : 0);
    BFD_TRY(replace_row(p, w, s, b));
  }
  return BFD_OK;
}
