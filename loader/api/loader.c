/* The loader's C API (include/biofeed/loader.h) over the pipeline: opening
 * from a config file or string, the rank layout (options, then the config's
 * dist:, then the launcher's environment), and the consumer calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "biofeed/loader.h"
#include "config/job.h"
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

/* The first of the variables that is set: torchrun, then MPI launchers, then
 * Slurm. -1 when none is; an unparsable value is an error. */
static bfd_status from_env(const char *const *names, int *out) {
  *out = -1;
  for (const char *const *n = names; *n; n++) {
    const char *v = getenv(*n);
    if (!v || !v[0]) continue;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < 0 || x > (long)INT32_MAX)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "environment variable %s=%s is not a rank or world size", *n, v);
    *out = (int)x;
    return BFD_OK;
  }
  return BFD_OK;
}

static bfd_status layout(const bfdi_job *job, const bfd_loader_options *opt, uint32_t *rank, uint32_t *world) {
  static const char *const RANKS[] = {"RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", NULL};
  static const char *const WORLDS[] = {"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", NULL};
  int r = opt ? opt->rank : -1, w = opt ? opt->world_size : -1;
  if (r < 0) r = job->rank;
  if (w < 0) w = job->world_size;
  if (r < 0) BFD_TRY(from_env(RANKS, &r));
  if (w < 0) BFD_TRY(from_env(WORLDS, &w));
  if (r < 0) r = 0;
  if (w < 0) w = 1;
  if (w < 1 || r >= w)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: rank %d of a world of %d: ranks run 0 .. world_size - 1 (set them in "
                     "bfd_loader_options, dist: or the launcher's environment)", job->file, r, w);
  *rank = (uint32_t)r;
  *world = (uint32_t)w;
  return BFD_OK;
}

static bfd_status open_job(bfdi_job *job, const bfd_loader_options *opt, bfd_loader **out) {
  uint32_t rank = 0, world = 1;
  bfd_status st = layout(job, opt, &rank, &world);
  if (st != BFD_OK) {
    bfdi_job_free(job);
    return st;
  }
  bfd_loader *l = calloc(1, sizeof *l);
  if (!l) {
    bfdi_job_free(job);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  st = bfdi_pipe_create(job, rank, world, &l->p);
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
