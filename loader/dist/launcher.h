/* Rank discovery: which rank this process is, of how many, and where rank 0
 * listens, from whatever launched the job. A pure function of the values
 * given by the config or API and of an environment read through a callback,
 * so tests feed it fake environments.
 *
 * Launchers, in the order they are tried (the first whose rank variable is
 * set supplies rank, world size, local rank and size, and node; fields are
 * never mixed across launchers, because mpirun inside an sbatch script
 * inherits the batch step's SLURM_PROCID=0):
 *   torchrun-style  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK
 *   Open MPI        OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE
 *   PMI (MPICH,     PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS
 *        Intel MPI)
 *   Slurm (srun)    SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODEID
 *   PMIx            PMIX_RANK (no size variable: give world_size)
 * Values given explicitly win field by field. MASTER_ADDR and MASTER_PORT
 * are read whatever the launcher. The TCP rendezvous port (rdzv.h) is
 * BIOFEED_RDZV_PORT, else MASTER_PORT + 1: under torchrun MASTER_PORT itself
 * is held by torch.distributed's store. */
#ifndef BFD_DIST_LAUNCHER_H
#define BFD_DIST_LAUNCHER_H

#include <stdint.h>

#include "core/error.h"
#include "plan/sampler.h"

/* The most ranks the sampler plans for; beyond it a variable is garbage. */
#define BFDI_DIST_MAX_WORLD BFDI_SAMPLER_MAX_WORLD
#define BFDI_DIST_ADDR_MAX 256
#define BFDI_DIST_NAME_MAX 48

typedef enum bfdi_launcher {
  BFDI_LAUNCHER_NONE = 0, /* nothing set: a single rank */
  BFDI_LAUNCHER_EXPLICIT, /* the rank came from the config or API */
  BFDI_LAUNCHER_TORCHRUN,
  BFDI_LAUNCHER_OPENMPI,
  BFDI_LAUNCHER_PMI,
  BFDI_LAUNCHER_SLURM,
  BFDI_LAUNCHER_PMIX
} bfdi_launcher;

/* "none", "explicit", "torchrun", "openmpi", "pmi", "slurm", "pmix". */
const char *bfdi_launcher_name(bfdi_launcher l);

/* getenv(3) behind a context: NULL when name is unset. */
typedef const char *(*bfdi_getenv_fn)(void *ctx, const char *name);
/* The process environment (ctx unused). */
const char *bfdi_process_getenv(void *ctx, const char *name);

/* Values from the config or API; -1 / NULL / 0: not given. */
typedef struct bfdi_dist_given {
  int rank;
  int world_size;
  int local_rank;
  const char *master_addr;
  int master_port;
  int rdzv_port;
} bfdi_dist_given;

void bfdi_dist_given_init(bfdi_dist_given *g);

typedef struct bfdi_dist_env {
  bfdi_launcher launcher;
  uint32_t rank;
  uint32_t world_size;
  int32_t local_rank;  /* -1: unknown */
  int32_t local_size;  /* -1: unknown */
  int32_t node;        /* -1: unknown */
  char master_addr[BFDI_DIST_ADDR_MAX]; /* "": unknown */
  uint16_t master_port;                 /* 0: unknown */
  uint16_t rdzv_port;                   /* 0: unknown */
  /* Where rank and world size came from ("RANK", "explicit", "default"),
   * for messages that have to say which setting is wrong. */
  char rank_from[BFDI_DIST_NAME_MAX];
  char world_from[BFDI_DIST_NAME_MAX];
} bfdi_dist_env;

/* Fills out from given (may be NULL) and the environment. An unparsable
 * variable, a rank not below the world size, a local rank not below the
 * local size, or a launcher that sets a rank but no size is
 * BFD_ERR_INVALID_ARG naming the variables involved. */
bfd_status bfdi_dist_discover(const bfdi_dist_given *given, bfdi_getenv_fn get, void *ctx, bfdi_dist_env *out);

#endif
