/* io.cache: the shard files this rank reads, read into memory once at open
 * and every later read of them copied from there. For datasets that fit in
 * memory_limit (a genome, a protein set), it takes the kernel out of each
 * record's read: a random window is a system call and a page-cache walk
 * otherwise. The bytes held are the files' bytes, so restricted shards stay
 * encrypted in memory as on disk, and decode checks every record as
 * before. Each process holds its own copy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/whole.h"
#include "pipeline/dist.h"

static uint64_t mapped(uint64_t len) { return (len + 4095) / 4096 * 4096; }

static double mib(uint64_t n) { return (double)n / (double)(1u << 20); }

bfd_status bfdi_cache_measure(bfdi_pipe *p) {
  if (!p->job.cache) return BFD_OK;
  const bfdi_source *src = p->src;
  const uint32_t n = src->n_files;
  p->cache = calloc(n ? n : 1, sizeof *p->cache);
  p->cache_len = calloc(n ? n : 1, sizeof *p->cache_len);
  if (!p->cache || !p->cache_len) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  /* An extent table reads one file, its shard (extents.c refuses data in
   * external files), and knows that file's size from its open. */
  for (size_t d = 0; d < src->n_ds; d++)
    for (size_t k = 0; k < src->ds[d].n_shards; k++) {
      if (!bfdi_dist_reads_shard(p, d, k)) continue;
      const bfdi_src_shard *sh = &src->ds[d].shards[k];
      p->cache_len[sh->file_base] = sh->x->file_size;
      p->cache_bytes += mapped(sh->x->file_size);
    }
  if (p->cache_bytes >= p->job.memory_limit)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s:%lu: io.cache: the shard files this rank reads take %.1f MiB, as much "
                     "as memory_limit (%.1f MiB) or more: raise memory_limit above it plus the batch ring, or set "
                     "io.cache: false", p->job.file, p->job.line_cache, mib(p->cache_bytes), mib(p->job.memory_limit));
  return BFD_OK;
}

bfd_status bfdi_cache_load(bfdi_pipe *p) {
  if (!p->cache) return BFD_OK;
  const uint32_t n = p->src->n_files;
  const char **paths = malloc((n ? n : 1) * sizeof *paths);
  uint8_t **dst = malloc((n ? n : 1) * sizeof *dst);
  uint64_t *len = malloc((n ? n : 1) * sizeof *len);
  bfd_status st = paths && dst && len ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  size_t m = 0;
  for (uint32_t i = 0; i < n && st == BFD_OK; i++) {
    if (!p->cache_len[i]) continue;
    uint8_t *a = bfdi_host_map(mapped(p->cache_len[i]));
    if (!a) {
      st = bfdi_fail_errno(errno, "%s:%lu: io.cache: cannot map %.1f MiB for %s", p->job.file, p->job.line_cache,
                           mib(p->cache_len[i]), p->src->files[i]);
      break;
    }
    p->cache[i] = a;
    paths[m] = p->src->files[i];
    dst[m] = a;
    len[m++] = p->cache_len[i];
  }
  if (st == BFD_OK) {
    const bfdi_io_opts o = {.kind = p->job.engine, .queue_depth = p->job.queue_depth, .direct = p->job.direct};
    st = bfdi_io_read_whole(&o, m, paths, dst, len);
    if (st != BFD_OK) st = bfdi_wrap(st, "%s:%lu: io.cache", p->job.file, p->job.line_cache);
  }
  if (st == BFD_OK)
    bfdi_log(BFD_LOG_INFO, "%s: io.cache: %zu shard files, %.1f MiB, held in memory", p->job.file, m,
             mib(p->cache_bytes));
  free(paths);
  free(dst);
  free(len);
  return st;
}

void bfdi_cache_free(bfdi_pipe *p) {
  if (p->cache)
    for (uint32_t i = 0; i < p->src->n_files; i++)
      bfdi_host_unmap(p->cache[i], mapped(p->cache_len[i]));
  free(p->cache);
  free(p->cache_len);
  p->cache = NULL;
  p->cache_len = NULL;
}
