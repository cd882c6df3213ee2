/* The biofeed side of bench/io/run.sh.
 *
 *   bfd_io_bench gen DIR SHARDS SHARD_MIB RECORD_BYTES
 *       writes sequence shards DIR/seq-NNNNN.h5 of fixed-size records (the
 *       format writer, as pack uses it)
 *   bfd_io_bench run MODE ENGINE DIRECT QD BLOCK SECONDS SHARD...
 *       MODE seq:    the shard files in BLOCK-byte reads, each file in order,
 *                    round robin over the files (as fio does)
 *       MODE rand:   whole records, uniformly at random, straight from the
 *                    extent tables (one read per record)
 *       MODE reader: the same random records through the reader (plans,
 *                    CRC32C check of every record)
 *       ENGINE uring | pread; DIRECT 0 | 1 (O_DIRECT); QD reads in flight.
 *       Reads for SECONDS and prints "MB/s <payload MB/s> reads <n>
 *       registered <reads into registered buffers>" (MB = 10^6 bytes of the
 *       bytes asked for).
 *
 * One thread and one engine, like fio's single job with iodepth QD. The
 * destinations are slabs of the pinned pool, registered with the ring. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/checksum.h"
#include "format/shard_write.h"
#include "io/pool.h"
#include "io/read.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what) {
  fprintf(stderr, "bfd_io_bench: %s: %s\n", what, bfd_last_error());
  return 1;
}

static int gen(const char *dir, int shards, uint64_t shard_mib, uint64_t rec) {
  uint64_t n = (shard_mib << 20) / rec;
  uint8_t *data = malloc(n * rec);
  uint64_t *off = malloc((n + 1) * sizeof *off);
  uint32_t *crc = malloc(n * sizeof *crc);
  char **names = malloc(n * sizeof *names);
  if (!data || !off || !crc || !names) return die("out of memory");
  uint64_t x = 1;
  for (uint64_t i = 0; i < n * rec; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    data[i] = (uint8_t)"ACGT"[x >> 62];
  }
  for (uint64_t i = 0; i <= n; i++) off[i] = i * rec;
  for (uint64_t i = 0; i < n; i++) {
    crc[i] = bfdi_crc32c(data + i * rec, rec);
    names[i] = "r";
  }
  for (int s = 0; s < shards; s++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/seq-%05d.h5", dir, s);
    data[0] = (uint8_t)"ACGT"[s % 4];
    crc[0] = bfdi_crc32c(data, rec);
    bfdi_seq_shard sh = {.n = n, .data = data, .offsets = off, .crc = crc, .names = (const char *const *)names,
                         .alphabet = "dna"};
    if (bfdi_write_seq_shard(path, &sh, NULL, NULL) != BFD_OK) return die(path);
  }
  free(data);
  free(off);
  free(crc);
  free(names);
  return 0;
}

typedef struct bench {
  const char *mode;
  bfdi_io_opts o;
  uint64_t block;
  double seconds;
  int n_files;
  char **paths;
  bfdi_extents **x;
  bfdi_pool *pool;
  bfdi_buf *bufs;
} bench;

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

typedef struct cursor {
  int rand_mode;
  uint32_t align;
  uint64_t rng, file;
  uint64_t *pos; /* per file */
  const uint32_t *slot;
  const uint64_t *size;
} cursor;

/* Points r (buffer k) at the next read: a random record, or the next block
 * of the next file (round robin over the files, each read sequentially, as
 * fio does with several files in one job). */
static void next_read(const bench *b, cursor *c, bfdi_io_req *r, uint64_t k) {
  if (c->rand_mode) {
    int g = (int)(rng_next(&c->rng) % (uint64_t)b->n_files);
    const bfdi_extent *ex = &b->x[g]->rec[rng_next(&c->rng) % b->x[g]->n_records];
    /* With O_DIRECT the slab has room around the record: one aligned read. */
    *r = (bfdi_io_req){.offset = ex->offset, .len = ex->length, .tag = k, .file = c->slot[g],
                       .dst = b->bufs[k].ptr + (c->align > 1 ? ex->offset % c->align : 0),
                       .flags = c->align > 1 ? BFDI_IO_ROOM : 0};
    return;
  }
  uint64_t f = c->file;
  *r = (bfdi_io_req){.offset = c->pos[f], .len = b->block, .dst = b->bufs[k].ptr, .tag = k, .file = c->slot[f]};
  c->pos[f] = c->pos[f] + b->block >= c->size[f] ? 0 : c->pos[f] + b->block;
  c->file = (f + 1) % (uint64_t)b->n_files;
}

/* seq and rand: the engine alone. Each queue entry owns a pool slab; a
 * completed read's entry is refilled and submitted at once. */
static int run_engine(bench *b, double *mbps, uint64_t *reads, uint64_t *fixed) {
  bfdi_io *e;
  if (bfdi_io_create(&b->o, &e) != BFD_OK) return die("engine");
  unsigned qd = b->o.queue_depth;
  uint32_t *slot = malloc((size_t)b->n_files * sizeof *slot);
  uint64_t *size = malloc((size_t)b->n_files * sizeof *size), *pos = calloc((size_t)b->n_files, sizeof *pos);
  bfdi_io_req *q = malloc(qd * sizeof *q);
  for (int f = 0; f < b->n_files; f++) {
    if (bfdi_io_open(e, b->paths[f], &slot[f]) != BFD_OK) return die(b->paths[f]);
    struct stat sb;
    stat(b->paths[f], &sb);
    size[f] = (uint64_t)sb.st_size / b->block * b->block;
  }
  cursor c = {!strcmp(b->mode, "rand"), bfdi_io_align(e), 88172645463325252ull, 0, pos, slot, size};
  for (uint64_t k = 0; k < qd; k++) next_read(b, &c, &q[k], k);
  uint64_t bytes = 0, n = 0;
  double t0 = now_s(), t = t0, stop = t0 + b->seconds;
  size_t pending = 0, acc;
  if (bfdi_io_submit(e, q, qd, &acc) != BFD_OK) return die("submit");
  pending = acc;
  bfdi_io_done done[64];
  bfdi_io_req batch[64];
  while (pending) {
    size_t got, m = 0;
    if (bfdi_io_reap(e, done, 64, 1, &got) != BFD_OK) return die("read");
    pending -= got;
    t = now_s();
    for (size_t i = 0; i < got; i++) {
      bfdi_io_req *r = &q[done[i].tag];
      bytes += r->len;
      n++;
      if (t >= stop) continue;
      next_read(b, &c, r, done[i].tag);
      batch[m++] = *r;
    }
    /* Refills go out together: one submission per reap. */
    if (m && (bfdi_io_submit(e, batch, m, &acc) != BFD_OK || acc != m)) return die("submit");
    pending += m;
  }
  *mbps = (double)bytes / (t - t0) / 1e6;
  *reads = n;
  bfdi_io_stats st;
  bfdi_io_get_stats(e, &st);
  *fixed = st.fixed;
  bfdi_io_destroy(e);
  free(slot);
  free(size);
  free(pos);
  free(q);
  return 0;
}

/* reader: batches of qd random records through plans, decode and CRC checks. */
static int run_reader(bench *b, double *mbps, uint64_t *reads) {
  bfdi_reader *r;
  if (bfdi_reader_create(&b->o, &r) != BFD_OK) return die("reader");
  unsigned qd = b->o.queue_depth;
  bfdi_read *q = calloc(qd, sizeof *q);
  uint64_t rng = 88172645463325252ull, bytes = 0, n = 0;
  double t0 = now_s(), t = t0;
  while (t < t0 + b->seconds) {
    for (unsigned k = 0; k < qd; k++) {
      const bfdi_extents *x = b->x[rng_next(&rng) % (uint64_t)b->n_files];
      q[k] = (bfdi_read){.x = x, .record = rng_next(&rng) % x->n_records, .hi = UINT64_MAX, .dst = b->bufs[k].ptr,
                         .cap = b->bufs[k].size};
      bytes += x->rec[q[k].record].length;
    }
    if (bfdi_reader_run(r, q, qd) != BFD_OK) return die("reader");
    n += qd;
    t = now_s();
  }
  *mbps = (double)bytes / (t - t0) / 1e6;
  *reads = n;
  free(q);
  bfdi_reader_free(r);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "gen"))
    return gen(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10));
  if (argc < 9 || strcmp(argv[1], "run")) {
    fprintf(stderr, "usage: bfd_io_bench gen DIR SHARDS SHARD_MIB RECORD_BYTES\n"
                    "       bfd_io_bench run seq|rand|reader uring|pread DIRECT QD BLOCK SECONDS SHARD...\n");
    return 2;
  }
  bench b = {.mode = argv[2], .block = strtoull(argv[6], NULL, 10), .seconds = atof(argv[7]),
             .n_files = argc - 8, .paths = argv + 8};
  if (bfdi_io_parse_kind(argv[3], &b.o.kind) != BFD_OK) return die("engine");
  b.o.direct = atoi(argv[4]);
  b.o.queue_depth = (unsigned)atoi(argv[5]);
  b.x = calloc((size_t)b.n_files, sizeof *b.x);
  for (int f = 0; f < b.n_files; f++)
    if (bfdi_extents_open_shard(b.paths[f], &b.x[f]) != BFD_OK) return die(b.paths[f]);
  /* One slab per queue entry, with room for O_DIRECT alignment around it. */
  bfdi_pool_opts po = {.slab_bytes = b.block + 8192, .slabs = b.o.queue_depth};
  if (bfdi_pool_create(&po, &b.pool) != BFD_OK) return die("pool");
  b.bufs = calloc(b.o.queue_depth, sizeof *b.bufs);
  for (unsigned k = 0; k < b.o.queue_depth; k++) bfdi_pool_acquire(b.pool, b.block, 0, &b.bufs[k]);
  struct iovec region = bfdi_pool_region(b.pool);
  b.o.buffers = &region;
  b.o.n_buffers = 1;
  double mbps = 0;
  uint64_t reads = 0, fixed = 0;
  int rc = !strcmp(b.mode, "reader") ? run_reader(&b, &mbps, &reads) : run_engine(&b, &mbps, &reads, &fixed);
  if (rc) return rc;
  printf("MB/s %.1f reads %llu registered %llu\n", mbps, (unsigned long long)reads, (unsigned long long)fixed);
  for (unsigned k = 0; k < b.o.queue_depth; k++) bfdi_pool_release(b.pool, &b.bufs[k]);
  bfdi_pool_free(b.pool);
  for (int f = 0; f < b.n_files; f++) bfdi_extents_free(b.x[f]);
  free(b.x);
  free(b.bufs);
  return 0;
}
