/* `pack` for FASTA/FASTQ: records from each input, in order, through the
 * length filters into shard batches; a full batch goes to the writer thread
 * while parsing continues into the next. A record never spans two shards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/fastx.h"
#include "core/grow.h"
#include "pack/pack_internal.h"

typedef struct seq_job {
  bfdi_job job;
  uint8_t *data, *qual;
  size_t len, cap, qcap;
  uint64_t *off;
  uint32_t *crc;
  size_t *name_off;
  size_t n, off_cap, crc_cap, name_off_cap;
  char *names;
  size_t names_len, names_cap;
  const char **name_ptrs;
  size_t *srcs;
  size_t n_srcs, srcs_cap;
} seq_job;

static void seq_release(bfdi_job *j) {
  seq_job *s = (seq_job *)j;
  free(s->data);
  free(s->qual);
  free(s->off);
  free(s->crc);
  free(s->name_off);
  free(s->names);
  free(s->name_ptrs);
  free(s->srcs);
}

static seq_job *new_job(void) {
  seq_job *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->job.release = seq_release;
  if (!bfdi_grow((void **)&s->off, &s->off_cap, 1, sizeof *s->off)) {
    free(s);
    return NULL;
  }
  s->off[0] = 0;
  return s;
}

static bfd_status append(seq_job *s, const bfdi_seqrec *r, size_t input) {
  if (!bfdi_grow((void **)&s->data, &s->cap, s->len + r->seq_len, 1) ||
      (r->qual && !bfdi_grow((void **)&s->qual, &s->qcap, s->len + r->seq_len, 1)) ||
      !bfdi_grow((void **)&s->names, &s->names_cap, s->names_len + r->name_len + 1, 1) ||
      !bfdi_grow((void **)&s->off, &s->off_cap, s->n + 2, sizeof *s->off) ||
      !bfdi_grow((void **)&s->crc, &s->crc_cap, s->n + 1, sizeof *s->crc) ||
      !bfdi_grow((void **)&s->name_off, &s->name_off_cap, s->n + 1, sizeof *s->name_off))
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory holding a %zu-byte record", r->seq_len);
  /* An empty first record leaves data unallocated: memcpy needs a pointer. */
  if (r->seq_len) {
    memcpy(s->data + s->len, r->seq, r->seq_len);
    if (r->qual) memcpy(s->qual + s->len, r->qual, r->seq_len);
  }
  s->crc[s->n] = bfdi_crc32c(r->seq, r->seq_len);
  s->name_off[s->n] = s->names_len;
  memcpy(s->names + s->names_len, r->name, r->name_len);
  s->names[s->names_len + r->name_len] = '\0';
  s->names_len += r->name_len + 1;
  s->len += r->seq_len;
  s->n++;
  s->off[s->n] = s->len;
  if (!s->n_srcs || s->srcs[s->n_srcs - 1] != input) {
    if (!bfdi_grow((void **)&s->srcs, &s->srcs_cap, s->n_srcs + 1, sizeof *s->srcs))
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
    s->srcs[s->n_srcs++] = input;
  }
  return BFD_OK;
}

static bfd_status submit(bfdi_packer *p, seq_job *s, uint64_t index) {
  char name[64];
  snprintf(name, sizeof name, "seq-%05llu.h5", (unsigned long long)index);
  s->name_ptrs = malloc((s->n ? s->n : 1) * sizeof *s->name_ptrs);
  s->job.name = strdup(name);
  s->job.provenance = bfdi_provenance(p, s->srcs, s->n_srcs);
  if (!s->name_ptrs || !s->job.name || !s->job.provenance) {
    free(s->job.name);
    free(s->job.provenance);
    seq_release(&s->job);
    free(s);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < s->n; i++) s->name_ptrs[i] = s->names + s->name_off[i];
  s->job.seq = (bfdi_seq_shard){s->n, s->data, s->off, s->crc, s->name_ptrs, s->qual,
                                bfd_alphabet_name(p->o->alphabet), NULL};
  s->job.bytes = s->len;
  return bfdi_packer_submit(p, &s->job);
}

bfd_status bfdi_pack_sequences(bfdi_packer *p) {
  const bfd_pack_options *o = p->o;
  seq_job *cur = new_job();
  if (!cur) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  uint64_t shard_index = 0;
  int seen_fastq = -1;
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < p->n_inputs && st == BFD_OK; i++) {
    bfdi_fastx *f;
    st = bfdi_fastx_open(p->inputs[i].path, o->alphabet, o->on_invalid, &f);
    if (st != BFD_OK) break;
    int first = 1;
    for (;;) {
      bfdi_seqrec r;
      int got = 0;
      st = bfdi_fastx_next(f, &r, &got);
      if (st != BFD_OK || !got) break;
      if (first) {
        int fq = bfdi_fastx_is_fastq(f);
        if (seen_fastq >= 0 && fq != seen_fastq) {
          st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: is %s but earlier inputs are %s; pack FASTA and FASTQ into "
                         "separate output directories", p->inputs[i].path, fq ? "FASTQ" : "FASTA",
                         seen_fastq ? "FASTQ" : "FASTA");
          break;
        }
        seen_fastq = fq;
        p->seq_quality = fq;
        first = 0;
      }
      if (r.seq_len < o->min_length || (o->max_length && r.seq_len > o->max_length)) {
        p->sum.dropped_length++;
        continue;
      }
      if (cur->n && cur->len + r.seq_len > o->shard_bytes) {
        st = submit(p, cur, shard_index++);
        cur = st == BFD_OK ? new_job() : NULL;
        if (st == BFD_OK && !cur) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
        if (st != BFD_OK) break;
      }
      st = append(cur, &r, i);
      if (st != BFD_OK) break;
      pthread_mutex_lock(&p->mu);
      p->sum.records++;
      p->sum.bytes_records += r.seq_len;
      pthread_mutex_unlock(&p->mu);
      if (o->records_per_shard && cur->n >= o->records_per_shard) {
        st = submit(p, cur, shard_index++);
        cur = st == BFD_OK ? new_job() : NULL;
        if (st == BFD_OK && !cur) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
        if (st != BFD_OK) break;
      }
      if ((p->sum.records & 1023) == 0) bfdi_progress(p, bfdi_fastx_bytes_in(f), 0);
    }
    p->sum.dropped_invalid += bfdi_fastx_dropped(f);
    p->sum.replaced_bytes += bfdi_fastx_replaced(f);
    bfdi_fastx_close(f);
    p->bytes_done += p->inputs[i].size;
  }
  if (st == BFD_OK && cur && cur->n) {
    st = submit(p, cur, shard_index++);
    cur = NULL;
  }
  if (cur) {
    seq_release(&cur->job);
    free(cur);
  }
  return st;
}
