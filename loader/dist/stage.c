/* Staging a rank's shards to node-local storage (stage.h): copy with
 * copy_file_range (read/write where the kernel cannot), verify, publish by
 * rename. */
#include "dist/stage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "biofeed/dataset.h"
#include "core/checksum.h"
#include "core/fileio.h"
#include "dist/owners.h"

#define HASH_PREFIX "xxh3-128:"

/* DIR/.NAME.tmp.PID beside path, the pack's naming for files in progress
 * (docs/FORMAT.md). */
static char *temp_beside(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
  const char *name = path + dir_len;
  size_t n = dir_len + strlen(name) + 40;
  char *t = malloc(n);
  if (t) snprintf(t, n, "%.*s.%s.tmp.%ld", (int)dir_len, path, name, (long)getpid());
  return t;
}

static char *parent_of(const char *path) {
  char *p = strdup(path);
  if (!p) return NULL;
  char *slash = strrchr(p, '/');
  if (slash && slash != p) *slash = '\0';
  else strcpy(p, slash ? "/" : ".");
  return p;
}

/* The manifest's hex digest of the shard. */
static bfd_status manifest_hex(const bfd_dataset_shard *s, const char **hex) {
  size_t n = strlen(HASH_PREFIX);
  if (strncmp(s->hash, HASH_PREFIX, n) != 0 || strlen(s->hash) != n + BFDI_HASH_HEX - 1)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "staging %s: the manifest's hash \"%s\" is not %s<32 hex digits>", s->path,
                     s->hash, HASH_PREFIX);
  *hex = s->hash + n;
  return BFD_OK;
}

/* Whether path holds exactly the shard: size first, then the hash. */
static bfd_status matches(const char *path, const bfd_dataset_shard *s, int *ok) {
  *ok = 0;
  struct stat sb;
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT) return BFD_OK;
    return bfdi_fail_errno(errno, "%s: cannot stat the staged shard", path);
  }
  if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != s->size) return BFD_OK;
  const char *want;
  BFD_TRY(manifest_hex(s, &want));
  char hex[BFDI_HASH_HEX];
  uint64_t size;
  BFD_TRY(bfdi_hash_file(path, hex, &size));
  *ok = size == s->size && strcmp(want, hex) == 0;
  return BFD_OK;
}

static bfd_status copy_bytes(int in, int out, const char *src, const char *dst, uint64_t size) {
  uint64_t done = 0;
  int kernel = 1;
  char *buf = NULL;
  enum { BLOCK = 4 << 20 };
  bfd_status st = BFD_OK;
  while (done < size) {
    ssize_t k;
    size_t want = size - done > (1u << 30) ? (1u << 30) : (size_t)(size - done);
    if (kernel) {
      k = copy_file_range(in, NULL, out, NULL, want, 0);
      if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
        kernel = 0;
        continue;
      }
    } else {
      if (!buf && !(buf = malloc(BLOCK))) {
        st = bfdi_fail(BFD_ERR_NOMEM, "staging %s: out of memory", src);
        break;
      }
      k = read(in, buf, want < BLOCK ? want : BLOCK);
      for (ssize_t w = 0; k > 0 && w < k;) {
        ssize_t x = write(out, buf + w, (size_t)(k - w));
        if (x < 0 && errno == EINTR) continue;
        if (x < 0) {
          st = bfdi_fail_errno(errno, "staging: write to %s failed at byte %llu", dst,
                               (unsigned long long)(done + (uint64_t)w));
          break;
        }
        w += x;
      }
      if (st != BFD_OK) break;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      st = bfdi_fail_errno(errno, "staging: copying %s to %s failed at byte %llu", src, dst, (unsigned long long)done);
      break;
    }
    if (k == 0) {
      st = bfdi_fail(BFD_ERR_CORRUPT,
                     "staging: %s ends at byte %llu but the manifest says %llu bytes: the source is truncated; run "
                     "`biofeed verify` on the dataset",
                     src, (unsigned long long)done, (unsigned long long)size);
      break;
    }
    done += (uint64_t)k;
  }
  free(buf);
  return st;
}

/* Copies one shard to dst through a temporary, verifies and publishes it. */
static bfd_status stage_one(const bfd_dataset_shard *s, const char *dst) {
  const char *want;
  BFD_TRY(manifest_hex(s, &want));
  char *dir = parent_of(dst);
  char *tmp = temp_beside(dst);
  if (!dir || !tmp) {
    free(dir);
    free(tmp);
    return bfdi_fail(BFD_ERR_NOMEM, "staging %s: out of memory", s->path);
  }
  bfd_status st = bfdi_mkdir_p(dir);
  int in = -1, out = -1;
  if (st == BFD_OK && (in = open(s->path, O_RDONLY | O_CLOEXEC)) < 0)
    st = bfdi_fail_errno(errno, "staging: cannot open the shard %s", s->path);
  if (st == BFD_OK && (out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
    st = bfdi_fail_errno(errno, "staging: cannot create %s", tmp);
  if (st == BFD_OK) st = copy_bytes(in, out, s->path, tmp, s->size);
  if (st == BFD_OK && fsync(out) != 0) st = bfdi_fail_errno(errno, "staging: fsync of %s failed", tmp);
  if (out >= 0 && close(out) != 0 && st == BFD_OK) st = bfdi_fail_errno(errno, "staging: closing %s failed", tmp);
  if (in >= 0) close(in);
  if (st == BFD_OK) {
    char hex[BFDI_HASH_HEX];
    uint64_t size = 0;
    st = bfdi_hash_file(tmp, hex, &size);
    if (st == BFD_OK && (size != s->size || strcmp(want, hex) != 0))
      st = bfdi_fail(BFD_ERR_CORRUPT,
                     "staging %s: the copy has %llu bytes and hash xxh3-128:%s, but the manifest says %llu bytes and "
                     "%s: the source shard is damaged or changed since packing (run `biofeed verify` on the dataset)",
                     s->path, (unsigned long long)size, hex, (unsigned long long)s->size, s->hash);
  }
  if (st == BFD_OK) st = bfdi_rename(tmp, dst);
  if (st == BFD_OK) st = bfdi_fsync_dir(dir);
  if (st != BFD_OK && out >= 0) unlink(tmp);
  free(dir);
  free(tmp);
  return st;
}

static bfd_status write_manifest(const bfd_dataset *d, const char *dest) {
  const char *text;
  BFD_TRY(bfd_dataset_manifest_text(d, &text));
  char *dst = bfdi_path_join(dest, "manifest.json");
  char *tmp = dst ? temp_beside(dst) : NULL;
  bfd_status st = dst && tmp ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "staging: out of memory");
  if (st == BFD_OK) st = bfdi_write_new_file(tmp, text, strlen(text));
  if (st == BFD_OK) st = bfdi_rename(tmp, dst);
  if (st == BFD_OK) st = bfdi_fsync_dir(dest);
  if (st != BFD_OK && tmp) unlink(tmp);
  free(dst);
  free(tmp);
  return st;
}

static bfd_status owners_of(const bfd_dataset *d, size_t n, const char *owner_map, uint32_t world, uint32_t *owner) {
  bfdi_owner_shard *os = malloc((n ? n : 1) * sizeof *os);
  if (!os) return bfdi_fail(BFD_ERR_NOMEM, "staging: out of memory for %zu shards", n);
  for (size_t i = 0; i < n; i++) {
    bfd_dataset_shard s;
    bfd_dataset_shard_get(d, i, &s);
    os[i] = (bfdi_owner_shard){s.relpath, s.size};
  }
  bfd_status st =
      owner_map ? bfdi_owners_load(owner_map, os, n, world, owner) : bfdi_owners_balanced(os, n, world, owner);
  free(os);
  return st;
}

static bfd_status stage_owned(const bfd_dataset *d, size_t n, const uint32_t *owner, const char *dest, uint32_t rank,
                              bfdi_stage_stats *stats) {
  for (size_t i = 0; i < n; i++) {
    if (owner[i] != rank) continue;
    bfd_dataset_shard s;
    BFD_TRY(bfd_dataset_shard_get(d, i, &s));
    stats->owned++;
    char *dst = bfdi_path_join(dest, s.relpath);
    if (!dst) return bfdi_fail(BFD_ERR_NOMEM, "staging: out of memory");
    int ok = 0;
    bfd_status st = matches(dst, &s, &ok);
    if (st == BFD_OK && ok) {
      stats->present++;
    } else if (st == BFD_OK) {
      st = stage_one(&s, dst);
      if (st == BFD_OK) {
        stats->copied++;
        stats->bytes_copied += s.size;
      }
    }
    free(dst);
    BFD_TRY(st);
  }
  return BFD_OK;
}

bfd_status bfdi_stage(const char *dataset, const char *dest, const char *owner_map, uint32_t rank, uint32_t world,
                      bfdi_stage_stats *stats) {
  bfdi_stage_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  if (!dataset || !dest || world == 0 || rank >= world)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "stage: needs a dataset, a destination and rank < world (rank %u of %u)",
                     rank, world);
  bfd_dataset *d;
  BFD_TRY(bfd_dataset_open(dataset, &d));
  size_t n = 0;
  bfd_dataset_shard_count(d, &n);
  uint32_t *owner = malloc((n ? n : 1) * sizeof *owner);
  bfd_status st = owner ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "staging: out of memory for %zu shards", n);
  if (st == BFD_OK) st = owners_of(d, n, owner_map, world, owner);
  if (st == BFD_OK) st = bfdi_mkdir_p(dest);
  if (st == BFD_OK) st = stage_owned(d, n, owner, dest, rank, stats);
  if (st == BFD_OK) st = write_manifest(d, dest);
  free(owner);
  bfd_dataset_close(d);
  if (st != BFD_OK) return bfdi_wrap(st, "stage %s to %s as rank %u of %u", dataset, dest, rank, world);
  return BFD_OK;
}
