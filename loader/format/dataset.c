/* Reading manifest.json (cJSON) into a dataset: its kind and shard list.
 * Shard paths must stay inside the dataset directory: a manifest is input
 * and is checked like any other. */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "biofeed/dataset.h"
#include "core/fileio.h"

#define MAX_MANIFEST_BYTES (256u << 20)

struct bfd_dataset {
  char *text;
  bfd_kind kind;
  size_t n;
  bfd_dataset_shard *shards;
  char **owned; /* 3 strings per shard: path, relpath, hash */
};

static bfd_status slurp(const char *path, char **out) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT)
      return bfdi_fail(BFD_ERR_FORMAT, "%s: not found: the dataset is incomplete (an interrupted pack?) or this is "
                       "not a biofeed dataset; re-run biofeed pack", path);
    return bfdi_fail_errno(errno, "%s: cannot open", path);
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size > MAX_MANIFEST_BYTES) {
    fclose(f);
    return bfdi_fail(BFD_ERR_FORMAT, "%s: unreadable or larger than %u bytes", path, MAX_MANIFEST_BYTES);
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    fclose(f);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", path);
  }
  size_t r = fread(buf, 1, (size_t)st.st_size, f);
  fclose(f);
  buf[r] = '\0';
  *out = buf;
  return BFD_OK;
}

static int safe_relpath(const char *p) {
  if (!p[0] || p[0] == '/') return 0;
  for (const char *s = p; *s; s++)
    if ((s == p || s[-1] == '/') && s[0] == '.' && s[1] == '.' && (s[2] == '/' || s[2] == '\0')) return 0;
  return 1;
}

/* A whole count from a JSON number. cJSON keeps numbers as doubles, which
 * are exact only up to 2^53, and converting one beyond 2^64 (or inf) to an
 * integer is undefined: such a manifest is corrupt, not a big dataset. */
static int count_of(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return 0;
  double x = v->valuedouble;
  if (!(x >= 0 && x <= 9007199254740992.0) || x != floor(x)) return 0;
  *out = (uint64_t)x;
  return 1;
}

static bfd_status parse(bfd_dataset *d, const char *mpath, const char *dir) {
  cJSON *root = cJSON_Parse(d->text);
  if (!root) return bfdi_fail(BFD_ERR_FORMAT, "%s: not valid JSON (near: %.40s)", mpath, cJSON_GetErrorPtr());
  bfd_status st = BFD_OK;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
  const cJSON *shards = cJSON_GetObjectItemCaseSensitive(root, "shards");
  if (!cJSON_IsString(kind) || !cJSON_IsArray(shards)) {
    st = bfdi_fail(BFD_ERR_FORMAT, "%s: needs a string 'kind' and an array 'shards'", mpath);
    goto out;
  }
  if (!strcmp(kind->valuestring, "sequence")) d->kind = BFD_KIND_SEQUENCE;
  else if (!strcmp(kind->valuestring, "image")) d->kind = BFD_KIND_IMAGE;
  else {
    st = bfdi_fail(BFD_ERR_FORMAT, "%s: kind '%s' is not 'sequence' or 'image'", mpath, kind->valuestring);
    goto out;
  }
  d->n = (size_t)cJSON_GetArraySize(shards);
  d->shards = calloc(d->n ? d->n : 1, sizeof *d->shards);
  d->owned = calloc(3 * (d->n ? d->n : 1), sizeof *d->owned);
  if (!d->shards || !d->owned) {
    st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", mpath);
    goto out;
  }
  size_t i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, shards) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path"), *sz = cJSON_GetObjectItemCaseSensitive(e, "size"),
                *rec = cJSON_GetObjectItemCaseSensitive(e, "records"),
                *h = cJSON_GetObjectItemCaseSensitive(e, "hash"), *g = cJSON_GetObjectItemCaseSensitive(e, "group");
    uint64_t size, records;
    if (!cJSON_IsString(p) || !cJSON_IsString(h) || !count_of(sz, &size) || !count_of(rec, &records)) {
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: shard entry %zu needs path, size, records and hash (size and records: "
                     "whole numbers from 0 to 2^53); the manifest is damaged, re-run biofeed pack", mpath, i);
      goto out;
    }
    if (!safe_relpath(p->valuestring)) {
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: shard entry %zu: path '%s' leaves the dataset directory", mpath, i,
                     p->valuestring);
      goto out;
    }
    char *full = bfdi_path_join(dir, p->valuestring), *rel = strdup(p->valuestring), *hh = strdup(h->valuestring);
    d->owned[3 * i] = full;
    d->owned[3 * i + 1] = rel;
    d->owned[3 * i + 2] = hh;
    if (!full || !rel || !hh) {
      st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", mpath);
      goto out;
    }
    d->shards[i] = (bfd_dataset_shard){full, rel, size, records, hh, cJSON_IsNumber(g) ? g->valueint : 0};
    i++;
  }
out:
  cJSON_Delete(root);
  return st;
}

bfd_status bfd_dataset_open(const char *path, bfd_dataset **out) {
  if (!path || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_dataset_open: NULL argument");
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0) return bfdi_fail_errno(errno, "%s: cannot open the dataset", path);
  char *dir, *mpath;
  if (S_ISDIR(st.st_mode)) {
    dir = strdup(path);
    mpath = bfdi_path_join(path, "manifest.json");
  } else {
    mpath = strdup(path);
    dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) *slash = '\0';
    else if (dir) strcpy(dir, ".");
  }
  bfd_dataset *d = calloc(1, sizeof *d);
  bfd_status rc = BFD_OK;
  if (!dir || !mpath || !d) rc = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  if (rc == BFD_OK) rc = slurp(mpath, &d->text);
  if (rc == BFD_OK) rc = parse(d, mpath, dir);
  free(dir);
  free(mpath);
  if (rc != BFD_OK) {
    bfd_dataset_close(d);
    return rc;
  }
  *out = d;
  return BFD_OK;
}

bfd_status bfd_dataset_close(bfd_dataset *d) {
  if (!d) return BFD_OK;
  if (d->owned)
    for (size_t i = 0; i < 3 * d->n; i++) free(d->owned[i]);
  free(d->owned);
  free(d->shards);
  free(d->text);
  free(d);
  return BFD_OK;
}

bfd_status bfd_dataset_kind(const bfd_dataset *d, bfd_kind *kind) {
  if (!d || !kind) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_dataset_kind: NULL argument");
  *kind = d->kind;
  return BFD_OK;
}

bfd_status bfd_dataset_shard_count(const bfd_dataset *d, size_t *n) {
  if (!d || !n) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_dataset_shard_count: NULL argument");
  *n = d->n;
  return BFD_OK;
}

bfd_status bfd_dataset_shard_get(const bfd_dataset *d, size_t i, bfd_dataset_shard *out) {
  if (!d || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_dataset_shard_get: NULL argument");
  if (i >= d->n)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_dataset_shard_get: shard %zu of %zu does not exist", i, d->n);
  *out = d->shards[i];
  return BFD_OK;
}

bfd_status bfd_dataset_manifest_text(const bfd_dataset *d, const char **json) {
  if (!d || !json) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_dataset_manifest_text: NULL argument");
  *json = d->text;
  return BFD_OK;
}
