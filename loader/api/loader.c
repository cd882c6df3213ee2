/* The loader's C API (include/biofeed/loader.h) over the pipeline: opening
 * from a config file or string, the rank layout (options, then the config's
 * dist:, then the launcher's environment), and the consumer calls. */
#include <stdlib.h>
#include <string.h>

#include "biofeed/loader.h"
#include "config/job.h"
#include "dist/launcher.h"
#include "pipeline/pipe.h"

struct bfd_loader {
  bfdi_pipe *p;
};

bfd_status bfd_loader_options_init(bfd_loader_options *o) {
  if (!o) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_options_init: o is NULL");
  o->rank = -1;
  o->world_size = -1;
  return BFD_OK;
}

/* The rank layout: options first, then the config's dist:, then the
 * launcher's environment (dist/launcher.h). */
static bfd_status layout(const bfdi_job *job, const bfd_loader_options *opt, bfdi_dist_env *env) {
  bfdi_dist_given g;
  bfdi_dist_given_init(&g);
  g.rank = opt && opt->rank >= 0 ? opt->rank : job->rank;
  g.world_size = opt && opt->world_size >= 0 ? opt->world_size : job->world_size;
  bfd_status st = bfdi_dist_discover(&g, bfdi_process_getenv, NULL, env);
  if (st != BFD_OK)
    return bfdi_wrap(st, "%s: cannot tell this process's rank (set it in bfd_loader_options, dist: or the "
                     "launcher's environment)", job->file);
  return BFD_OK;
}

static bfd_status open_job(bfdi_job *job, const bfd_loader_options *opt, bfd_loader **out) {
  bfdi_dist_env env;
  bfd_status st = layout(job, opt, &env);
  if (st != BFD_OK) {
    bfdi_job_free(job);
    return st;
  }
  bfd_loader *l = calloc(1, sizeof *l);
  if (!l) {
    bfdi_job_free(job);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  st = bfdi_pipe_create_env(job, &env, &l->p);
  if (st != BFD_OK) {
    free(l);
    return st;
  }
  *out = l;
  return BFD_OK;
}

bfd_status bfd_loader_open(const char *config_path, const bfd_loader_options *opt, bfd_loader **out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_open: out is NULL");
  *out = NULL;
  if (!config_path) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_open: config_path is NULL");
  bfdi_job job;
  BFD_TRY(bfdi_job_load(config_path, &job));
  return open_job(&job, opt, out);
}

bfd_status bfd_loader_open_string(const char *yaml, const char *base_dir, const bfd_loader_options *opt,
                                  bfd_loader **out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_open_string: out is NULL");
  *out = NULL;
  if (!yaml) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_open_string: yaml is NULL");
  bfdi_job job;
  BFD_TRY(bfdi_job_parse(yaml, strlen(yaml), base_dir, &job));
  return open_job(&job, opt, out);
}

bfd_status bfd_loader_close(bfd_loader *l) {
  if (!l) return BFD_OK;
  bfdi_pipe_close(l->p);
  free(l);
  return BFD_OK;
}

bfd_status bfd_loader_restricted(const bfd_loader *l, const char **shard) {
  if (!l || !shard) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_restricted: NULL argument");
  *shard = bfdi_pipe_restricted(l->p);
  return BFD_OK;
}

bfd_status bfd_loader_steps_per_epoch(const bfd_loader *l, uint64_t *steps) {
  if (!l || !steps) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_steps_per_epoch: NULL argument");
  return bfdi_pipe_steps(l->p, steps);
}

bfd_status bfd_loader_next(bfd_loader *l, bfd_batch **out) {
  if (!l || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_next: NULL argument");
  return bfdi_pipe_next(l->p, out);
}

bfd_status bfd_loader_position(const bfd_loader *l, uint32_t *epoch, uint64_t *step) {
  if (!l) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_position: l is NULL");
  bfdi_pipe_position(l->p, epoch, step);
  return BFD_OK;
}

bfd_status bfd_loader_state_save(const bfd_loader *l, void *buf, size_t cap, size_t *len) {
  if (!l) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_state_save: l is NULL");
  return bfdi_pipe_state_save(l->p, buf, cap, len);
}

bfd_status bfd_loader_state_load(bfd_loader *l, const void *buf, size_t len) {
  if (!l) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_state_load: l is NULL");
  return bfdi_pipe_state_load(l->p, buf, len);
}

bfd_status bfd_loader_stats(const bfd_loader *l, bfd_stage_stats *stats, size_t cap, size_t *n) {
  if (!l || (!stats && cap)) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_stats: NULL argument");
  size_t k = bfdi_pipe_stats(l->p, stats, cap);
  if (n) *n = k;
  return BFD_OK;
}

bfd_status bfd_loader_faults(const bfd_loader *l, bfd_fault_stats *f) {
  if (!l || !f) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_faults: NULL argument");
  bfdi_pipe_faults(l->p, f);
  return BFD_OK;
}
