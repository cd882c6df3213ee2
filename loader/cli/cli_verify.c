/* `biofeed verify`: every file hash and record CRC, each problem on its own
 * line (shard, record, byte offset, what), exit status 0 only if all match.
 * With --key-file K every record of a restricted shard is authenticated too. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "biofeed/shard.h"
#include "cli/cli.h"

static void report(const char *shard, uint64_t record, uint64_t offset, const char *what, void *user) {
  printf("BAD %s", shard);
  if (record != UINT64_MAX) printf(" record %llu", (unsigned long long)record);
  if (offset != UINT64_MAX) printf(" offset %llu", (unsigned long long)offset);
  printf(": %s\n", what);
}

int bfd_cli_verify(int argc, char **argv) {
  const char *key = NULL;
  if (argc == 4 && !strcmp(argv[1], "--key-file")) {
    key = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc != 2 || argv[1][0] == '-') {
    int h = argc == 2 && !strcmp(argv[1], "--help");
    fprintf(h ? stdout : stderr, "usage: biofeed verify [--key-file K] PATH   (a dataset directory or one .h5 shard; "
            "with the key, restricted records are authenticated too)\n");
    return h ? 0 : 2;
  }
  bfd_verify_report r;
  bfd_status s = bfd_verify_key(argv[1], key, report, NULL, &r);
  if (s == BFD_OK) {
    printf("OK %s: %llu shard(s), %llu record(s), %.1f MB checked%s\n", argv[1],
           (unsigned long long)r.shards_checked, (unsigned long long)r.records_checked,
           (double)r.bytes_checked / 1e6, key ? ", restricted records authenticated" : "");
    return 0;
  }
  return bfd_cli_fail("verify", s);
}
