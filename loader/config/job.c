/* Parses the job config: the top-level schema, with the `sequence:` mapping
 * handed to bfd_seq_config_parse and `image.ops` to bfd_img_config_parse.
 * Defaults are those of configs/README.md. */
#include "config/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/readfile.h"
#include "config/yval.h"
#include "ops/img_config.h"
#include "plan/sampler.h"

#define MAX_PREFETCH 64
#define MAX_THREADS 256

static char *join_dir(const char *dir, const char *rel) {
  if (rel[0] == '/' || !dir || !dir[0]) return strdup(rel);
  size_t dl = strlen(dir);
  char *p = malloc(dl + strlen(rel) + 2);
  if (!p) return NULL;
  memcpy(p, dir, dl);
  size_t at = dl;
  if (dir[dl - 1] != '/') p[at++] = '/';
  strcpy(p + at, rel);
  return p;
}

/* The folder of the config (everything before its last '/'). */
static char *dir_of(const char *file) {
  const char *slash = strrchr(file, '/');
  if (!slash) return strdup("");
  size_t n = (size_t)(slash - file);
  char *d = malloc(n + 2);
  if (!d) return NULL;
  memcpy(d, file, n);
  d[n] = 0;
  if (n == 0) strcpy(d, "/");
  return d;
}

static bfd_status nomem(const bfdi_yctx *c) { return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", c->file); }

static bfd_status get_u32(const bfdi_yctx *c, const yaml_node_t *n, const char *key, uint64_t lo, uint64_t hi,
                          uint32_t *out) {
  uint64_t x;
  BFD_TRY(bfdi_yuint(c, n, key, lo, hi, &x));
  *out = (uint32_t)x;
  return BFD_OK;
}

static bfd_status parse_dataset(const bfdi_yctx *c, const char *dir, yaml_node_t *n, size_t i, bfdi_job_dataset *d) {
  char key[64];
  d->weight = 1.0;
  d->line = bfdi_yline(n);
  const char *path = NULL;
  if (n->type == YAML_SCALAR_NODE) {
    path = (const char *)n->data.scalar.value;
  } else {
    snprintf(key, sizeof key, "datasets[%zu]", i);
    bfdi_ykv *e;
    size_t m;
    BFD_TRY(bfdi_ymap(c, n, key, &e, &m));
    bfd_status st = BFD_OK;
    for (size_t k = 0; k < m && st == BFD_OK; k++) {
      if (!strcmp(e[k].key, "path")) {
        snprintf(key, sizeof key, "datasets[%zu].path", i);
        st = bfdi_ystr(c, e[k].value, key, &path);
      } else if (!strcmp(e[k].key, "weight")) {
        snprintf(key, sizeof key, "datasets[%zu].weight", i);
        st = bfdi_yreal(c, e[k].value, key, 1e-9, 1e9, &d->weight);
      } else {
        snprintf(key, sizeof key, "datasets[%zu]", i);
        st = bfdi_yunknown(c, &e[k], key, "path, weight");
      }
    }
    free(e);
    BFD_TRY(st);
  }
  if (!path || !path[0])
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: datasets[%zu]: path is missing (a directory written by biofeed pack)",
                     c->file, d->line, i);
  d->path = join_dir(dir, path);
  return d->path ? BFD_OK : nomem(c);
}

static bfd_status parse_datasets(const bfdi_yctx *c, const char *dir, yaml_node_t *n, bfdi_job *job) {
  if (n->type != YAML_SEQUENCE_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: datasets must be a list ('- path: DIR' lines)", c->file, bfdi_yline(n));
  size_t m = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (m == 0) return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: datasets is empty; list at least one", c->file, bfdi_yline(n));
  job->datasets = calloc(m, sizeof *job->datasets);
  if (!job->datasets) return nomem(c);
  for (size_t i = 0; i < m; i++) {
    yaml_node_t *item = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
    job->n_datasets = i + 1;
    BFD_TRY(parse_dataset(c, dir, item, i, &job->datasets[i]));
  }
  return BFD_OK;
}

static bfd_status parse_sampling(const bfdi_yctx *c, yaml_node_t *n, bfdi_job *job) {
  static const char *const orders[] = {"global", "shards", "none"};
  static const char *const batchings[] = {"fixed", "bucket", "tokens"};
  bfdi_ykv *e;
  size_t m;
  BFD_TRY(bfdi_ymap(c, n, "sampling", &e, &m));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    const char *k = e[i].key;
    yaml_node_t *v = e[i].value;
    int x;
    if (!strcmp(k, "order")) {
      st = bfdi_ychoice(c, v, "sampling.order", orders, 3, &x);
      job->order = (bfdi_order_kind)x;
    } else if (!strcmp(k, "shard_window")) {
      st = get_u32(c, v, "sampling.shard_window", 1, UINT32_MAX, &job->shard_window);
    } else if (!strcmp(k, "drop_last")) {
      st = bfdi_ybool(c, v, "sampling.drop_last", &job->drop_last);
    } else if (!strcmp(k, "batching")) {
      st = bfdi_ychoice(c, v, "sampling.batching", batchings, 3, &job->batching);
      job->line_batching = bfdi_yline(v);
    } else if (!strcmp(k, "bucket_window")) {
      st = get_u32(c, v, "sampling.bucket_window", 1, BFDI_SAMPLER_MAX_WINDOW, &job->bucket_window);
    } else if (!strcmp(k, "max_tokens")) {
      st = bfdi_yuint(c, v, "sampling.max_tokens", 0, (uint64_t)1 << 40, &job->max_tokens);
    } else {
      st = bfdi_yunknown(c, &e[i], "sampling", "order, shard_window, drop_last, batching, bucket_window, max_tokens");
    }
  }
  free(e);
  return st;
}

static bfd_status parse_output(const bfdi_yctx *c, yaml_node_t *n, bfdi_job *job) {
  static const char *const dtypes[] = {"float32", "float16", "bfloat16"};
  static const char *const layouts[] = {"channels_first", "channels_last"};
  static const char *const labels[] = {"int64", "int32", "uint8"};
  static const bfd_dtype label_dtypes[] = {BFD_DTYPE_INT64, BFD_DTYPE_INT32, BFD_DTYPE_UINT8};
  bfdi_ykv *e;
  size_t m;
  BFD_TRY(bfdi_ymap(c, n, "image.output", &e, &m));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    int x = 0;
    if (!strcmp(e[i].key, "dtype")) {
      st = bfdi_ychoice(c, e[i].value, "image.output.dtype", dtypes, 3, &x);
      job->out_dtype = (bfdk_fdtype)(BFDK_F32 + x);
    } else if (!strcmp(e[i].key, "layout")) {
      st = bfdi_ychoice(c, e[i].value, "image.output.layout", layouts, 2, &x);
      job->layout = (bfdi_layout)x;
    } else if (!strcmp(e[i].key, "label_dtype")) {
      st = bfdi_ychoice(c, e[i].value, "image.output.label_dtype", labels, 3, &x);
      job->label_dtype = label_dtypes[x];
    } else {
      st = bfdi_yunknown(c, &e[i], "image.output", "dtype, layout, label_dtype");
    }
  }
  free(e);
  return st;
}

static bfd_status parse_image(const bfdi_yctx *c, yaml_node_t *n, bfdi_job *job) {
  bfdi_ykv *e;
  size_t m;
  BFD_TRY(bfdi_ymap(c, n, "image", &e, &m));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    if (!strcmp(e[i].key, "ops"))
      st = bfd_img_config_parse(c->doc, e[i].value, c->file, &job->img);
    else if (!strcmp(e[i].key, "output"))
      st = parse_output(c, e[i].value, job);
    else
      st = bfdi_yunknown(c, &e[i], "image", "ops, output");
  }
  free(e);
  return st;
}

static bfd_status parse_io(const bfdi_yctx *c, yaml_node_t *n, bfdi_job *job) {
  static const char *const engines[] = {"auto", "uring", "pread"};
  bfdi_ykv *e;
  size_t m;
  BFD_TRY(bfdi_ymap(c, n, "io", &e, &m));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    const char *k = e[i].key;
    yaml_node_t *v = e[i].value;
    int x;
    if (!strcmp(k, "engine")) {
      st = bfdi_ychoice(c, v, "io.engine", engines, 3, &x);
      job->engine = x == 0 ? BFDI_IO_AUTO : (x == 1 ? BFDI_IO_URING : BFDI_IO_PREAD);
    } else if (!strcmp(k, "queue_depth")) {
      st = get_u32(c, v, "io.queue_depth", 1, 4096, &job->queue_depth);
    } else if (!strcmp(k, "direct")) {
      st = bfdi_ybool(c, v, "io.direct", &job->direct);
    } else if (!strcmp(k, "cache")) {
      st = bfdi_ybool(c, v, "io.cache", &job->cache);
      job->line_cache = bfdi_yline(v);
    } else if (!strcmp(k, "readers")) {
      st = get_u32(c, v, "io.readers", 1, 64, &job->readers);
    } else if (!strcmp(k, "workers")) {
      st = get_u32(c, v, "io.workers", 1, MAX_THREADS, &job->workers);
    } else {
      st = bfdi_yunknown(c, &e[i], "io", "engine, queue_depth, direct, cache, readers, workers");
    }
  }
  free(e);
  return st;
}

/* A path value (dist:, security:), resolved against the config's folder. */
static bfd_status dist_path(const bfdi_yctx *c, const char *dir, yaml_node_t *v, const char *key, char **out) {
  const char *s;
  BFD_TRY(bfdi_ystr(c, v, key, &s));
  if (!s[0]) return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s is empty: give a path", c->file, bfdi_yline(v), key);
  free(*out);
  *out = join_dir(dir, s);
  return *out ? BFD_OK : nomem(c);
}

/* Keys that only one mode reads are errors under the others, so a config
 * never carries a setting that silently does nothing. Whether the world
 * divides into groups is checked when the world size is known (the loader). */
static bfd_status dist_check(const bfdi_yctx *c, bfdi_job *job, const yaml_node_t *rank_node) {
  if (job->rank >= 0 && job->world_size > 0 && job->rank >= job->world_size)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: dist.rank: %d is not below dist.world_size %d (ranks are 0..%d)", c->file,
                     bfdi_yline(rank_node), job->rank, job->world_size, job->world_size - 1);
  if (job->line_group && job->dist_mode != BFDI_DIST_BROADCAST)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: dist.group_size: groups of ranks sharing batches are read by mode: "
                     "broadcast only; set mode: broadcast or remove group_size", c->file, job->line_group);
  if (job->line_owners && job->dist_mode != BFDI_DIST_EXCHANGE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: dist.owners: an owner map is read by mode: exchange only; set mode: "
                     "exchange or remove owners", c->file, job->line_owners);
  if (job->line_stage && job->dist_mode != BFDI_DIST_EXCHANGE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: dist.stage_dir: staged data is read by mode: exchange only; set mode: "
                     "exchange or remove stage_dir", c->file, job->line_stage);
  if (job->world_size > 0 && job->group_size > 1 && (uint32_t)job->world_size % job->group_size)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: dist.group_size: %u does not divide dist.world_size %d: every broadcast "
                     "group needs group_size ranks", c->file, job->line_group, job->group_size, job->world_size);
  return BFD_OK;
}

static bfd_status parse_dist(const bfdi_yctx *c, const char *dir, yaml_node_t *n, bfdi_job *job) {
  static const char *const modes[] = {"shard", "broadcast", "exchange"};
  static const char *const backends[] = {"auto", "local", "mpi", "nccl"};
  bfdi_ykv *e;
  size_t m;
  BFD_TRY(bfdi_ymap(c, n, "dist", &e, &m));
  bfd_status st = BFD_OK;
  const yaml_node_t *rank_node = NULL;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    const char *k = e[i].key;
    yaml_node_t *v = e[i].value;
    uint64_t x;
    int choice = 0;
    if (!strcmp(k, "rank")) {
      st = bfdi_yuint(c, v, "dist.rank", 0, BFDI_SAMPLER_MAX_WORLD - 1, &x);
      job->rank = (int)x;
      rank_node = v;
    } else if (!strcmp(k, "world_size")) {
      st = bfdi_yuint(c, v, "dist.world_size", 1, BFDI_SAMPLER_MAX_WORLD, &x);
      job->world_size = (int)x;
    } else if (!strcmp(k, "mode")) {
      st = bfdi_ychoice(c, v, "dist.mode", modes, (int)(sizeof modes / sizeof *modes), &choice);
      job->dist_mode = (bfdi_dist_mode)choice;
    } else if (!strcmp(k, "group_size")) {
      st = get_u32(c, v, "dist.group_size", 1, BFDI_SAMPLER_MAX_WORLD, &job->group_size);
      job->line_group = bfdi_yline(v);
    } else if (!strcmp(k, "backend")) {
      st = bfdi_ychoice(c, v, "dist.backend", backends, 4, &choice);
      job->backend = (bfdi_dist_backend)choice;
    } else if (!strcmp(k, "timeout")) {
      st = bfdi_yreal(c, v, "dist.timeout", 0.001, 1e7, &job->timeout_s);
    } else if (!strcmp(k, "owners")) {
      st = dist_path(c, dir, v, "dist.owners", &job->owners);
      job->line_owners = bfdi_yline(v);
    } else if (!strcmp(k, "stage_dir")) {
      st = dist_path(c, dir, v, "dist.stage_dir", &job->stage_dir);
      job->line_stage = bfdi_yline(v);
    } else {
      st = bfdi_yunknown(c, &e[i], "dist", "rank, world_size, mode, group_size, backend, timeout, owners, stage_dir");
    }
  }
  free(e);
  BFD_TRY(st);
  return dist_check(c, job, rank_node);
}

/* security: where the key of restricted shards and the audit log are. */
static bfd_status parse_security(const bfdi_yctx *c, const char *dir, yaml_node_t *n, bfdi_job *job) {
  bfdi_ykv *e;
  size_t m;
  BFD_TRY(bfdi_ymap(c, n, "security", &e, &m));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    const char *k = e[i].key;
    yaml_node_t *v = e[i].value;
    if (!strcmp(k, "key_file")) {
      st = dist_path(c, dir, v, "security.key_file", &job->key_file);
      job->line_key_file = bfdi_yline(v);
    } else if (!strcmp(k, "audit_log")) {
      st = dist_path(c, dir, v, "security.audit_log", &job->audit_log);
      job->line_audit_log = bfdi_yline(v);
    } else if (!strcmp(k, "job_id")) {
      const char *s;
      st = bfdi_ystr(c, v, "security.job_id", &s);
      if (st == BFD_OK) {
        free(job->job_id);
        job->job_id = strdup(s);
        if (!job->job_id) st = nomem(c);
      }
    } else {
      st = bfdi_yunknown(c, &e[i], "security", "key_file, audit_log, job_id");
    }
  }
  free(e);
  return st;
}

static bfd_status parse_root(const bfdi_yctx *c, const char *dir, yaml_node_t *root, bfdi_job *job) {
  static const char *const devices[] = {"auto", "cpu", "cuda"};
  static const char *const corrupt[] = {"error", "skip"};
  bfdi_ykv *e;
  size_t m;
  BFD_TRY(bfdi_ymap(c, root, "the job config", &e, &m));
  bfd_status st = BFD_OK;
  int have_datasets = 0;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    const char *k = e[i].key;
    yaml_node_t *v = e[i].value;
    int x;
    if (!strcmp(k, "seed")) {
      st = bfdi_yuint(c, v, "seed", 0, UINT64_MAX, &job->seed);
    } else if (!strcmp(k, "datasets")) {
      st = parse_datasets(c, dir, v, job);
      have_datasets = 1;
    } else if (!strcmp(k, "batch_size")) {
      st = get_u32(c, v, "batch_size", 1, BFDI_SAMPLER_MAX_WINDOW, &job->batch_size);
    } else if (!strcmp(k, "sampling")) {
      st = parse_sampling(c, v, job);
    } else if (!strcmp(k, "sequence")) {
      st = bfd_seq_config_parse(c->doc, v, c->file, &job->seq);
      job->has_sequence = st == BFD_OK;
      job->line_sequence = bfdi_yline(e[i].knode);
    } else if (!strcmp(k, "image")) {
      st = parse_image(c, v, job);
      job->has_image = 1;
      job->line_image = bfdi_yline(e[i].knode);
    } else if (!strcmp(k, "device")) {
      st = bfdi_ychoice(c, v, "device", devices, 3, &x);
      job->device = (bfdi_device)x;
      job->line_device = bfdi_yline(v);
    } else if (!strcmp(k, "prefetch")) {
      st = get_u32(c, v, "prefetch", 1, MAX_PREFETCH, &job->prefetch);
    } else if (!strcmp(k, "memory_limit")) {
      st = bfdi_ysize(c, v, "memory_limit", (uint64_t)1 << 20, (uint64_t)1 << 50, &job->memory_limit);
    } else if (!strcmp(k, "io")) {
      st = parse_io(c, v, job);
    } else if (!strcmp(k, "dist")) {
      st = parse_dist(c, dir, v, job);
    } else if (!strcmp(k, "on_corrupt")) {
      st = bfdi_ychoice(c, v, "on_corrupt", corrupt, 2, &x);
      job->on_corrupt = (bfdi_on_corrupt)x;
      job->line_on_corrupt = bfdi_yline(v);
    } else if (!strcmp(k, "security")) {
      st = parse_security(c, dir, v, job);
    } else {
      st = bfdi_yunknown(c, &e[i], "the job config",
                         "seed, datasets, batch_size, sampling, sequence, image, device, prefetch, memory_limit, io, "
                         "dist, on_corrupt, security");
    }
  }
  free(e);
  if (st == BFD_OK && !have_datasets)
    st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: datasets is missing: list the packed dataset directories to read "
                   "(datasets: [{path: DIR}])", c->file, bfdi_yline(root));
  if (st == BFD_OK && job->batching == BFDI_BATCH_TOKENS) {
    if (job->max_tokens == 0)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: sampling.batching: tokens needs sampling.max_tokens (padded tokens per "
                     "batch), e.g. 65536", c->file, job->line_batching);
    else if (job->has_sequence && !job->seq.params.pad_longest)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: sampling.batching: tokens needs sequence.padding: longest (with "
                     "padding: max_len every row is max_len long; use batching: fixed)", c->file, job->line_batching);
  }
  if (st == BFD_OK && job->on_corrupt == BFDI_CORRUPT_SKIP && job->has_sequence &&
      job->seq.params.sample_mode != BFD_SEQ_RECORD)
    st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: on_corrupt: skip replaces whole records, but sequence.window cuts windows "
                   "(a window is checked only when it covers its whole record); use on_corrupt: error with windows",
                   c->file, job->line_on_corrupt);
  return st;
}

/* Decode and CPU-ops threads when io.workers is not given: every CPU but
 * one, which the reader and the other stages need (idle OpenMP threads spin
 * for a while, and a team larger than the free cores stalls on them). */
static uint32_t auto_workers(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN) - 1;
  return n < 1 ? 1 : (n > 8 ? 8 : (uint32_t)n);
}

static void defaults(bfdi_job *job) {
  memset(job, 0, sizeof *job);
  job->batch_size = 32;
  job->order = BFDI_ORDER_GLOBAL;
  job->shard_window = 8;
  job->drop_last = 1;
  job->batching = BFDI_BATCH_FIXED;
  job->bucket_window = 64;
  bfdk_img_spec_init(&job->img);
  job->out_dtype = BFDK_F32;
  job->layout = BFDI_CHANNELS_FIRST;
  job->label_dtype = BFD_DTYPE_INT64;
  job->device = BFDI_DEVICE_AUTO;
  job->prefetch = 4;
  job->memory_limit = (uint64_t)1 << 30;
  job->engine = BFDI_IO_AUTO;
  job->queue_depth = 64;
  job->readers = 1;
  job->workers = auto_workers();
  job->rank = -1;
  job->world_size = -1;
  job->dist_mode = BFDI_DIST_SHARD;
  job->group_size = 1;
  job->backend = BFDI_BACKEND_AUTO;
  job->timeout_s = 300.0;
}

static bfd_status parse(const char *text, size_t n, const char *file, const char *dir, bfdi_job *job) {
  defaults(job);
  job->file = strdup(file);
  if (!job->file) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  yaml_document_t doc;
  BFD_TRY(bfdi_yload(text, n, file, &doc));
  bfdi_yctx c = {&doc, job->file};
  bfd_status st = parse_root(&c, dir, yaml_document_get_root_node(&doc), job);
  yaml_document_delete(&doc);
  return st;
}

bfd_status bfdi_job_parse(const char *text, size_t n, const char *base_dir, bfdi_job *job) {
  if (!text || !job) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_job_parse: NULL argument");
  const char *dir = base_dir && base_dir[0] ? base_dir : ".";
  char *file = join_dir(dir, "<config string>");
  if (!file) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  bfd_status st = parse(text, n, file, dir, job);
  free(file);
  if (st != BFD_OK) bfdi_job_free(job);
  return st;
}

bfd_status bfdi_job_load(const char *path, bfdi_job *job) {
  if (!path || !job) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_job_load: NULL argument");
  memset(job, 0, sizeof *job);
  char *text;
  size_t n;
  BFD_TRY(bfdi_read_text(path, "the job config", &text, &n));
  char *dir = dir_of(path);
  bfd_status st = dir ? parse(text, n, path, dir, job) : bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  free(dir);
  if (st != BFD_OK) bfdi_job_free(job);
  free(text);
  return st;
}

void bfdi_job_free(bfdi_job *job) {
  if (!job) return;
  for (size_t i = 0; i < job->n_datasets; i++) free(job->datasets[i].path);
  free(job->datasets);
  if (job->has_sequence) bfd_seq_config_free(&job->seq);
  free(job->file);
  free(job->owners);
  free(job->stage_dir);
  free(job->key_file);
  free(job->audit_log);
  free(job->job_id);
  memset(job, 0, sizeof *job);
}
