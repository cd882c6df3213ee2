/* `biofeed`: dispatches to the subcommands and routes library logs to stderr. */
#include <stdio.h>
#include <string.h>

#include "biofeed/pack.h"
#include "cli/cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: biofeed <command> [options]\n"
          "\n"
          "commands:\n"
          "  pack -o OUTDIR [options] INPUT...  FASTA/FASTQ, TIFF, PNG, NIfTI, HDF5 -> HDF5 shards + manifest.json\n"
          "  inspect PATH                       describe a dataset directory or one shard\n"
          "  verify [--key-file K] PATH         check every file hash and record CRC (with K: authenticate)\n"
          "  keygen KEYFILE                     write a new key for restricted data (mode 0600)\n"
          "  run CONFIG [options]               stream a job config's batches: throughput, bottleneck, dumps\n"
          "  stage DATASET DEST [--owners FILE] copy this rank's shards to node-local storage (exchange mode)\n"
          "  version                            print the version and the backends built in\n"
          "\n"
          "`biofeed <command> --help` lists a command's options.\n");
}

static void log_to_stderr(bfd_log_level level, const char *msg, void *user) {
  static const char *const names[] = {"debug", "info", "warning", "error"};
  fprintf(stderr, "biofeed: %s: %s\n", names[level], msg);
}

int bfd_cli_fail(const char *cmd, bfd_status s) {
  fprintf(stderr, "biofeed %s: error: %s\n", cmd, bfd_last_error());
  switch (s) {
    case BFD_ERR_FORMAT:
    case BFD_ERR_CORRUPT:
    case BFD_ERR_UNSUPPORTED: return 1;
    default: return 2;
  }
}

int main(int argc, char **argv) {
  bfd_set_log(log_to_stderr, NULL, BFD_LOG_WARN);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "pack")) return bfd_cli_pack(argc - 1, argv + 1);
  if (!strcmp(cmd, "inspect")) return bfd_cli_inspect(argc - 1, argv + 1);
  if (!strcmp(cmd, "verify")) return bfd_cli_verify(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) return bfd_cli_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "stage")) return bfd_cli_stage(argc - 1, argv + 1);
  if (!strcmp(cmd, "keygen")) {
    if (argc != 3 || argv[2][0] == '-') {
      fprintf(stderr, "usage: biofeed keygen KEYFILE   (a new key for `pack --restricted`; the file must not exist)\n");
      return 2;
    }
    char id[24];
    bfd_status s = bfd_keygen(argv[2], id);
    if (s != BFD_OK) return bfd_cli_fail("keygen", s);
    printf("wrote key %s (key id %s, mode 0600): keep it private and backed up; without it the data cannot be "
           "read\n", argv[2], id);
    return 0;
  }
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    int n = 0;
    bfd_status s = bfd_cuda_device_count(&n);
    printf("biofeed %s (shard format %d)\n", bfd_version(), BFD_FORMAT_VERSION);
    printf("backends: cpu (OpenMP)%s\n", BFD_CUDA ? ", cuda (sm_80, sm_90, PTX)" : "");
    if (s == BFD_OK) printf("cuda devices: %d\n", n);
    else printf("cuda devices: unknown (%s)\n", bfd_last_error());
    return 0;
  }
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "biofeed: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
