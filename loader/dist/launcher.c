/* Rank discovery from the launcher's environment variables (launcher.h). */
#include "dist/launcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct launcher_vars {
  bfdi_launcher kind;
  const char *rank, *size, *local_rank, *local_size, *node;
} launcher_vars;

static const launcher_vars LAUNCHERS[] = {
    {BFDI_LAUNCHER_TORCHRUN, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK"},
    {BFDI_LAUNCHER_OPENMPI, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE", NULL},
    {BFDI_LAUNCHER_PMI, "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", NULL},
    {BFDI_LAUNCHER_SLURM, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", NULL, "SLURM_NODEID"},
    {BFDI_LAUNCHER_PMIX, "PMIX_RANK", NULL, NULL, NULL, NULL},
};

const char *bfdi_launcher_name(bfdi_launcher l) {
  switch (l) {
    case BFDI_LAUNCHER_NONE: return "none";
    case BFDI_LAUNCHER_EXPLICIT: return "explicit";
    case BFDI_LAUNCHER_TORCHRUN: return "torchrun";
    case BFDI_LAUNCHER_OPENMPI: return "openmpi";
    case BFDI_LAUNCHER_PMI: return "pmi";
    case BFDI_LAUNCHER_SLURM: return "slurm";
    case BFDI_LAUNCHER_PMIX: return "pmix";
  }
  return "unknown";
}

const char *bfdi_process_getenv(void *ctx, const char *name) {
  (void)ctx;
  return getenv(name);
}

void bfdi_dist_given_init(bfdi_dist_given *g) {
  g->rank = -1;
  g->world_size = -1;
  g->local_rank = -1;
  g->master_addr = NULL;
  g->master_port = 0;
  g->rdzv_port = 0;
}

static const char *lookup(bfdi_getenv_fn get, void *ctx, const char *name) {
  if (!name) return NULL;
  const char *v = get(ctx, name);
  return v && v[0] ? v : NULL;
}

/* The variable as an integer in [lo, hi]; -1 when unset or empty. */
static bfd_status env_int(bfdi_getenv_fn get, void *ctx, const char *name, long lo, long hi, long *out) {
  *out = -1;
  const char *v = lookup(get, ctx, name);
  if (!v) return BFD_OK;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "environment variable %s=\"%s\" is not an integer in %ld .. %ld: fix or unset it (the launcher "
                     "or the job script sets it)",
                     name, v, lo, hi);
  *out = x;
  return BFD_OK;
}

static const launcher_vars *find_launcher(bfdi_getenv_fn get, void *ctx) {
  for (size_t i = 0; i < sizeof LAUNCHERS / sizeof *LAUNCHERS; i++)
    if (lookup(get, ctx, LAUNCHERS[i].rank)) return &LAUNCHERS[i];
  return NULL;
}

static void set_from(char dst[BFDI_DIST_NAME_MAX], const char *what) { snprintf(dst, BFDI_DIST_NAME_MAX, "%s", what); }

static bfd_status rank_and_size(const bfdi_dist_given *g, const launcher_vars *L, bfdi_getenv_fn get, void *ctx,
                                bfdi_dist_env *out) {
  const long max_rank = (long)BFDI_DIST_MAX_WORLD - 1;
  long env_rank = -1, env_size = -1;
  /* A malformed variable matters only when no given value overrides it. */
  if (L && env_int(get, ctx, L->rank, 0, max_rank, &env_rank) != BFD_OK) {
    if (g->rank < 0) return BFD_ERR_INVALID_ARG;
    bfdi_clear_error();
  }
  if (L && env_int(get, ctx, L->size, 1, (long)BFDI_DIST_MAX_WORLD, &env_size) != BFD_OK) {
    if (g->world_size < 0) return BFD_ERR_INVALID_ARG;
    bfdi_clear_error();
  }
  if (g->world_size == 0 || g->world_size > (int)BFDI_DIST_MAX_WORLD)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "world_size %d (given in the config or API) is not in 1 .. %u",
                     g->world_size, (unsigned)BFDI_DIST_MAX_WORLD);
  if (g->rank > max_rank)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "rank %d (given in the config or API) is not in 0 .. %ld", g->rank, max_rank);

  if (g->rank >= 0) {
    out->rank = (uint32_t)g->rank;
    set_from(out->rank_from, "explicit");
  } else if (L) {
    out->rank = (uint32_t)env_rank;
    set_from(out->rank_from, L->rank);
  } else {
    out->rank = 0;
    set_from(out->rank_from, "default");
  }

  if (g->world_size > 0) {
    out->world_size = (uint32_t)g->world_size;
    set_from(out->world_from, "explicit");
  } else if (L && env_size > 0) {
    out->world_size = (uint32_t)env_size;
    set_from(out->world_from, L->size);
  } else if (L && g->rank < 0) {
    if (L->size)
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "%s=%ld is set but %s is not: the %s launcher sets both; set %s or give world_size in the "
                       "config (dist:) or the API",
                       L->rank, env_rank, L->size, bfdi_launcher_name(L->kind), L->size);
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "%s=%ld is set but no variable gives the world size: give world_size in the config (dist:) "
                     "or the API, or set WORLD_SIZE and RANK",
                     L->rank, env_rank);
  } else {
    out->world_size = 1;
    set_from(out->world_from, "default");
  }

  if (out->rank >= out->world_size)
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "rank %u (from %s) is not below the world size %u (from %s): ranks run 0 .. world_size - 1; "
                     "fix the launcher's variables or the values given in the config or API",
                     out->rank, out->rank_from, out->world_size, out->world_from);
  out->launcher = g->rank >= 0 ? BFDI_LAUNCHER_EXPLICIT : L ? L->kind : BFDI_LAUNCHER_NONE;

  /* A launcher describes this process's node only if it agrees on who this
   * process is. */
  if (L && env_rank == (long)out->rank) {
    long lr, ls, node;
    BFD_TRY(env_int(get, ctx, L->local_rank, 0, max_rank, &lr));
    BFD_TRY(env_int(get, ctx, L->local_size, 1, (long)BFDI_DIST_MAX_WORLD, &ls));
    BFD_TRY(env_int(get, ctx, L->node, 0, max_rank, &node));
    if (g->local_rank < 0 && lr >= 0 && ls > 0 && lr >= ls)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "local rank %s=%ld is not below the local size %s=%ld", L->local_rank, lr,
                       L->local_size, ls);
    if (ls > (long)out->world_size)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "local size %s=%ld exceeds the world size %u (from %s)", L->local_size,
                       ls, out->world_size, out->world_from);
    out->local_rank = (int32_t)lr;
    out->local_size = (int32_t)ls;
    out->node = (int32_t)node;
  }
  if (g->local_rank >= 0) {
    if (out->local_size > 0 && g->local_rank >= out->local_size)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "local_rank %d (given in the config or API) is not below the local size %d",
                       g->local_rank, out->local_size);
    if ((uint32_t)g->local_rank >= out->world_size)
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "local_rank %d (given in the config or API) is not below the world size %u (from %s)",
                       g->local_rank, out->world_size, out->world_from);
    out->local_rank = g->local_rank;
  }
  return BFD_OK;
}

static bfd_status port_of(int given, const char *given_what, bfdi_getenv_fn get, void *ctx, const char *var,
                          uint16_t *out) {
  if (given != 0) {
    if (given < 1 || given > 65535)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "%s %d (given in the config or API) is not a TCP port (1 .. 65535)",
                       given_what, given);
    *out = (uint16_t)given;
    return BFD_OK;
  }
  long p;
  BFD_TRY(env_int(get, ctx, var, 1, 65535, &p));
  *out = p > 0 ? (uint16_t)p : 0;
  return BFD_OK;
}

static bfd_status rendezvous_point(const bfdi_dist_given *g, bfdi_getenv_fn get, void *ctx, bfdi_dist_env *out) {
  const char *addr = g->master_addr ? g->master_addr : lookup(get, ctx, "MASTER_ADDR");
  if (addr) {
    if (strlen(addr) >= sizeof out->master_addr)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "master address \"%.40s...\" (%s) is longer than %zu bytes", addr,
                       g->master_addr ? "given in the config or API" : "MASTER_ADDR", sizeof out->master_addr - 1);
    snprintf(out->master_addr, sizeof out->master_addr, "%s", addr);
  }
  BFD_TRY(port_of(g->master_port, "master_port", get, ctx, "MASTER_PORT", &out->master_port));
  BFD_TRY(port_of(g->rdzv_port, "rdzv_port", get, ctx, "BIOFEED_RDZV_PORT", &out->rdzv_port));
  if (!out->rdzv_port && out->master_port && out->master_port < 65535)
    out->rdzv_port = (uint16_t)(out->master_port + 1);
  return BFD_OK;
}

bfd_status bfdi_dist_discover(const bfdi_dist_given *given, bfdi_getenv_fn get, void *ctx, bfdi_dist_env *out) {
  if (!get || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_dist_discover: get and out must not be NULL");
  bfdi_dist_given none;
  bfdi_dist_given_init(&none);
  const bfdi_dist_given *g = given ? given : &none;
  memset(out, 0, sizeof *out);
  out->local_rank = out->local_size = out->node = -1;
  BFD_TRY(rank_and_size(g, find_launcher(get, ctx), get, ctx, out));
  return rendezvous_point(g, get, ctx, out);
}
