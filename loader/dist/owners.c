/* Shard ownership (owners.h): the balanced assignment (largest shard first
 * onto the least-loaded rank, a binary heap of ranks) and the map file. */
#include "dist/owners.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct keyed {
  const bfdi_owner_shard *s;
  uint64_t hash;
  size_t index;
} keyed;

static int by_size_then_hash(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->s->size != y->s->size) return x->s->size > y->s->size ? -1 : 1;
  if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
  return strcmp(x->s->relpath, y->s->relpath);
}

typedef struct load {
  uint64_t bytes;
  uint32_t rank;
} load;

static int lighter(const load *a, const load *b) {
  return a->bytes != b->bytes ? a->bytes < b->bytes : a->rank < b->rank;
}

static void sift_down(load *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && lighter(&h[l], &h[m])) m = l;
    if (r < n && lighter(&h[r], &h[m])) m = r;
    if (m == i) return;
    load t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

bfd_status bfdi_owners_balanced(const bfdi_owner_shard *shards, size_t n, uint32_t world, uint32_t *owner) {
  if (world == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "shard owners: the world size is 0");
  if (n == 0) return BFD_OK;
  /* With fewer shards than ranks, ranks n.. would never be the lightest. */
  size_t ranks = world < n ? world : n;
  keyed *k = malloc(n * sizeof *k);
  load *h = malloc(ranks * sizeof *h);
  if (!k || !h) {
    free(k);
    free(h);
    return bfdi_fail(BFD_ERR_NOMEM, "shard owners: out of memory for %zu shards", n);
  }
  for (size_t i = 0; i < n; i++) {
    if (!shards[i].relpath) {
      free(k);
      free(h);
      return bfdi_fail(BFD_ERR_INVALID_ARG, "shard owners: shard %zu has no path", i);
    }
    k[i] = (keyed){&shards[i], XXH3_64bits(shards[i].relpath, strlen(shards[i].relpath)), i};
  }
  qsort(k, n, sizeof *k, by_size_then_hash);
  /* Ascending ranks with zero load already form a heap. */
  for (size_t r = 0; r < ranks; r++) h[r] = (load){0, (uint32_t)r};
  for (size_t i = 0; i < n; i++) {
    owner[k[i].index] = h[0].rank;
    h[0].bytes += k[i].s->size;
    sift_down(h, ranks, 0);
  }
  free(k);
  free(h);
  return BFD_OK;
}

typedef struct by_path {
  const char *path;
  size_t index;
} by_path;

static int cmp_path(const void *a, const void *b) {
  return strcmp(((const by_path *)a)->path, ((const by_path *)b)->path);
}

static const char *strip_dot(const char *p) {
  while (p[0] == '.' && p[1] == '/') p += 2;
  return p;
}

/* Splits a map line into path and rank; 0 for a line to skip, 1 for an
 * entry, -1 when malformed. */
static int parse_line(char *line, char **path, long *rank) {
  size_t len = strlen(line);
  while (len && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
  char *p = line;
  while (isspace((unsigned char)*p)) p++;
  if (!*p || *p == '#') return 0;
  char *sp = p + strlen(p);
  while (sp > p && !isspace((unsigned char)sp[-1])) sp--;
  if (sp == p) return -1;
  char *end;
  errno = 0;
  *rank = strtol(sp, &end, 10);
  if (errno || *end || end == sp || *rank < 0) return -1;
  char *q = sp;
  while (q > p && isspace((unsigned char)q[-1])) q--;
  *q = '\0';
  *path = p;
  return 1;
}

bfd_status bfdi_owners_load(const char *map_path, const bfdi_owner_shard *shards, size_t n, uint32_t world,
                            uint32_t *owner) {
  if (world == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "shard owners: the world size is 0");
  FILE *f = fopen(map_path, "r");
  if (!f) return bfdi_fail_errno(errno, "%s: cannot open the shard ownership map", map_path);
  by_path *idx = malloc((n ? n : 1) * sizeof *idx);
  unsigned long *line_of = calloc(n ? n : 1, sizeof *line_of);
  if (!idx || !line_of) {
    free(idx);
    free(line_of);
    fclose(f);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu shards", map_path, n);
  }
  for (size_t i = 0; i < n; i++) idx[i] = (by_path){strip_dot(shards[i].relpath), i};
  qsort(idx, n, sizeof *idx, cmp_path);

  bfd_status st = BFD_OK;
  char *line = NULL;
  size_t cap = 0;
  unsigned long ln = 0;
  while (st == BFD_OK && getline(&line, &cap, f) >= 0) {
    ln++;
    char *path;
    long rank;
    int kind = parse_line(line, &path, &rank);
    if (kind == 0) continue;
    if (kind < 0) {
      st = bfdi_fail(BFD_ERR_FORMAT, "%s line %lu: expected \"shard_path rank\" with a rank >= 0", map_path, ln);
      break;
    }
    by_path key = {strip_dot(path), 0};
    const by_path *hit = n ? bsearch(&key, idx, n, sizeof *idx, cmp_path) : NULL;
    if (!hit)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s line %lu: the dataset has no shard \"%s\" (paths are as in manifest.json)",
                     map_path, ln, path);
    else if (rank >= (long)world)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s line %lu: rank %ld for %s, but the world has %u ranks", map_path, ln, rank,
                     path, world);
    else if (line_of[hit->index])
      st = bfdi_fail(BFD_ERR_FORMAT, "%s line %lu: shard %s is already given to a rank on line %lu", map_path, ln,
                     path, line_of[hit->index]);
    else {
      line_of[hit->index] = ln;
      owner[hit->index] = (uint32_t)rank;
    }
  }
  if (st == BFD_OK && ferror(f)) st = bfdi_fail_errno(errno, "%s: read failed after line %lu", map_path, ln);
  for (size_t i = 0; st == BFD_OK && i < n; i++)
    if (!line_of[i])
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: shard %s has no owner: add a line \"%s RANK\"", map_path, shards[i].relpath,
                     shards[i].relpath);
  free(line);
  free(idx);
  free(line_of);
  fclose(f);
  return st;
}
