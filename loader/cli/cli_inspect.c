/* `biofeed inspect`: what a dataset directory or a shard holds: kind, record
 * counts, sequence length distribution, image shapes and dtypes, access
 * class, provenance. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "biofeed/dataset.h"
#include "cli/cli.h"

typedef struct stats {
  uint64_t *len;
  size_t n, cap;
  uint64_t records, restricted;
  char key_id[24];
  int kind;
} stats;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void print_shape(const bfd_shard_info *i) {
  printf("%s [", bfd_dtype_name(i->dtype));
  for (int k = 0; k < i->ndim; k++) printf("%s%llu", k ? ", " : "", (unsigned long long)i->shape[k]);
  printf("] %s", i->ndim == 4 ? "CZYX" : "CYX");
}

/* One shard: a line about it, and its record lengths into st. */
static bfd_status shard(const char *path, const char *label, stats *st, int show_provenance) {
  bfd_shard *s;
  bfd_status os = bfd_shard_open(path, &s);
  if (os != BFD_OK) return os;
  bfd_shard_info i;
  bfd_shard_info_get(s, &i);
  st->kind = i.kind;
  st->records += i.n_records;
  st->restricted += i.restricted != 0;
  if (i.restricted) snprintf(st->key_id, sizeof st->key_id, "%s", i.key_id);
  printf("  %-24s %10llu records  ", label, (unsigned long long)i.n_records);
  if (i.kind == BFD_KIND_SEQUENCE) {
    if (st->n + i.n_records > st->cap) {
      size_t cap = (st->n + i.n_records) * 2;
      uint64_t *nl = realloc(st->len, cap * sizeof *nl);
      if (!nl) {
        bfd_shard_close(s);
        return BFD_ERR_NOMEM;
      }
      st->len = nl;
      st->cap = cap;
    }
    /* Record lengths, not /seq/data's size: a restricted shard stores each record sealed, 40 bytes longer. */
    uint64_t bytes = 0;
    for (uint64_t r = 0; r < i.n_records; r++) {
      bfd_shard_seq_length(s, r, &st->len[st->n]);
      bytes += st->len[st->n++];
    }
    printf("%12llu bytes%s\n", (unsigned long long)bytes, i.has_quality ? "  +quality" : "");
  } else {
    print_shape(&i);
    if (i.has_labels) printf("  labels %s", bfd_dtype_name(i.label_dtype));
    if (i.has_classes) printf("  classes");
    printf("  %s\n", i.compressed ? "deflate+shuffle" : "uncompressed");
  }
  if (show_provenance) {
    const char *prov, *tool;
    bfd_shard_provenance(s, &prov, &tool);
    if (i.restricted) printf("access: restricted (key id %s)\n", i.key_id);
    else printf("access: open\n");
    printf("written by: %s\nprovenance: %s\n", tool, prov);
  }
  bfd_shard_close(s);
  return BFD_OK;
}

static void length_summary(stats *st) {
  if (!st->n) return;
  qsort(st->len, st->n, sizeof *st->len, cmp_u64);
  uint64_t total = 0;
  for (size_t i = 0; i < st->n; i++) total += st->len[i];
  uint64_t half = 0, n50 = 0;
  for (size_t i = st->n; i-- > 0;) {
    half += st->len[i];
    if (2 * half >= total) {
      n50 = st->len[i];
      break;
    }
  }
  printf("lengths: min %llu  p10 %llu  median %llu  mean %.1f  p90 %llu  max %llu  N50 %llu  total %llu\n",
         (unsigned long long)st->len[0], (unsigned long long)st->len[st->n / 10],
         (unsigned long long)st->len[st->n / 2], (double)total / (double)st->n,
         (unsigned long long)st->len[st->n * 9 / 10], (unsigned long long)st->len[st->n - 1],
         (unsigned long long)n50, (unsigned long long)total);
}

static int inspect_dir(const char *dir) {
  bfd_dataset *d;
  bfd_status s = bfd_dataset_open(dir, &d);
  if (s != BFD_OK) return bfd_cli_fail("inspect", s);
  const char *text;
  bfd_dataset_manifest_text(d, &text);
  cJSON *m = cJSON_Parse(text);
  const cJSON *kind = cJSON_GetObjectItem(m, "kind"), *cmd = cJSON_GetObjectItem(m, "command"),
              *tool = cJSON_GetObjectItem(m, "tool_version"), *srcs = cJSON_GetObjectItem(m, "sources"),
              *schema = cJSON_GetObjectItem(m, "schema");
  printf("dataset: %s\nkind: %s\nwritten by: %s\ncommand: %s\n", dir, cJSON_GetStringValue(kind),
         cJSON_GetStringValue(tool), cJSON_GetStringValue(cmd));
  printf("sources: %d file(s)\n", cJSON_GetArraySize(srcs));
  const cJSON *e;
  int shown = 0;
  cJSON_ArrayForEach(e, srcs) {
    if (shown++ == 10) {
      printf("  ... (%d more in manifest.json)\n", cJSON_GetArraySize(srcs) - 10);
      break;
    }
    printf("  %s  %.0f bytes  %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(e, "path")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(e, "size")), cJSON_GetStringValue(cJSON_GetObjectItem(e, "hash")));
  }
  const cJSON *groups = cJSON_GetObjectItem(schema, "groups");
  if (groups) {
    printf("image groups (one shape each):\n");
    cJSON_ArrayForEach(e, groups) {
      char *g = cJSON_PrintUnformatted(e);
      printf("  %s\n", g);
      free(g);
    }
  }
  cJSON_Delete(m);
  size_t n;
  bfd_dataset_shard_count(d, &n);
  printf("shards: %zu\n", n);
  stats st = {0};
  for (size_t i = 0; i < n && s == BFD_OK; i++) {
    bfd_dataset_shard sh;
    bfd_dataset_shard_get(d, i, &sh);
    s = shard(sh.path, sh.relpath, &st, 0);
  }
  if (s == BFD_OK) {
    printf("records: %llu\naccess: %s", (unsigned long long)st.records,
           st.restricted == 0 ? "open" : st.restricted == n ? "restricted" : "mixed");
    if (st.restricted) printf(" (key id %s)", st.key_id);
    printf("\n");
    length_summary(&st);
  }
  free(st.len);
  bfd_dataset_close(d);
  return s == BFD_OK ? 0 : bfd_cli_fail("inspect", s);
}

int bfd_cli_inspect(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
            "usage: biofeed inspect PATH   (a dataset directory or one .h5 shard)\n");
    return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  struct stat sb;
  if (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode)) return inspect_dir(argv[1]);
  stats st = {0};
  printf("shard: %s\n", argv[1]);
  bfd_status s = shard(argv[1], "records:", &st, 1);
  if (s == BFD_OK) length_summary(&st);
  free(st.len);
  return s == BFD_OK ? 0 : bfd_cli_fail("inspect", s);
}
