/* Helpers shared by the sequence op tests (test_seq_*.c): a batch built
 * from C strings with every output allocated, a preset's settings and
 * tables, and a run on the CPU backend. */
#ifndef BFD_TEST_SEQ_RUN_H
#define BFD_TEST_SEQ_RUN_H

#include <stdlib.h>
#include <string.h>

#include "seq.h"

typedef struct sr {
  uint8_t *data;
  uint64_t *offsets, *sample, *record, *tile;
  bfdk_seq_input in;
  bfdk_seq_output out;
  int64_t cap; /* row capacity: roundup8(max_len) */
  int32_t width;
  void *work;
  void *onehot_buf; /* out.onehot points here unless a test turns it off */
} sr;

/* n_samples samples over the given records (sample b reads record
 * b % n_records, global sample index b); outputs for rows of max_len. */
static inline void sr_init(sr *s, const char *const *recs, uint64_t n_records, int64_t n_samples, int32_t max_len) {
  memset(s, 0, sizeof *s);
  size_t total = 0;
  for (uint64_t r = 0; r < n_records; r++) total += strlen(recs[r]);
  s->data = malloc(total ? total : 1);
  s->offsets = malloc((n_records + 1) * sizeof *s->offsets);
  s->offsets[0] = 0;
  for (uint64_t r = 0; r < n_records; r++) {
    size_t l = strlen(recs[r]);
    memcpy(s->data + s->offsets[r], recs[r], l);
    s->offsets[r + 1] = s->offsets[r] + l;
  }
  size_t nn = (size_t)(n_samples ? n_samples : 1);
  s->sample = malloc(nn * sizeof *s->sample);
  s->record = malloc(nn * sizeof *s->record);
  s->tile = malloc(nn * sizeof *s->tile);
  for (int64_t b = 0; b < n_samples; b++) {
    s->sample[b] = (uint64_t)b;
    s->record[b] = (uint64_t)b % n_records;
    s->tile[b] = 0;
  }
  s->in.data = s->data;
  s->in.offsets = s->offsets;
  s->in.n_records = n_records;
  s->in.record = s->record;
  s->in.sample = s->sample;
  s->in.n = n_samples;
  s->cap = (max_len + 7) / 8 * 8;
  size_t cells = nn * (size_t)s->cap;
  s->out.ids = malloc(cells * sizeof(int64_t));
  s->out.labels = malloc(cells * sizeof(int64_t));
  s->out.attn = malloc(cells);
  s->out.softmask = malloc(cells);
  s->onehot_buf = malloc(cells * 4 * sizeof(float));
  s->out.onehot = s->onehot_buf;
  s->out.lengths = malloc(nn * sizeof(int32_t));
  s->out.start = malloc(nn * sizeof(int64_t));
  s->out.redraws = malloc(nn * sizeof(int32_t));
  s->out.rc = malloc(nn);
  s->work = malloc(bfdk_seq_work_bytes(n_samples));
}

static inline void sr_free(sr *s) {
  free(s->data);
  free(s->offsets);
  free(s->sample);
  free(s->record);
  free(s->tile);
  free(s->out.ids);
  free(s->out.labels);
  free(s->out.attn);
  free(s->out.softmask);
  free(s->onehot_buf);
  free(s->out.lengths);
  free(s->out.start);
  free(s->out.redraws);
  free(s->out.rc);
  free(s->work);
}

static inline bfd_status sr_cpu(sr *s, const bfdk_seq_params *p, const int32_t *tab) {
  return bfdk_seq_batch_cpu(p, tab, &s->in, &s->out, s->work, &s->width);
}

/* A preset's vocabulary, default settings and tables; 0 on success. */
static inline int sr_preset(const char *name, int32_t k, int32_t case_mode, bfdk_seq_vocab *v, bfdk_seq_params *p,
                            int32_t **tab) {
  size_t n;
  if (bfdk_seq_vocab_preset(name, k, v) != BFD_OK) return -1;
  bfdk_seq_params_init(p, v);
  return bfdk_seq_tables_build(v, case_mode, tab, &n) == BFD_OK ? 0 : -1;
}

#endif
