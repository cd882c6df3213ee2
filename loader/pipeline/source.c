/* Opens the job's datasets: manifests, extent tables of every shard, image
 * shape groups and classes, and the sample numbering (records or sequence
 * windows) that the sampler and the read stage share. */
#include "pipeline/source.h"

#include <stdlib.h>
#include <string.h>

#include "biofeed/dataset.h"
#include "config/readfile.h"
#include "ops/seq_tok.h"
#include "ops/seq_window.h"

static bfd_status at_line(bfd_status st, const bfdi_job *job, size_t d) {
  return bfdi_wrap(st, "%s:%lu: datasets[%zu] (%s)", job->file, job->datasets[d].line, d, job->datasets[d].path);
}

/* Samples of record r: every tile (tiled), or ceil(L / window) draws
 * (random), over its regions when it has some. */
static uint64_t windows_of(const bfdk_seq_params *p, const bfdi_src_ds *d, uint64_t r, uint64_t len) {
  if (p->sample_mode == BFD_SEQ_WINDOW_TILED) {
    bfdk_seq_regions rg = d->regions.view;
    return bfd_seq_record_windows(p, &rg, r, (int64_t)len);
  }
  if (!d->has_regions || d->regions.off[r + 1] == d->regions.off[r])
    return bfd_seq_region_windows((int64_t)len, p->window, p->window);
  uint64_t n = 0;
  for (uint64_t i = d->regions.off[r]; i < d->regions.off[r + 1]; i++)
    n += bfd_seq_region_windows(d->regions.end[i] - d->regions.start[i], p->window, p->window);
  return n;
}

static int same_group(const bfdi_src_group *a, const bfdi_src_group *b) {
  return a->dtype == b->dtype && a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof a->shape) &&
         a->has_labels == b->has_labels && (!a->has_labels || a->label_dtype == b->label_dtype);
}

/* The most bytes staging one part of one sample can take: every chunk of a
 * sample at its largest stored size, each in its own 4096-byte window. */
static uint64_t stage_bound(const bfdi_array *a) {
  if (!a->ext || !a->chunked) return 0;
  uint64_t chunks = 1, longest = 0;
  for (int k = 0; k < a->rank; k++)
    if (k != a->axis) chunks *= a->grid[k];
  for (uint64_t i = 0; i < a->n_ext; i++)
    if (a->ext[i].length > longest) longest = a->ext[i].length;
  return chunks * (longest + 2 * 4096);
}

static bfd_status add_group(bfdi_source *s, const bfdi_extents *x, uint32_t *out) {
  bfdi_src_group g;
  memset(&g, 0, sizeof g);
  const bfdi_array *a = &x->data;
  g.dtype = a->dtype;
  g.ndim = a->sdim;
  if (g.ndim != 3 && g.ndim != 4)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: samples of %d axes; the image ops take [C, Y, X] or [C, Z, Y, X]",
                     x->path, g.ndim);
  for (int k = 0; k < g.ndim; k++) g.shape[k] = (int64_t)a->sdims[k];
  g.sample_bytes = a->sample_bytes;
  g.has_labels = x->label.ext != NULL;
  if (g.has_labels) {
    g.label_dtype = x->label.dtype;
    g.label_bytes = x->label.sample_bytes;
  }
  g.stage_bytes = stage_bound(a) + (g.has_labels ? stage_bound(&x->label) : 0);
  for (size_t i = 0; i < s->n_groups; i++)
    if (same_group(&s->groups[i], &g)) {
      if (g.stage_bytes > s->groups[i].stage_bytes) s->groups[i].stage_bytes = g.stage_bytes;
      *out = (uint32_t)i;
      return BFD_OK;
    }
  bfdi_src_group *ng = realloc(s->groups, (s->n_groups + 1) * sizeof *ng);
  if (!ng) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  s->groups = ng;
  s->groups[s->n_groups] = g;
  *out = (uint32_t)s->n_groups++;
  return BFD_OK;
}

static bfd_status read_classes(bfdi_src_ds *d, const bfdi_src_shard *sh, int *has) {
  bfd_shard *f;
  BFD_TRY(bfd_shard_open(sh->x->path, &f));
  bfd_shard_info info;
  bfd_status st = bfd_shard_info_get(f, &info);
  *has = st == BFD_OK && info.has_classes;
  for (uint64_t r = 0; st == BFD_OK && *has && r < sh->x->n_records; r++)
    st = bfd_shard_class_read(f, r, &d->classes[sh->first_record + r]);
  bfd_shard_close(f);
  return st;
}

static bfd_status open_files(bfdi_source *s) {
  uint32_t n = 0;
  for (size_t d = 0; d < s->n_ds; d++)
    for (size_t k = 0; k < s->ds[d].n_shards; k++) n += s->ds[d].shards[k].x->n_files;
  s->files = calloc(n ? n : 1, sizeof *s->files);
  if (!s->files) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  for (size_t d = 0; d < s->n_ds; d++)
    for (size_t k = 0; k < s->ds[d].n_shards; k++) {
      bfdi_src_shard *sh = &s->ds[d].shards[k];
      sh->file_base = s->n_files;
      for (uint32_t f = 0; f < sh->x->n_files; f++) s->files[s->n_files++] = sh->x->files[f];
    }
  return BFD_OK;
}

/* Resolves the BED intervals against the dataset's records (by the first
 * word of each record's name). */
static bfd_status resolve_regions(bfdi_source *s, bfdi_src_ds *d, const bfdk_seq_bed *bed, const char *bed_path) {
  char **names = calloc(d->n_records ? d->n_records : 1, sizeof *names);
  uint64_t *lengths = malloc((d->n_records ? d->n_records : 1) * sizeof *lengths);
  bfd_status st = names && lengths ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "out of memory for %llu record names",
                                                        (unsigned long long)d->n_records);
  for (size_t k = 0; k < d->n_shards && st == BFD_OK; k++) {
    const bfdi_src_shard *sh = &d->shards[k];
    bfd_shard *f = NULL;
    st = bfd_shard_open(sh->x->path, &f);
    for (uint64_t r = 0; st == BFD_OK && r < sh->x->n_records; r++) {
      const char *name;
      st = bfd_shard_seq_name(f, r, &name);
      if (st == BFD_OK && !(names[sh->first_record + r] = strdup(name)))
        st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
      lengths[sh->first_record + r] = sh->x->rec[r].length;
    }
    if (f) bfd_shard_close(f);
  }
  size_t unmatched = 0;
  if (st == BFD_OK)
    st = bfdk_seq_regions_resolve(bed, bed_path, (const char *const *)names, lengths, d->n_records, s->params,
                                  &d->regions, &unmatched);
  if (st == BFD_OK) {
    d->has_regions = 1;
    if (unmatched)
      bfdi_log(BFD_LOG_WARN, "%s: %zu intervals name no record of %s; they are left out", bed_path, unmatched,
               d->path);
  }
  for (uint64_t r = 0; names && r < d->n_records; r++) free(names[r]);
  free(names);
  free(lengths);
  return st;
}

/* Sample numbering of a sequence dataset: records, or windows per record. */
static bfd_status number_sequences(bfdi_source *s, bfdi_src_ds *d) {
  const bfdk_seq_params *p = s->params;
  if (p->sample_mode != BFD_SEQ_RECORD) {
    d->win_cum = malloc((d->n_records + 1) * sizeof *d->win_cum);
    if (!d->win_cum)
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory for %llu records", (unsigned long long)d->n_records);
  }
  uint64_t total = 0;
  for (size_t k = 0; k < d->n_shards; k++) {
    bfdi_src_shard *sh = &d->shards[k];
    sh->first_sample = total;
    for (uint64_t r = 0; r < sh->x->n_records; r++) {
      uint64_t len = sh->x->rec[r].length;
      if (len > s->max_record) s->max_record = len;
      if (d->win_cum) d->win_cum[sh->first_record + r] = total;
      total += d->win_cum ? windows_of(p, d, sh->first_record + r, len) : 1;
    }
    sh->n_samples = total - sh->first_sample;
    d->shard_samples[k] = sh->n_samples;
  }
  if (d->win_cum) d->win_cum[d->n_records] = total;
  d->n_samples = total;
  return BFD_OK;
}

static bfd_status open_dataset(bfdi_source *s, const bfdi_job *job, size_t di) {
  bfdi_src_ds *d = &s->ds[di];
  d->path = job->datasets[di].path;
  bfd_dataset *m;
  BFD_TRY(bfd_dataset_open(d->path, &m));
  bfd_kind kind;
  size_t n = 0;
  bfd_status st = bfd_dataset_kind(m, &kind);
  if (st == BFD_OK) st = bfd_dataset_shard_count(m, &n);
  if (st == BFD_OK && n == 0) st = bfdi_fail(BFD_ERR_FORMAT, "the manifest lists no shards; re-run biofeed pack");
  if (st == BFD_OK && di > 0 && kind != s->kind)
    st = bfdi_fail(BFD_ERR_INVALID_ARG, "it holds %s but datasets[0] holds %s; one job reads one kind",
                   kind == BFD_KIND_SEQUENCE ? "sequences" : "images",
                   s->kind == BFD_KIND_SEQUENCE ? "sequences" : "images");
  s->kind = kind;
  if (st == BFD_OK) {
    d->shards = calloc(n, sizeof *d->shards);
    d->shard_samples = calloc(n, sizeof *d->shard_samples);
    if (!d->shards || !d->shard_samples) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory for %zu shards", n);
  }
  for (size_t k = 0; k < n && st == BFD_OK; k++) {
    bfd_dataset_shard info;
    st = bfd_dataset_shard_get(m, k, &info);
    if (st == BFD_OK) st = bfdi_extents_open_shard(info.path, &d->shards[k].x);
    if (st != BFD_OK) break;
    d->n_shards = k + 1;
    bfdi_src_shard *sh = &d->shards[k];
    if (sh->x->kind != kind)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: a %s shard in a %s dataset; re-run biofeed pack", info.path,
                     sh->x->kind == BFD_KIND_SEQUENCE ? "sequence" : "image",
                     kind == BFD_KIND_SEQUENCE ? "sequence" : "image");
    sh->first_record = d->n_records;
    d->n_records += sh->x->n_records;
    if (st == BFD_OK && kind == BFD_KIND_IMAGE) {
      st = add_group(s, sh->x, &sh->group);
      sh->first_sample = sh->first_record;
      sh->n_samples = sh->x->n_records;
      d->shard_samples[k] = sh->n_samples;
    }
  }
  bfd_dataset_close(m);
  if (st != BFD_OK) return st;
  if (kind == BFD_KIND_SEQUENCE) {
    if (!job->has_sequence)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "it holds sequences; add a sequence: section to the config (at least "
                       "tokenizer: dna | rna | esm2 | hyenadna | dnabert | nt | byte | vocab)");
    if (job->seq.bed_path && job->seq.params.sample_mode != BFD_SEQ_RECORD) {
      bfdk_seq_bed bed;
      char *text = NULL;
      size_t n_text = 0;
      st = bfdi_read_text(job->seq.bed_path, "window.bed", &text, &n_text);
      if (st == BFD_OK) st = bfdk_seq_bed_parse(text, n_text, job->seq.bed_path, &bed);
      free(text);
      if (st == BFD_OK) {
        st = resolve_regions(s, d, &bed, job->seq.bed_path);
        bfdk_seq_bed_free(&bed);
      }
      BFD_TRY(st);
    }
    return number_sequences(s, d);
  }
  if (job->has_sequence)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "it holds images; the config's sequence: section (line %lu) is for sequence "
                     "datasets: use image: instead", job->line_sequence);
  d->n_samples = d->n_records;
  d->classes = malloc((d->n_records ? d->n_records : 1) * sizeof *d->classes);
  if (!d->classes) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  int all = 1;
  for (size_t k = 0; k < d->n_shards; k++) {
    int has = 0;
    BFD_TRY(read_classes(d, &d->shards[k], &has));
    all &= has;
  }
  if (!all) {
    free(d->classes);
    d->classes = NULL;
  }
  return BFD_OK;
}

bfd_status bfdi_source_open(const bfdi_job *job, bfdi_source **out) {
  *out = NULL;
  bfdi_source *s = calloc(1, sizeof *s);
  if (!s) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  s->params = &job->seq.params;
  s->ds = calloc(job->n_datasets, sizeof *s->ds);
  bfd_status st = s->ds ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  s->has_classes = 1;
  for (size_t d = 0; d < job->n_datasets && st == BFD_OK; d++) {
    s->n_ds = d + 1;
    st = open_dataset(s, job, d);
    if (st != BFD_OK) {
      st = at_line(st, job, d);
      break;
    }
    s->ds[d].base = s->total;
    s->total += s->ds[d].n_samples;
    if (s->kind == BFD_KIND_IMAGE && !s->ds[d].classes) s->has_classes = 0;
  }
  if (st == BFD_OK && s->kind == BFD_KIND_SEQUENCE) s->has_classes = 0;
  if (st == BFD_OK) st = open_files(s);
  if (st != BFD_OK) {
    bfdi_source_free(s);
    return st;
  }
  *out = s;
  return BFD_OK;
}

void bfdi_source_free(bfdi_source *s) {
  if (!s) return;
  for (size_t d = 0; d < s->n_ds; d++) {
    bfdi_src_ds *ds = &s->ds[d];
    for (size_t k = 0; k < ds->n_shards; k++) bfdi_extents_free(ds->shards[k].x);
    free(ds->shards);
    free(ds->shard_samples);
    free(ds->win_cum);
    free(ds->classes);
    if (ds->has_regions) bfdk_seq_regions_free(&ds->regions);
  }
  free(s->ds);
  free(s->files);
  free(s->groups);
  free(s);
}

/* The last index k in [0, n) with key(k) <= v (key(0) <= v holds). */
#define UPPER_BOUND(n, key, v, out)      \
  do {                                   \
    size_t lo_ = 0, hi_ = (n);           \
    while (hi_ - lo_ > 1) {              \
      size_t mid_ = lo_ + (hi_ - lo_) / 2; \
      if ((key(mid_)) <= (v))            \
        lo_ = mid_;                      \
      else                               \
        hi_ = mid_;                      \
    }                                    \
    (out) = lo_;                         \
  } while (0)

bfdk_seq_regions bfdi_source_regions(const bfdi_source *s, uint32_t d) {
  const bfdk_seq_regions none = {0};
  return s->ds[d].has_regions ? s->ds[d].regions.view : none;
}

void bfdi_source_locate(const bfdi_source *s, uint32_t d, uint64_t i, bfdi_src_loc *loc) {
  const bfdi_src_ds *ds = &s->ds[d];
  uint64_t rec = i, tile = 0;
  if (ds->win_cum) {
    size_t r;
#define WIN_KEY(k) ds->win_cum[k]
    UPPER_BOUND((size_t)ds->n_records, WIN_KEY, i, r);
#undef WIN_KEY
    rec = r;
    tile = i - ds->win_cum[r];
  }
  size_t k;
#define SHARD_KEY(j) ds->shards[j].first_record
  UPPER_BOUND(ds->n_shards, SHARD_KEY, rec, k);
#undef SHARD_KEY
  loc->shard = &ds->shards[k];
  loc->ds_record = rec;
  loc->record = rec - ds->shards[k].first_record;
  loc->tile = tile;
  loc->len = s->kind == BFD_KIND_SEQUENCE ? loc->shard->x->rec[loc->record].length : 0;
}

uint32_t bfdi_source_length(void *ctx, uint32_t d, uint64_t i) {
  const bfdi_source *s = ctx;
  const bfdk_seq_params *p = s->params;
  bfdi_src_loc loc;
  bfdi_source_locate(s, d, i, &loc);
  int64_t n = (int64_t)loc.len;
  if (p->sample_mode != BFD_SEQ_RECORD && n > p->window) n = p->window;
  int64_t tokens = p->tok == BFD_SEQ_TOK_NT ? n : bfd_seq_fixed_tokens(p, n);
  int32_t specials = (p->begin_id >= 0) + (p->end_id >= 0);
  int64_t cap = p->max_len - specials;
  if (tokens > cap) tokens = cap;
  return (uint32_t)(tokens + specials);
}
