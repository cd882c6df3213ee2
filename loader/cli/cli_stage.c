/* `biofeed stage`: copies the shards this rank owns (balanced, or from an
 * owner map) from shared storage to node-local storage for exchange mode,
 * with the rank and world size found from the launcher's environment, so it
 * runs under srun, mpirun or torchrun as one task per rank. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "dist/launcher.h"
#include "dist/stage.h"

static int usage(FILE *f, int rc) {
  fprintf(f,
          "usage: biofeed stage DATASET DEST [--owners FILE]\n"
          "  copies this rank's shards of DATASET to DEST (node-local storage), each checked against the\n"
          "  manifest's size and hash, then writes DEST/manifest.json. The rank and world size come from the\n"
          "  launcher (RANK/WORLD_SIZE, OMPI_COMM_WORLD_*, PMI_*, SLURM_PROCID/NTASKS); run one task per rank.\n"
          "  --owners FILE   lines \"shard_path rank\" saying which rank holds each shard (default: balanced)\n");
  return rc;
}

int bfd_cli_stage(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL}, *owners = NULL;
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout, 0);
    if (!strcmp(argv[i], "--owners") && i + 1 < argc) {
      owners = argv[++i];
    } else if (argv[i][0] == '-' || npos == 2) {
      fprintf(stderr, "biofeed stage: unexpected argument '%s'\n", argv[i]);
      return usage(stderr, 2);
    } else {
      pos[npos++] = argv[i];
    }
  }
  if (npos != 2) return usage(stderr, 2);
  bfdi_dist_env env;
  bfd_status s = bfdi_dist_discover(NULL, bfdi_process_getenv, NULL, &env);
  if (s != BFD_OK) return bfd_cli_fail("stage", s);
  bfdi_stage_stats st;
  s = bfdi_stage(pos[0], pos[1], owners, env.rank, env.world_size, &st);
  if (s != BFD_OK) return bfd_cli_fail("stage", s);
  printf("OK rank %u of %u (%s): %llu shard(s) owned, %llu copied (%.1f MB), %llu already present\n", env.rank,
         env.world_size, bfdi_launcher_name(env.launcher), (unsigned long long)st.owned,
         (unsigned long long)st.copied, (double)st.bytes_copied / 1e6, (unsigned long long)st.present);
  return 0;
}
