/* Restricted data in the loader (docs/SECURITY.md): the job's key handed to
 * every restricted shard's extent table, the audit log's lines (one per
 * shard at open, one per shard with its records read at close), and the
 * record counts behind them. The key comes from security.key_file or
 * BIOFEED_KEY_FILE, the audit log from security.audit_log or
 * BIOFEED_AUDIT_LOG, the job id from security.job_id, BIOFEED_JOB_ID or
 * SLURM_JOB_ID. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "pipeline/pipe_impl.h"

struct bfdi_security {
  bfdi_key *key;
  bfdi_audit *audit;
  const char *job_id;  /* the config's or the environment's */
  uint64_t *reads;     /* records read, per global file id of a shard (bfdi_src_shard.file_base) */
};

/* A non-empty environment variable, or NULL. */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? v : NULL;
}

/* Loops over every shard of the job as sh. */
#define EACH_SHARD(p, sh)                                        \
  for (size_t d_ = 0; d_ < (p)->src->n_ds; d_++)                 \
    for (bfdi_src_shard *sh = (p)->src->ds[d_].shards;           \
         sh < (p)->src->ds[d_].shards + (p)->src->ds[d_].n_shards; sh++)

/* A security: path from the config, else from the environment variable
 * var (NULL: neither); origin says which, for messages. */
static const char *config_or_env(const bfdi_job *j, const char *path, const char *key, unsigned long line,
                                 const char *var, char origin[1024]) {
  if (path) {
    snprintf(origin, 1024, "%s (%s:%lu)", key, j->file, line);
    return path;
  }
  snprintf(origin, 1024, "%s", var);
  return env(var);
}

static bfd_status load_key(bfdi_pipe *p, const bfdi_extents *first) {
  const bfdi_job *j = &p->job;
  char origin[1024];
  const char *path = config_or_env(j, j->key_file, "security.key_file", j->line_key_file, "BIOFEED_KEY_FILE", origin);
  if (!path)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: restricted shard (encrypted with key id %s) and no key: give the key "
                     "file as security.key_file in %s or in the environment as BIOFEED_KEY_FILE", first->path,
                     first->key_id, j->file);
  return bfdi_key_load(path, origin, &p->sec->key);
}

static bfd_status open_audit(bfdi_pipe *p) {
  const bfdi_job *j = &p->job;
  char origin[1024];
  const char *path =
      config_or_env(j, j->audit_log, "security.audit_log", j->line_audit_log, "BIOFEED_AUDIT_LOG", origin);
  if (!path) return BFD_OK;
  BFD_TRY(bfdi_audit_open(path, origin, &p->sec->audit));
  p->sec->reads = calloc(p->src->n_files ? p->src->n_files : 1, sizeof *p->sec->reads);
  if (!p->sec->reads) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  EACH_SHARD(p, sh) {
    const bfdi_extents *x = sh->x;
    bfdi_audit_event e = {"open", p->sec->job_id, (int)p->rank, x->path, x->restricted,
                          x->restricted ? x->key_id : NULL, -1};
    BFD_TRY(bfdi_audit_write(p->sec->audit, &e));
  }
  return BFD_OK;
}

bfd_status bfdi_security_open(bfdi_pipe *p) {
  p->sec = calloc(1, sizeof *p->sec);
  if (!p->sec) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  p->sec->job_id = p->job.job_id ? p->job.job_id : env("BIOFEED_JOB_ID") ? env("BIOFEED_JOB_ID") : env("SLURM_JOB_ID");
  const bfdi_extents *first = NULL;
  EACH_SHARD(p, sh) {
    if (sh->x->restricted && !first) first = sh->x;
  }
  p->secure = first != NULL;
  if (first) {
    /* those modes move decrypted records or batches over the interconnect */
    if (p->job.dist_mode != BFDI_DIST_SHARD)
      return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dist.mode: %s would send decrypted records between ranks, and %s is "
                       "restricted: use dist.mode: shard for restricted data (each rank decrypts only what it "
                       "consumes)", p->job.file, p->job.dist_mode == BFDI_DIST_BROADCAST ? "broadcast" : "exchange",
                       first->path);
    BFD_TRY(load_key(p, first));
    EACH_SHARD(p, sh) {
      if (sh->x->restricted) sh->x->key = p->sec->key;
    }
    bfdi_log(BFD_LOG_INFO, "%s: restricted shards read with key id %s; decrypted bytes stay in locked memory",
             p->job.file, p->sec->key->id);
  }
  return open_audit(p);
}

const char *bfdi_pipe_restricted(const bfdi_pipe *p) {
  EACH_SHARD(p, sh) {
    if (sh->x->restricted) return sh->x->path;
  }
  return NULL;
}

void bfdi_security_count(bfdi_pipe *p, const bfdi_slot *s) {
  if (!p->sec || !p->sec->reads) return;
  for (uint32_t b = 0; b < s->n; b++) {
    const bfdi_rd *rd = &s->rd[s->first_rd[b]];
    __atomic_fetch_add(&p->sec->reads[rd->shard->file_base], 1, __ATOMIC_RELAXED);
  }
}

void bfdi_security_close(bfdi_pipe *p) {
  struct bfdi_security *z = p->sec;
  if (!z) return;
  if (z->audit && p->src) {
    EACH_SHARD(p, sh) {
      const bfdi_extents *x = sh->x;
      bfdi_audit_event e = {"close", z->job_id, (int)p->rank, x->path, x->restricted,
                            x->restricted ? x->key_id : NULL,
                            (int64_t)__atomic_load_n(&z->reads[sh->file_base], __ATOMIC_RELAXED)};
      if (bfdi_audit_write(z->audit, &e) != BFD_OK)
        bfdi_log(BFD_LOG_ERROR, "audit log: %s", bfd_last_error());
    }
  }
  bfdi_audit_close(z->audit);
  bfdi_key_free(z->key);
  free(z->reads);
  free(z);
  p->sec = NULL;
}
